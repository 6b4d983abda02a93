package admin_test

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"
)

func TestConfigDiffIsExact(t *testing.T) {
	n := startNode(t, nil)
	v := n.seed()
	doc := `{
  "services": [
    {"name": "orders", "url": "http://127.0.0.1:9101"},
    {"name": "users", "url": "http://127.0.0.1:9002"}
  ],
  "routes": [
    {"name": "orders", "service": "orders", "paths": ["/orders", "/o"]},
    {"name": "users", "service": "users", "paths": ["/users"], "methods": ["POST"]}
  ],
  "consumers": [{"username": "bob"}],
  "plugins": [{"name": "key-auth", "route": "orders"}]
}`
	r := n.must(200, "POST", "/v1/config/diff", doc)
	if r.header.Get("X-Tollgate-Version") != itoa(v) {
		t.Fatalf("diff X-Tollgate-Version = %q", r.header.Get("X-Tollgate-Version"))
	}
	var got map[string]any
	r.json(t, &got)
	want := map[string]any{
		"from_version": float64(v), "added": float64(1), "removed": float64(1), "changed": float64(3),
		"changes": []any{
			map[string]any{"kind": "service", "name": "orders", "op": "changed",
				"fields": []any{map[string]any{"path": "url", "old": "http://127.0.0.1:9001", "new": "http://127.0.0.1:9101"}}},
			map[string]any{"kind": "route", "name": "orders", "op": "changed",
				"fields": []any{map[string]any{"path": "paths", "old": []any{"/orders"}, "new": []any{"/orders", "/o"}}}},
			map[string]any{"kind": "route", "name": "users", "op": "changed",
				"fields": []any{map[string]any{"path": "methods[0]", "old": "GET", "new": "POST"}}},
			map[string]any{"kind": "consumer", "name": "alice", "op": "removed", "old": map[string]any{"username": "alice"}},
			map[string]any{"kind": "consumer", "name": "bob", "op": "added", "new": map[string]any{"username": "bob"}},
		},
	}
	if gb, wb := mustJSON(t, got), mustJSON(t, want); gb != wb {
		t.Fatalf("diff:\n%s\nwant:\n%s", gb, wb)
	}
	// The diff of the current document is empty; nothing was applied.
	var empty struct{ Changes []any }
	n.must(200, "POST", "/v1/config/diff", baseDoc).json(t, &empty)
	if len(empty.Changes) != 0 || n.version() != v {
		t.Fatalf("diff of the current document: %+v (version %d)", empty.Changes, n.version())
	}
	// YAML bodies work too.
	n.must(200, "POST", "/v1/config/diff", "services: []\n", "Content-Type", "application/yaml")
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.MarshalIndent(v, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestConfigDiffAndPutBadInput(t *testing.T) {
	n := startNode(t, nil)
	v := n.seed()
	cases := []struct {
		name, method, path, body, ct string
		status                       int
		field                        string
	}{
		{"diff malformed", "POST", "/v1/config/diff", `{"services":`, "", 400, ""},
		{"diff unknown field", "POST", "/v1/config/diff", `{"servicez":[]}`, "", 400, "servicez"},
		{"diff wrong type", "POST", "/v1/config/diff", `{"routes":[{"name":"r","service":"orders","paths":"/"}]}`, "", 400, "routes[0].paths"},
		{"diff invalid", "POST", "/v1/config/diff", `{"routes":[{"name":"r","service":"nope"}]}`, "", 400, "routes[0].service"},
		{"diff content type", "POST", "/v1/config/diff", `{}`, "text/plain", 415, ""},
		{"put tokens in document", "PUT", "/v1/config", `{"admin_tokens":[{"name":"x","role":"admin","hash":"sha256:00"}]}`, "", 400, "admin_tokens"},
		{"put wrong type", "PUT", "/v1/config", `{"services":[{"name":1}]}`, "", 400, "services[0].name"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var h []string
			if c.ct != "" {
				h = []string{"Content-Type", c.ct}
			}
			r := n.do(c.method, c.path, c.body, h...)
			if r.status != c.status {
				t.Fatalf("got %s, want %d", r, c.status)
			}
			e := r.apiError(t)
			if c.field != "" && (len(e.Error.Fields) == 0 || e.Error.Fields[0].Path != c.field) {
				t.Fatalf("fields = %+v, want %q", e.Error.Fields, c.field)
			}
		})
	}
	if n.version() != v {
		t.Fatalf("version moved to %d", n.version())
	}
}

// Two writers with the same If-Match: exactly one wins, the other gets 412.
func TestConcurrentIfMatchExactlyOneWins(t *testing.T) {
	n := startNode(t, nil)
	v := n.seed()
	for round := 0; round < 5; round++ {
		var wg sync.WaitGroup
		results := make([]resp, 2)
		bodies := []string{`{"groups":["a"]}`, `{"groups":["b"]}`}
		for i := range results {
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[i] = n.do("PATCH", "/v1/consumers/alice", bodies[i], "If-Match", quoted(v))
			}()
		}
		wg.Wait()
		ok, failed := 0, 0
		for _, r := range results {
			switch r.status {
			case 200:
				ok++
			case 412:
				failed++
				if r.apiError(t).Error.Code != "version_mismatch" {
					t.Fatalf("412 body: %s", r.body)
				}
			default:
				t.Fatalf("unexpected answer %s", r)
			}
		}
		if ok != 1 || failed != 1 {
			t.Fatalf("round %d: %d won, %d failed; want exactly one winner", round, ok, failed)
		}
		v++
		if n.version() != v {
			t.Fatalf("version %d, want %d", n.version(), v)
		}
	}
	// A PUT of the whole document with a stale If-Match is refused too.
	r := n.must(412, "PUT", "/v1/config", baseDoc, "If-Match", quoted(v-1))
	r.apiError(t)
}

// Writers without If-Match that race are retried: every write lands.
func TestConcurrentWritersWithoutIfMatchAllLand(t *testing.T) {
	n := startNode(t, nil)
	v := n.seed()
	const writers = 6
	var wg sync.WaitGroup
	errs := make(chan string, writers)
	for i := 0; i < writers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := n.do("POST", "/v1/consumers", map[string]string{"username": "u" + itoa(uint64(i))})
			if r.status != 201 {
				errs <- r.String()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatalf("concurrent create failed: %s", e)
	}
	if got := n.version(); got != v+writers {
		t.Fatalf("version %d, want %d", got, v+writers)
	}
	if len(n.Store().Current().Consumers) != writers+1 {
		t.Fatalf("consumers = %+v", n.Store().Current().Consumers)
	}
}

func TestGetConfigFormatsAndHeaders(t *testing.T) {
	n := startNode(t, nil)
	v := n.seed()
	r := n.must(200, "GET", "/v1/config?format=yaml", nil)
	if !strings.Contains(string(r.body), "name: orders") || r.header.Get("ETag") != quoted(v) {
		t.Fatalf("yaml config: %s %v", r.body, r.header)
	}
	if r.header.Get("X-Tollgate-Last-Contact") != "0" || r.header.Get("X-Tollgate-Known-Leader") != "true" {
		t.Fatalf("staleness headers on the leader: %v", r.header)
	}
	n.must(400, "GET", "/v1/config?format=xml", nil).apiError(t)
	n.must(400, "GET", "/v1/config?consistent=perhaps", nil).apiError(t)
	r = n.must(200, "GET", "/v1/services?consistent=true", nil)
	if r.header.Get("X-Tollgate-Consistent") != "true" {
		t.Fatalf("consistent read headers: %v", r.header)
	}
}
