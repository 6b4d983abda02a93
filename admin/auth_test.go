package admin_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/agent"
	"github.com/tollgate/tollgate/internal/waitfor"
)

const bootToken = "boot-token-0123456789-abcdefghij"

// startWithToken starts a node with --admin-token and waits until the
// token is in the replicated config.
func startWithToken(t *testing.T, edit func(*agent.Config)) *node {
	n := startNode(t, func(c *agent.Config) {
		c.AdminToken = bootToken
		if edit != nil {
			edit(c)
		}
	})
	waitfor.Condition(t, 10*time.Second, "the first admin token applied", func() bool {
		return len(n.Store().Current().AdminTokens) == 1
	})
	return n
}

func TestAuthRequiresAToken(t *testing.T) {
	n := startWithToken(t, nil)
	for _, p := range []string{"/v1/config", "/v1/cluster", "/v1/services", "/v1/config/history", "/v1/tokens", "/v1/nope"} {
		r := n.must(401, "GET", p, nil)
		if r.apiError(t).Error.Code != "unauthorized" || !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
			t.Fatalf("GET %s without a token: %s %v", p, r, r.header)
		}
	}
	n.must(401, "PUT", "/v1/config", baseDoc).apiError(t)
	n.must(401, "GET", "/v1/config", nil, "Authorization", "Bearer wrong-token").apiError(t)
	n.must(401, "GET", "/v1/config", nil, "Authorization", "Basic "+bootToken).apiError(t)
	n.must(200, "GET", "/v1/healthz", nil)
	n.must(200, "GET", "/v1/readyz", nil) // the token write made version 1
	if n.version() != 1 {
		t.Fatalf("version %d: rejected writes applied", n.version())
	}
}

func TestAuthRolesAndAudit(t *testing.T) {
	n := startWithToken(t, nil)
	n.token = bootToken
	n.seed()

	var created struct{ Name, Role, Token string }
	n.must(201, "POST", "/v1/tokens", `{"name":"ci","role":"read"}`).json(t, &created)
	if created.Name != "ci" || created.Role != "read" || len(created.Token) < 40 {
		t.Fatalf("created token = %+v", created)
	}
	var toks struct{ Tokens []map[string]any }
	r := n.must(200, "GET", "/v1/tokens", nil)
	r.json(t, &toks)
	if len(toks.Tokens) != 2 || strings.Contains(string(r.body), "sha256") {
		t.Fatalf("token list: %s", r.body)
	}
	for _, p := range []string{"/v1/config", "/v1/config/history", "/v1/config/versions/3"} {
		if b := string(n.must(200, "GET", p, nil).body); strings.Contains(b, "sha256") || strings.Contains(b, "admin_tokens") {
			t.Fatalf("GET %s shows token hashes: %s", p, b)
		}
	}

	// A read token reads and diffs, but every write is 403.
	reader := *n
	reader.token = created.Token
	reader.must(200, "GET", "/v1/config", nil)
	reader.must(200, "GET", "/v1/cluster", nil)
	reader.must(200, "POST", "/v1/config/diff", baseDoc)
	v := n.version()
	for _, w := range []struct{ method, path, body string }{
		{"PUT", "/v1/config", baseDoc},
		{"POST", "/v1/services", `{"name":"x","url":"http://127.0.0.1:1"}`},
		{"PATCH", "/v1/routes/orders", `{"strip_path":true}`},
		{"DELETE", "/v1/consumers/alice", ""},
		{"POST", "/v1/config/rollback", `{"version":2}`},
		{"DELETE", "/v1/cluster/members/solo", ""},
		{"GET", "/v1/tokens", ""},
		{"POST", "/v1/tokens", `{"name":"mine","role":"admin"}`},
	} {
		var body any
		if w.body != "" {
			body = w.body
		}
		r := reader.must(403, w.method, w.path, body)
		if r.apiError(t).Error.Code != "forbidden" {
			t.Fatalf("%s %s: %s", w.method, w.path, r.body)
		}
	}
	if n.version() != v {
		t.Fatalf("read-token writes changed the version")
	}

	// The history records who changed what.
	n.must(201, "POST", "/v1/consumers", `{"username":"bob"}`)
	var h historyList
	n.must(200, "GET", "/v1/config/history", nil).json(t, &h)
	authors := []string{}
	for _, e := range h.Versions {
		authors = append(authors, e.Author)
	}
	if got := strings.Join(authors, ","); got != "admin,admin,admin,admin" {
		t.Fatalf("authors newest first = %s", got)
	}
	if h.Versions[1].Summary != "1 added: +admin_token ci" {
		t.Fatalf("token creation summary = %q", h.Versions[1].Summary)
	}

	// A rollback does not bring back revoked tokens or drop new ones.
	n.must(204, "DELETE", "/v1/tokens/ci", nil)
	reader.must(401, "GET", "/v1/config", nil)
	n.must(200, "POST", "/v1/config/rollback", `{"version":3}`)
	reader.must(401, "GET", "/v1/config", nil)
	n.must(200, "GET", "/v1/config", nil)
}

func TestTokenEndpointsBadInput(t *testing.T) {
	n := startWithToken(t, nil)
	n.token = bootToken
	v := n.version()
	cases := []struct {
		method, path, body string
		status             int
		field              string
	}{
		{"POST", "/v1/tokens", `{"name":"x","role":"root"}`, 400, "role"},
		{"POST", "/v1/tokens", `{"role":"read"}`, 400, "name"},
		{"POST", "/v1/tokens", `{"name":"x","role":"read","token":"short"}`, 400, "token"},
		{"POST", "/v1/tokens", `{"name":"x","role":"read","hash":"sha256:00"}`, 400, "hash"},
		{"POST", "/v1/tokens", `{"name":"admin","role":"read"}`, 409, ""},
		{"DELETE", "/v1/tokens/nope", ``, 404, ""},
		{"DELETE", "/v1/tokens/admin", ``, 409, ""},
	}
	for _, c := range cases {
		var body any
		if c.body != "" {
			body = c.body
		}
		r := n.do(c.method, c.path, body)
		if r.status != c.status {
			t.Fatalf("%s %s %s: got %s, want %d", c.method, c.path, c.body, r, c.status)
		}
		e := r.apiError(t)
		if c.field != "" && (len(e.Error.Fields) == 0 || e.Error.Fields[0].Path != c.field) {
			t.Fatalf("%s: fields %+v, want %q", c.body, e.Error.Fields, c.field)
		}
	}
	if n.version() != v {
		t.Fatal("bad token requests changed the version")
	}
}

func TestNonLoopbackAdminWithoutTokensIsClosed(t *testing.T) {
	n := startNode(t, func(c *agent.Config) { c.AdminAddr = "0.0.0.0:0" })
	r := n.must(401, "GET", "/v1/config", nil)
	if !strings.Contains(r.apiError(t).Error.Message, "--admin-token") {
		t.Fatalf("401 does not say how to fix it: %s", r.body)
	}
	n.must(401, "PUT", "/v1/config", baseDoc)
	n.must(200, "GET", "/v1/healthz", nil)
}

func TestFirstAdminTokenTravelsWithTheSeed(t *testing.T) {
	seed := filepath.Join(t.TempDir(), "seed.json")
	if err := os.WriteFile(seed, []byte(baseDoc), 0o600); err != nil {
		t.Fatal(err)
	}
	n := startWithToken(t, func(c *agent.Config) { c.SeedConfig = seed })
	cur := n.Store().Current()
	if cur.Version != 1 || len(cur.Services) != 2 || cur.AdminTokens[0].Name != "admin" {
		t.Fatalf("first version = %+v", cur)
	}
	n.token = bootToken
	var h historyList
	n.must(200, "GET", "/v1/config/history", nil).json(t, &h)
	if len(h.Versions) != 1 || h.Versions[0].Author != "seed:seed.json" {
		t.Fatalf("history = %+v", h.Versions)
	}
}

// On an open loopback node the first token created closes the API; it
// must be an admin token, or nobody could manage the cluster.
func TestFirstTokenClosesAnOpenNode(t *testing.T) {
	n := startNode(t, nil)
	n.must(200, "GET", "/v1/config", nil)
	r := n.must(400, "POST", "/v1/tokens", `{"name":"ro","role":"read"}`)
	if e := r.apiError(t); len(e.Error.Fields) == 0 || e.Error.Fields[0].Path != "role" {
		t.Fatalf("first read token: %s", r.body)
	}
	var tok struct{ Token string }
	n.must(201, "POST", "/v1/tokens", `{"name":"ops","role":"admin"}`).json(t, &tok)
	n.must(401, "GET", "/v1/config", nil).apiError(t)
	n.token = tok.Token
	n.must(200, "GET", "/v1/config", nil)
	var h historyList
	n.must(200, "GET", "/v1/config/history", nil).json(t, &h)
	if !strings.HasPrefix(h.Versions[0].Author, "admin@127.0.0.1:") {
		t.Fatalf("author of a change on an open node = %q", h.Versions[0].Author)
	}
}
