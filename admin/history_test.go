package admin_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/internal/agent"
	"github.com/tollgate/tollgate/store"
)

type historyList struct {
	Versions []struct {
		Version    uint64 `json:"version"`
		Author     string `json:"author"`
		Summary    string `json:"summary"`
		RollbackOf uint64 `json:"rollback_of"`
		Changes    []struct {
			Kind, Name, Op string
		} `json:"changes"`
		Config any `json:"config"`
	} `json:"versions"`
}

func TestHistoryAndRollback(t *testing.T) {
	n := startNode(t, func(c *agent.Config) { c.HistoryLimit = 4 })
	v1 := n.seed()
	n.must(201, "POST", "/v1/consumers", `{"username":"bob"}`)
	n.must(200, "PATCH", "/v1/services/users", `{"url":"http://127.0.0.1:9999"}`)
	v3 := n.version()

	var h historyList
	n.must(200, "GET", "/v1/config/history", nil).json(t, &h)
	if len(h.Versions) != 3 || h.Versions[0].Version != v3 || h.Versions[2].Version != v1 {
		t.Fatalf("history = %+v", h)
	}
	latest := h.Versions[0]
	if latest.Summary != "1 changed: ~service users" || latest.Author == "" || latest.Config != nil {
		t.Fatalf("latest entry = %+v", latest)
	}
	if h.Versions[1].Summary != "1 added: +consumer bob" {
		t.Fatalf("v2 summary = %q", h.Versions[1].Summary)
	}

	// Any kept version can be read.
	var ver struct {
		Version uint64
		Config  struct {
			Consumers []struct{ Username string }
		}
	}
	n.must(200, "GET", "/v1/config/versions/"+itoa(v1), nil).json(t, &ver)
	if ver.Version != v1 || len(ver.Config.Consumers) != 1 {
		t.Fatalf("version %d = %+v", v1, ver)
	}

	// A rollback is a new version equal to the old one.
	var rb struct{ Version, RollbackOf uint64 }
	r := n.must(200, "POST", "/v1/config/rollback", `{"version": `+itoa(v1)+`}`)
	r.json(t, &rb)
	if rb.Version != v3+1 || r.header.Get("ETag") != quoted(v3+1) {
		t.Fatalf("rollback answer = %s", r)
	}
	now, then := *n.Store().Current(), mustVersion(t, n, v1)
	now.Version = then.Version
	if !reflect.DeepEqual(&now, then) {
		t.Fatalf("rolled-back config differs from version %d:\n%+v\n%+v", v1, &now, then)
	}
	n.must(200, "GET", "/v1/config/history?limit=1", nil).json(t, &h)
	if len(h.Versions) != 1 || h.Versions[0].RollbackOf != v1 || !strings.HasPrefix(h.Versions[0].Summary, "rollback to version 1: ") {
		t.Fatalf("rollback entry = %+v", h.Versions)
	}

	// The history keeps the last 4 versions.
	n.must(201, "POST", "/v1/consumers", `{"username":"carol"}`)
	n.must(200, "GET", "/v1/config/history", nil).json(t, &h)
	if len(h.Versions) != 4 || h.Versions[3].Version != v1+1 {
		t.Fatalf("trimmed history = %+v", h.Versions)
	}
	n.must(404, "GET", "/v1/config/versions/"+itoa(v1), nil).apiError(t)
	n.must(404, "POST", "/v1/config/rollback", `{"version": `+itoa(v1)+`}`).apiError(t)
}

func mustVersion(t *testing.T, n *node, v uint64) *store.Config {
	t.Helper()
	e, err := n.Store().VersionAt(v)
	if err != nil {
		t.Fatal(err)
	}
	return e.Config
}

func TestHistoryBadInput(t *testing.T) {
	n := startNode(t, nil)
	v := n.seed()
	cases := []struct {
		method, path, body string
		status             int
		field              string
	}{
		{"GET", "/v1/config/versions/abc", "", 400, ""},
		{"GET", "/v1/config/versions/99", "", 404, ""},
		{"GET", "/v1/config/history?limit=-1", "", 400, ""},
		{"POST", "/v1/config/rollback", `{"version":"one"}`, 400, "version"},
		{"POST", "/v1/config/rollback", `{"versoin":1}`, 400, "versoin"},
		{"POST", "/v1/config/rollback", `{}`, 400, "version"},
		{"POST", "/v1/config/rollback", `{"version":1`, 400, ""},
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
		t.Fatal("bad input changed the version")
	}
}
