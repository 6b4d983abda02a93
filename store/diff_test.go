package store

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestDiffIdenticalIsEmpty(t *testing.T) {
	a, b := validConfig("a"), validConfig("a")
	b.Version = 9
	// The same plugin config written differently is no change.
	b.Plugins[0].Config = json.RawMessage(`{ "window": "minute", "limit": 10 }`)
	if d := DiffConfigs(a, b); !d.Empty() || d.Summary() != "no changes" {
		t.Fatalf("diff of equal documents = %+v", d)
	}
}

func TestDiffIsExact(t *testing.T) {
	from := validConfig("a")
	from.Version = 4
	to := from.Clone()
	to.Services[0].URL = "http://127.0.0.1:9002"                   // changed field
	to.Services[1].Timeout = Duration(3 * time.Second)             // added field
	to.Routes[1].Hosts = append(to.Routes[1].Hosts, "x.io")        // list grows
	to.Routes[0].Methods[0] = "POST"                               // list element
	to.Consumers = append(to.Consumers, Consumer{Username: "bob"}) // added
	to.Plugins = to.Plugins[:1]                                    // key-auth removed
	to.Plugins[0].Config = json.RawMessage(`{"limit":20,"window":"minute"}`)
	to.AdminTokens = []AdminToken{{Name: "ci", Role: RoleRead, Hash: HashToken("t")}}

	got := DiffConfigs(from, to)
	want := []Change{
		{Kind: KindService, Name: "orders", Op: OpChanged, Fields: []FieldChange{{Path: "timeout", New: "3s"}}},
		{Kind: KindService, Name: "users", Op: OpChanged, Fields: []FieldChange{{Path: "url", Old: "http://127.0.0.1:9001", New: "http://127.0.0.1:9002"}}},
		{Kind: KindRoute, Name: "orders", Op: OpChanged, Fields: []FieldChange{{Path: "hosts", Old: []any{"*.example.com"}, New: []any{"*.example.com", "x.io"}}}},
		{Kind: KindRoute, Name: "users-a", Op: OpChanged, Fields: []FieldChange{{Path: "methods[0]", Old: "GET", New: "POST"}}},
		{Kind: KindConsumer, Name: "bob", Op: OpAdded, New: map[string]any{"username": "bob"}},
		{Kind: KindPlugin, Name: "key-auth", Op: OpRemoved, Old: map[string]any{"name": "key-auth"}},
		{Kind: KindPlugin, Name: "rate-limit@route:orders", Op: OpChanged, Fields: []FieldChange{{Path: "config.limit", Old: json.Number("10"), New: json.Number("20")}}},
		{Kind: KindAdminToken, Name: "ci", Op: OpAdded, New: map[string]any{"name": "ci", "role": "read", "hash": RedactedValue}},
	}
	if !reflect.DeepEqual(got.Changes, want) {
		gb, _ := json.MarshalIndent(got.Changes, "", " ")
		wb, _ := json.MarshalIndent(want, "", " ")
		t.Fatalf("diff:\n%s\nwant:\n%s", gb, wb)
	}
	if got.FromVersion != 4 || got.Added != 2 || got.Removed != 1 || got.Changed != 5 {
		t.Fatalf("counts = %+v", got)
	}
	wantSummary := "2 added, 5 changed, 1 removed: ~service orders, ~service users, ~route orders, ~route users-a, +consumer bob, -plugin key-auth, ~plugin rate-limit@route:orders, +admin_token ci"
	if s := got.Summary(); s != wantSummary {
		t.Fatalf("summary = %q\nwant      %q", s, wantSummary)
	}
}

func TestDiffReorderAndSecrets(t *testing.T) {
	cert1, key1 := selfSignedPair(t, "a.example.com")
	_, key2 := selfSignedPair(t, "b.example.com")
	from := validConfig("a")
	from.Certificates = []Certificate{{Name: "a", Cert: cert1, Key: key1}}
	to := from.Clone()
	to.Routes[0], to.Routes[1] = to.Routes[1], to.Routes[0]
	to.Certificates[0].Key = key2
	d := DiffConfigs(from, to)
	if len(d.Changes) != 2 {
		t.Fatalf("changes = %+v", d.Changes)
	}
	re := d.Changes[0]
	if re.Kind != KindRoute || re.Op != OpReordered || !reflect.DeepEqual(re.Fields[0].New, []string{"orders", "users-a"}) {
		t.Fatalf("reorder change = %+v", re)
	}
	c := d.Changes[1]
	if c.Op != OpChanged || len(c.Fields) != 1 || c.Fields[0].Path != "key" || c.Fields[0].Old != RedactedValue || c.Fields[0].New != RedactedValue {
		t.Fatalf("certificate change = %+v", c)
	}
	b, _ := json.Marshal(d)
	if strings.Contains(string(b), "PRIVATE KEY") {
		t.Fatalf("diff leaks a private key: %s", b)
	}
}

func TestDiffDuplicatePluginIDsStayDistinct(t *testing.T) {
	from := &Config{Plugins: []Plugin{{Name: "p"}, {Name: "p"}}}
	to := &Config{Plugins: []Plugin{{Name: "p"}}}
	d := DiffConfigs(from, to)
	if len(d.Changes) != 1 || d.Changes[0].Name != "p#2" || d.Changes[0].Op != OpRemoved {
		t.Fatalf("changes = %+v", d.Changes)
	}
}

func TestHistoryRecordsSummaryAndRollback(t *testing.T) {
	s, _ := newStore(t, 0)
	mustApply(t, s, 1, putCmd(validConfig("a"), nil), 1)
	next := validConfig("a")
	next.Consumers = nil
	mustApply(t, s, 2, putCmd(next, nil), 2)
	rb := putCmd(validConfig("a"), nil)
	rb.RollbackOf = 1
	mustApply(t, s, 3, rb, 3)

	h, err := s.HistorySummaries()
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 3 || h[0].Version != 3 || h[2].Version != 1 || h[0].Config != nil {
		t.Fatalf("summaries = %+v", h)
	}
	if h[1].Summary != "1 removed: -consumer alice" || !reflect.DeepEqual(h[1].Changes, []ChangeRef{{KindConsumer, "alice", OpRemoved}}) {
		t.Fatalf("v2 summary = %q %+v", h[1].Summary, h[1].Changes)
	}
	if h[0].RollbackOf != 1 || h[0].Summary != "rollback to version 1: 1 added: +consumer alice" {
		t.Fatalf("v3 = %+v", h[0])
	}
	if h[2].Changes[0] != (ChangeRef{KindService, "orders", OpAdded}) {
		t.Fatalf("v1 changes = %+v", h[2].Changes)
	}
	v, err := s.VersionAt(2)
	if err != nil || v.Config == nil || v.Config.Version != 2 || len(v.Config.Consumers) != 0 {
		t.Fatalf("VersionAt(2) = %+v, %v", v, err)
	}
	if _, err := s.VersionAt(7); !errors.Is(err, ErrVersionNotKept) {
		t.Fatalf("VersionAt(7) err = %v", err)
	}
}

func TestDecodeEntityPaths(t *testing.T) {
	cases := []struct {
		name, ct, body, path string
	}{
		{"unknown field", "application/json", `{"name":"r","pathz":["/"]}`, "pathz"},
		{"wrong type", "application/json", `{"name":"r","paths":"/"}`, "paths"},
		{"wrong element type", "application/json", `{"name":"r","paths":["/", 3]}`, "paths[1]"},
		{"not an object", "application/json", `[1]`, ""},
		{"malformed", "application/json", `{"name":`, ""},
		{"yaml wrong type", "application/yaml", "name: r\nstrip_path: [1]\n", "strip_path"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var r Route
			err := DecodeEntity([]byte(c.body), c.ct, &r)
			ve, ok := err.(*ValidationError)
			if !ok || len(ve.Errors) == 0 || ve.Errors[0].Path != c.path {
				t.Fatalf("err = %v, want a ValidationError at %q", err, c.path)
			}
		})
	}
	var r Route
	if err := DecodeEntity([]byte("name: r\nservice: s\npaths: [/a]\n"), "application/yaml", &r); err != nil || r.Paths[0] != "/a" {
		t.Fatalf("yaml route = %+v, %v", r, err)
	}
}

func TestTokens(t *testing.T) {
	c := &Config{AdminTokens: []AdminToken{{Name: "a", Role: RoleAdmin, Hash: HashToken("secret-a")}, {Name: "r", Role: RoleRead, Hash: HashToken("secret-r")}}}
	if tok := c.FindToken("secret-r"); tok == nil || tok.Name != "r" {
		t.Fatalf("FindToken = %+v", tok)
	}
	if c.FindToken("nope") != nil || c.FindToken("") != nil {
		t.Fatal("FindToken matched a wrong token")
	}
	if err := ValidateTokens(c.AdminTokens); err != nil {
		t.Fatal(err)
	}
	bad := []AdminToken{{Name: "a", Role: "root", Hash: "md5:x"}, {Name: "a", Role: RoleRead, Hash: HashToken("x")}}
	err := ValidateTokens(bad)
	ve, ok := err.(*ValidationError)
	if !ok || len(ve.Errors) != 3 || ve.Errors[0].Path != "admin_tokens[0].role" || ve.Errors[2].Path != "admin_tokens[1].name" {
		t.Fatalf("ValidateTokens(bad) = %v", err)
	}
}

func TestDiffRedactsConsumerCredentials(t *testing.T) {
	h1, h2 := HashAPIKey("first-secret-key"), HashAPIKey("second-secret-key")
	from := &Config{Consumers: []Consumer{{Username: "a", Credentials: ConsumerCredentials{
		KeyAuth: []KeyAuthCredential{{KeyID: "main", KeyHash: h1}}}}}}
	to := &Config{Consumers: []Consumer{
		{Username: "a", Credentials: ConsumerCredentials{KeyAuth: []KeyAuthCredential{{KeyID: "main", KeyHash: h2}}}},
		{Username: "b", Credentials: ConsumerCredentials{KeyAuth: []KeyAuthCredential{{KeyID: "k", KeyHash: h1}}}},
	}}
	d := DiffConfigs(from, to)
	if len(d.Changes) != 2 {
		t.Fatalf("changes = %+v", d.Changes)
	}
	f := d.Changes[0].Fields
	if len(f) != 1 || f[0].Path != "credentials.key_auth[0].key_hash" || f[0].Old != RedactedValue || f[0].New != RedactedValue {
		t.Fatalf("changed credential = %+v", f)
	}
	b, _ := json.Marshal(d)
	if strings.Contains(string(b), h1[8:20]) || strings.Contains(string(b), h2[8:20]) {
		t.Fatalf("diff shows a key hash: %s", b)
	}
}
