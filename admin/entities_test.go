package admin_test

import (
	"net/url"
	"strings"
	"testing"
)

// entityCase exercises one kind's endpoints: create, get, list, put,
// patch and delete, each a new version.
type entityCase struct {
	plural, key string
	create      string // POST body
	put         string // PUT body (may omit the key)
	patch       string // merge patch
	check       func(t *testing.T, got map[string]any)
}

func TestEntityEndpointsHappyPath(t *testing.T) {
	n := startNode(t, nil)
	v := n.seed()
	cases := []entityCase{
		{plural: "services", key: "billing",
			create: `{"name":"billing","url":"http://127.0.0.1:9003"}`,
			put:    `{"url":"http://127.0.0.1:9004","timeout":"2s"}`,
			patch:  `{"timeout":null,"connect_timeout":"250ms"}`,
			check: func(t *testing.T, got map[string]any) {
				if got["url"] != "http://127.0.0.1:9004" || got["connect_timeout"] != "250ms" || got["timeout"] != nil {
					t.Fatalf("patched service = %v", got)
				}
			}},
		{plural: "routes", key: "billing",
			create: `{"name":"billing","service":"orders","paths":["/billing"]}`,
			put:    `{"name":"billing","service":"users","paths":["/billing"],"methods":["GET"]}`,
			patch:  `{"methods":["GET","POST"],"strip_path":true}`,
			check: func(t *testing.T, got map[string]any) {
				if got["service"] != "users" || got["strip_path"] != true || len(got["methods"].([]any)) != 2 {
					t.Fatalf("patched route = %v", got)
				}
			}},
		{plural: "consumers", key: "bob",
			create: `{"username":"bob"}`,
			put:    `{"groups":["ops"]}`,
			patch:  `{"groups":["ops","dev"]}`,
			check: func(t *testing.T, got map[string]any) {
				if len(got["groups"].([]any)) != 2 {
					t.Fatalf("patched consumer = %v", got)
				}
			}},
		{plural: "plugins", key: "rate-limit@service:users",
			create: `{"name":"rate-limit","service":"users","config":{"limit":1,"window":"second"}}`,
			put:    `{"name":"rate-limit","service":"users","config":{"limit":2,"window":"second"}}`,
			patch:  `{"config":{"window":"minute"}}`,
			check: func(t *testing.T, got map[string]any) {
				cfg := got["config"].(map[string]any)
				if got["id"] != "rate-limit@service:users" || cfg["window"] != "minute" || cfg["limit"] != float64(2) {
					t.Fatalf("patched plugin = %v", got)
				}
			}},
	}
	for _, c := range cases {
		t.Run(c.plural, func(t *testing.T) {
			path := "/v1/" + c.plural + "/" + url.PathEscape(c.key)
			r := n.must(201, "POST", "/v1/"+c.plural, c.create)
			v++
			if r.header.Get("ETag") != quoted(v) || r.header.Get("Location") != path {
				t.Fatalf("create headers: ETag %q Location %q, want %q %q", r.header.Get("ETag"), r.header.Get("Location"), quoted(v), path)
			}
			n.must(200, "GET", path, nil)
			var list map[string][]map[string]any
			n.must(200, "GET", "/v1/"+c.plural, nil).json(t, &list)
			if len(list[c.plural]) == 0 {
				t.Fatalf("list %s is empty", c.plural)
			}
			n.must(200, "PUT", path, c.put)
			v++
			r = n.must(200, "PATCH", path, c.patch, "Content-Type", "application/merge-patch+json")
			v++
			var got map[string]any
			r.json(t, &got)
			c.check(t, got)
			n.must(200, "GET", path, nil).json(t, &got)
			c.check(t, got)
			// PUT of an entity that does not exist creates it.
			n.must(204, "DELETE", path, nil)
			v++
			n.must(404, "GET", path, nil)
			n.must(201, "PUT", path, c.create)
			v++
			n.must(204, "DELETE", path, nil)
			v++
			if n.version() != v {
				t.Fatalf("version %d, want %d: every write is one version", n.version(), v)
			}
		})
	}
}

func TestEntityBadInputChangesNothing(t *testing.T) {
	n := startNode(t, nil)
	v := n.seed()
	big := `{"name":"x","url":"http://a","pad":"` + strings.Repeat("a", 9<<20) + `"}`
	cases := []struct {
		name, method, path, body, ct string
		status                       int
		code, field                  string
	}{
		{"malformed", "POST", "/v1/services", `{"name":`, "", 400, "bad_request", ""},
		{"unknown field", "POST", "/v1/routes", `{"name":"r","service":"orders","pathz":["/"]}`, "", 400, "bad_request", "pathz"},
		{"wrong type", "POST", "/v1/routes", `{"name":"r","service":"orders","paths":"/"}`, "", 400, "bad_request", "paths"},
		{"wrong element type", "POST", "/v1/routes", `{"name":"r","service":"orders","paths":["/",1]}`, "", 400, "bad_request", "paths[1]"},
		{"not an object", "POST", "/v1/consumers", `["bob"]`, "", 400, "bad_request", ""},
		{"missing key", "POST", "/v1/services", `{"url":"http://a"}`, "", 400, "bad_request", "name"},
		{"invalid reference", "POST", "/v1/routes", `{"name":"r","service":"nope"}`, "", 400, "invalid_config", "service"},
		{"invalid value", "PUT", "/v1/services/orders", `{"url":"ftp://x"}`, "", 400, "invalid_config", "url"},
		{"duplicate", "POST", "/v1/services", `{"name":"orders","url":"http://a"}`, "", 409, "conflict", ""},
		{"name mismatch", "PUT", "/v1/services/orders", `{"name":"other","url":"http://a"}`, "", 400, "bad_request", "name"},
		{"rename by patch", "PATCH", "/v1/consumers/alice", `{"username":"eve"}`, "", 400, "bad_request", "username"},
		{"patch wrong type", "PATCH", "/v1/routes/orders", `{"hosts":"x"}`, "", 400, "bad_request", "hosts"},
		{"patch not an object", "PATCH", "/v1/routes/orders", `[1]`, "", 400, "bad_request", ""},
		{"patch missing", "PATCH", "/v1/routes/nope", `{}`, "", 404, "not_found", ""},
		{"delete missing", "DELETE", "/v1/consumers/nope", ``, "", 404, "not_found", ""},
		{"get missing", "GET", "/v1/plugins/nope", ``, "", 404, "not_found", ""},
		{"wrong content type", "POST", "/v1/services", `name=x`, "text/plain", 415, "unsupported_media_type", ""},
		{"patch as yaml", "PATCH", "/v1/routes/orders", `strip_path: true`, "application/yaml", 415, "unsupported_media_type", ""},
		{"oversized", "POST", "/v1/services", big, "", 413, "body_too_large", ""},
		{"bad if-match", "PUT", "/v1/consumers/alice", `{}`, "", 400, "bad_request", ""},
		{"bad dry_run", "DELETE", "/v1/consumers/alice?dry_run=maybe", ``, "", 400, "bad_request", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var headers []string
			if c.ct != "" {
				headers = append(headers, "Content-Type", c.ct)
			}
			if c.name == "bad if-match" {
				headers = append(headers, "If-Match", "seven")
			}
			var body any
			if c.body != "" {
				body = c.body
			}
			r := n.do(c.method, c.path, body, headers...)
			if r.status != c.status {
				t.Fatalf("got %s, want %d", r, c.status)
			}
			e := r.apiError(t)
			if e.Error.Code != c.code {
				t.Fatalf("code %q, want %q: %s", e.Error.Code, c.code, r.body)
			}
			if c.field != "" && (len(e.Error.Fields) == 0 || e.Error.Fields[0].Path != c.field) {
				t.Fatalf("fields %+v, want path %q", e.Error.Fields, c.field)
			}
		})
	}
	if n.version() != v {
		t.Fatalf("version %d after rejected writes, want %d", n.version(), v)
	}
}

func TestDeleteReferencedEntityIsRefused(t *testing.T) {
	n := startNode(t, nil)
	v := n.seed()
	r := n.must(409, "DELETE", "/v1/services/orders", nil)
	e := r.apiError(t)
	refs := e.Error.Details["referrers"].(map[string]any)
	if e.Error.Code != "in_use" || refs["routes"].([]any)[0] != "orders" || !strings.Contains(e.Error.Message, "routes orders") {
		t.Fatalf("409 body: %s", r.body)
	}
	r = n.must(409, "DELETE", "/v1/routes/orders", nil)
	if !strings.Contains(string(r.body), "key-auth@route:orders") {
		t.Fatalf("route delete 409 does not name the plugin: %s", r.body)
	}
	if n.version() != v {
		t.Fatalf("refused deletes changed the version")
	}
	// Once nothing refers to them they go.
	n.must(204, "DELETE", "/v1/plugins/key-auth@route:orders", nil)
	n.must(204, "DELETE", "/v1/routes/orders", nil)
	n.must(204, "DELETE", "/v1/services/orders", nil)
}

func TestCertificateKeysAreNeverShown(t *testing.T) {
	n := startNode(t, nil)
	n.seed()
	cert, key := selfSignedPair(t, "api.example.com")
	n.must(201, "POST", "/v1/certificates", map[string]any{"name": "api", "cert": cert, "key": key, "snis": []string{"api.example.com"}})
	// A PUT without the key keeps the stored key.
	n.must(200, "PUT", "/v1/certificates/api", map[string]any{"cert": cert, "snis": []string{"api.example.com", "www.example.com"}})
	n.must(200, "PATCH", "/v1/certificates/api", `{"snis":["api.example.com"]}`)
	if got := n.Store().Current().Certificates[0].Key; got != key {
		t.Fatalf("stored key lost")
	}
	v := n.version()
	for _, p := range []string{"/v1/certificates", "/v1/certificates/api", "/v1/config", "/v1/config?format=yaml",
		"/v1/config/versions/" + itoa(v), "/v1/config/history"} {
		r := n.must(200, "GET", p, nil)
		if strings.Contains(string(r.body), "PRIVATE KEY") || !strings.Contains(string(r.body), "api") {
			t.Fatalf("GET %s shows a private key (or no certificate): %s", p, r.body)
		}
	}
	// A document read back (without keys) applies unchanged.
	doc := n.must(200, "GET", "/v1/config", nil).body
	var d struct{ Changes []any }
	n.must(200, "POST", "/v1/config/diff", doc).json(t, &d)
	if len(d.Changes) != 0 {
		t.Fatalf("diff of the document read back: %+v", d.Changes)
	}
	n.putConfig(string(doc))
	if got := n.Store().Current().Certificates[0].Key; got != key {
		t.Fatalf("PUT of the read-back document lost the key")
	}
}

func TestDryRunAppliesNothing(t *testing.T) {
	n := startNode(t, nil)
	v := n.seed()
	reqs := []struct{ method, path, body string }{
		{"POST", "/v1/services?dry_run=true", `{"name":"b","url":"http://127.0.0.1:1"}`},
		{"PUT", "/v1/routes/orders?dry_run=true", `{"service":"users","paths":["/o"]}`},
		{"PATCH", "/v1/consumers/alice?dry_run=true", `{"groups":["g"]}`},
		{"DELETE", "/v1/plugins/key-auth@route:orders?dry_run=true", ``},
		{"PUT", "/v1/config?dry_run=true", `{"services":[{"name":"s","url":"http://127.0.0.1:1"}]}`},
		{"POST", "/v1/config/rollback?dry_run=true", `{"version":1}`},
		{"POST", "/v1/tokens?dry_run=true", `{"name":"t","role":"admin"}`},
	}
	for _, q := range reqs {
		var body any
		if q.body != "" {
			body = q.body
		}
		r := n.must(200, q.method, q.path, body)
		var dr struct {
			DryRun  bool   `json:"dry_run"`
			Valid   bool   `json:"valid"`
			Version uint64 `json:"version"`
			Diff    struct {
				Changes []map[string]any `json:"changes"`
			} `json:"diff"`
		}
		r.json(t, &dr)
		if !dr.DryRun || !dr.Valid || dr.Version != v {
			t.Fatalf("%s %s: %s", q.method, q.path, r.body)
		}
		if q.method != "POST" || !strings.Contains(q.path, "rollback") {
			if len(dr.Diff.Changes) == 0 {
				t.Fatalf("%s %s: dry run shows no changes: %s", q.method, q.path, r.body)
			}
		}
	}
	// A dry run still validates.
	r := n.must(400, "POST", "/v1/routes?dry_run=true", `{"name":"x","service":"nope"}`)
	r.apiError(t)
	if n.version() != v {
		t.Fatalf("dry runs changed the version to %d", n.version())
	}
}

func TestRoutesMatchWithoutMatcherIs501(t *testing.T) {
	n := startNode(t, nil)
	r := n.do("GET", "/v1/routes/match?method=GET&host=a&path=/x", nil)
	if r.status != 501 && r.status != 200 {
		t.Fatalf("route match: %s", r)
	}
	if r.status == 501 && r.apiError(t).Error.Code != "not_implemented" {
		t.Fatalf("501 body: %s", r.body)
	}
}

func TestUnknownPathsAndMethods(t *testing.T) {
	n := startNode(t, nil)
	r := n.must(404, "GET", "/v1/nope", nil)
	r.apiError(t)
	r = n.must(405, "DELETE", "/v1/config", nil)
	if r.header.Get("Allow") != "GET, PUT" || r.apiError(t).Error.Code != "method_not_allowed" {
		t.Fatalf("405: %s Allow=%q", r, r.header.Get("Allow"))
	}
}

// API keys are hashed on the way in and never shown; a consumer read
// back (redacted) and written again keeps its key.
func TestConsumerCredentialsAreHashedAndRedacted(t *testing.T) {
	n := startNode(t, nil)
	n.seed()
	const key = "a-plaintext-api-key-0123456789"
	r := n.must(201, "POST", "/v1/consumers", `{"username":"k","credentials":{"key_auth":[{"key_id":"main","key":"`+key+`"}]}}`)
	stored := n.Store().Current().Consumers[1].Credentials.KeyAuth[0]
	if stored.Key != "" || !strings.HasPrefix(stored.KeyHash, "sha256:") {
		t.Fatalf("stored credential = %+v", stored)
	}
	for _, b := range [][]byte{r.body, n.must(200, "GET", "/v1/consumers/k", nil).body, n.must(200, "GET", "/v1/config", nil).body} {
		if strings.Contains(string(b), key) || strings.Contains(string(b), stored.KeyHash) {
			t.Fatalf("a key or its hash is shown: %s", b)
		}
	}
	got := n.must(200, "GET", "/v1/consumers/k", nil).body
	n.must(200, "PUT", "/v1/consumers/k", string(got))
	doc := n.must(200, "GET", "/v1/config", nil).body
	n.putConfig(string(doc))
	if h := n.Store().Current().Consumers[1].Credentials.KeyAuth[0].KeyHash; h != stored.KeyHash {
		t.Fatalf("key hash after writing the redacted consumer back = %q", h)
	}
}
