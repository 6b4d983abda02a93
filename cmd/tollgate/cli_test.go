package main

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/agent"
	"github.com/tollgate/tollgate/internal/waitfor"
	"github.com/tollgate/tollgate/store"
)

// The CLI tests run the subcommands in-process against a real agent
// (store, Raft, gossip, data plane and admin API on loopback port 0).

const cliToken = "cli-test-token-0123456789abcdef"

func startCLIAgent(t *testing.T) *agent.Agent {
	t.Helper()
	a, err := agent.Start(agent.Config{
		NodeID: "cli", DataDir: t.TempDir(), HTTPAddr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0",
		RaftAddr: "127.0.0.1:0", GossipAddr: "127.0.0.1:0", BootstrapExpect: 1, AdminToken: cliToken,
		ApplyTimeout: 5 * time.Second, HeartbeatTimeout: 300 * time.Millisecond,
		ElectionTimeout: 300 * time.Millisecond, GossipInterval: 200 * time.Millisecond,
		Logger: quietLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Stop() })
	waitfor.Condition(t, 10*time.Second, "the admin token applied", func() bool {
		return len(a.Store().Current().AdminTokens) == 1
	})
	return a
}

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// tg runs a tollgate command line and returns its exit code and output.
func tg(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// tgOK runs a command that must succeed.
func tgOK(t *testing.T, args ...string) string {
	t.Helper()
	code, out, errOut := tg(t, args...)
	if code != 0 {
		t.Fatalf("tollgate %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const cliDoc = `services:
  - name: orders
    url: http://127.0.0.1:9001
routes:
  - name: orders
    service: orders
    paths: [/orders]
    methods: [GET]
consumers:
  - username: alice
`

func TestCLIApplyDiffGetHistoryRollback(t *testing.T) {
	a := startCLIAgent(t)
	t.Setenv("TOLLGATE_ADDR", a.AdminAddr())
	t.Setenv("TOLLGATE_TOKEN", cliToken)
	file := writeFile(t, "config.yaml", cliDoc)

	out := tgOK(t, "apply", "-f", file)
	if !strings.Contains(out, "+ route orders") || !strings.Contains(out, "applied: version 2") {
		t.Fatalf("apply output:\n%s", out)
	}
	if out := tgOK(t, "apply", "-f", file); !strings.Contains(out, "nothing to apply") {
		t.Fatalf("second apply:\n%s", out)
	}
	changed := writeFile(t, "changed.yaml", strings.Replace(cliDoc, "[GET]", "[GET, POST]", 1))
	out = tgOK(t, "diff", "-f", changed)
	if !strings.Contains(out, "~ route orders\n    methods: [\"GET\"] -> [\"GET\",\"POST\"]") || !strings.Contains(out, "0 added, 1 changed, 0 removed") {
		t.Fatalf("diff output:\n%s", out)
	}
	out = tgOK(t, "apply", "-f", changed, "--dry-run")
	if !strings.Contains(out, "dry run") || a.Store().Current().Version != 2 {
		t.Fatalf("dry run applied or said:\n%s", out)
	}
	tgOK(t, "apply", "-f", changed)

	out = tgOK(t, "get", "routes")
	if !strings.Contains(out, "NAME") || !strings.Contains(out, "orders  orders   -      /orders  GET,POST") {
		t.Fatalf("get routes:\n%s", out)
	}
	if out := tgOK(t, "get", "consumer", "alice"); !strings.Contains(out, "alice") {
		t.Fatalf("get consumer alice:\n%s", out)
	}
	if out := tgOK(t, "get", "config"); !strings.Contains(out, "version: 3") || !strings.Contains(out, "name: orders") {
		t.Fatalf("get config:\n%s", out)
	}
	var svcs struct{ Services []store.Service }
	if err := json.Unmarshal([]byte(tgOK(t, "get", "services", "-o", "json", "--consistent")), &svcs); err != nil || svcs.Services[0].Name != "orders" {
		t.Fatalf("get services -o json: %+v %v", svcs, err)
	}
	if out := tgOK(t, "get", "services", "-o", "yaml"); !strings.Contains(out, "- name: orders") {
		t.Fatalf("get services -o yaml:\n%s", out)
	}

	out = tgOK(t, "history")
	if !strings.Contains(out, "VERSION") || !strings.Contains(out, "1 changed: ~route orders") || !strings.Contains(out, "admin") {
		t.Fatalf("history:\n%s", out)
	}
	out = tgOK(t, "rollback", "2")
	if !strings.Contains(out, "now version 4") {
		t.Fatalf("rollback:\n%s", out)
	}
	if m := a.Store().Current().Routes[0].Methods; len(m) != 1 {
		t.Fatalf("rollback left methods %v", m)
	}
	out = tgOK(t, "members", "--addr", a.AdminAddr())
	if !strings.Contains(out, "cli  *       voter") {
		t.Fatalf("members:\n%s", out)
	}
}

func TestCLIExitCodes(t *testing.T) {
	a := startCLIAgent(t)
	addr := a.AdminAddr()
	file := writeFile(t, "config.yaml", cliDoc)
	bad := writeFile(t, "bad.yaml", "routes:\n  - name: r\n    service: nope\n")
	cases := []struct {
		name string
		args []string
		code int
		err  string
	}{
		{"no token", []string{"get", "routes", "--addr", addr}, 1, "401 unauthorized"},
		{"unknown kind", []string{"get", "widgets", "--addr", addr, "--token", cliToken}, 2, "cannot get"},
		{"missing file flag", []string{"apply", "--addr", addr, "--token", cliToken}, 2, "needs -f"},
		{"bad output", []string{"history", "-o", "xml", "--addr", addr, "--token", cliToken}, 2, "-o must be"},
		{"bad version", []string{"rollback", "abc", "--addr", addr, "--token", cliToken}, 2, "not a version"},
		{"extra argument", []string{"members", "x", "--addr", addr, "--token", cliToken}, 2, "members"},
		{"invalid document", []string{"apply", "-f", bad, "--addr", addr, "--token", cliToken}, 1, "routes[0].service"},
		{"stale if-match", []string{"apply", "-f", file, "--if-match", "99", "--addr", addr, "--token", cliToken}, 3, "412"},
		{"rollback unknown", []string{"rollback", "42", "--addr", addr, "--token", cliToken}, 1, "404"},
		{"unreachable", []string{"history", "--addr", "127.0.0.1:1", "--token", cliToken}, 1, "admin API"},
		{"route-match", []string{"route-match", "GET", "example.com", "/orders", "--addr", addr, "--token", cliToken}, -1, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, out, errOut := tg(t, c.args...)
			if c.code == -1 { // 501 without a data-plane matcher, else a table
				if !(code == 1 && strings.Contains(errOut, "501")) && !(code == 0 && strings.Contains(out, "ROUTE")) && !(code == 0 && strings.Contains(out, "no route")) {
					t.Fatalf("route-match: exit %d\n%s%s", code, out, errOut)
				}
				return
			}
			if code != c.code || !strings.Contains(errOut, c.err) {
				t.Fatalf("exit %d (want %d)\nstdout: %s\nstderr: %s (want %q)", code, c.code, out, errOut, c.err)
			}
		})
	}
	if v := a.Store().Current().Version; v != 1 {
		t.Fatalf("failed commands changed the config to version %d", v)
	}
}

func TestCLIConflictExitCode(t *testing.T) {
	a := startCLIAgent(t)
	addr := a.AdminAddr()
	file := writeFile(t, "config.yaml", cliDoc)
	tgOK(t, "apply", "-f", file, "--addr", addr, "--token", cliToken)
	// A 409 (here: removing a member that is alive) is exit code 3 too.
	code, _, errOut := tg(t, "members", "remove", "cli", "--addr", addr, "--token", cliToken)
	if code != 3 || !strings.Contains(errOut, "409") {
		t.Fatalf("members remove of a live node: exit %d: %s", code, errOut)
	}
}
