package agent

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/waitfor"
)

// testCluster is an in-process N-node cluster on loopback port 0.
type testCluster struct {
	t      *testing.T
	agents []*Agent
}

func testLogger(t *testing.T) *slog.Logger {
	if os.Getenv("TOLLGATE_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, nil)).With("test", t.Name())
	}
	return slog.New(slog.DiscardHandler)
}

func nodeConfig(t *testing.T, id string, join []string, expect int) Config {
	return Config{
		NodeID: id, DataDir: t.TempDir(), HTTPAddr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0",
		RaftAddr: "127.0.0.1:0", GossipAddr: "127.0.0.1:0", Join: join, BootstrapExpect: expect,
		ApplyTimeout: 3 * time.Second, HeartbeatTimeout: 300 * time.Millisecond,
		ElectionTimeout: 300 * time.Millisecond, GossipInterval: 200 * time.Millisecond,
		Logger: testLogger(t),
	}
}

// newTestCluster starts n agents; each later one joins the earlier ones.
func newTestCluster(t *testing.T, n int) *testCluster {
	tc := &testCluster{t: t}
	var join []string
	for i := 0; i < n; i++ {
		a, err := Start(nodeConfig(t, fmt.Sprintf("node%d", i+1), join, n))
		if err != nil {
			t.Fatalf("start node%d: %v", i+1, err)
		}
		t.Cleanup(func() { a.Stop() })
		tc.agents = append(tc.agents, a)
		join = append(join, a.GossipAddr())
	}
	// The first node had nobody to join; it learns of the others when
	// they join it.
	waitfor.Condition(t, 10*time.Second, "a leader", func() bool { return tc.leader() != nil })
	return tc
}

func (tc *testCluster) leader() *Agent {
	for _, a := range tc.agents {
		if a.Node().IsLeader() {
			return a
		}
	}
	return nil
}

func (tc *testCluster) follower() *Agent {
	for _, a := range tc.agents {
		if !a.Node().IsLeader() {
			return a
		}
	}
	return nil
}

// putConfig PUTs a document to an admin API.
func putConfig(t *testing.T, adminAddr, contentType, body string, header map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, "http://"+adminAddr+"/v1/config", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func getJSON(t *testing.T, url string, v any) *http.Response {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("decode %s: %v", url, err)
	}
	return resp
}

func upstream(t *testing.T, name string) *httptest.Server {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s", name, r.URL.Path)
	}))
	t.Cleanup(s.Close)
	return s
}

func configYAML(upstreamURL, path string) string {
	return fmt.Sprintf(`services:
  - name: orders
    url: %s
routes:
  - name: orders
    service: orders
    paths: [%s]
    methods: [GET, POST]
`, upstreamURL, path)
}

func TestInProcessClusterConfigThroughFollower(t *testing.T) {
	tc := newTestCluster(t, 3)
	up := upstream(t, "orders-v1")
	f := tc.follower()
	resp, body := putConfig(t, f.AdminAddr(), "application/yaml", configYAML(up.URL, "/v1/orders"), nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT via follower: %d %s", resp.StatusCode, body)
	}
	if resp.Header.Get("ETag") != `"1"` {
		t.Fatalf("ETag = %q", resp.Header.Get("ETag"))
	}
	// The follower answered after applying locally: its data plane routes now.
	assertRoutes(t, f, "/v1/orders/7", "orders-v1 /v1/orders/7")
	for _, a := range tc.agents {
		waitfor.Condition(t, time.Second, "data plane at version 1", func() bool { return a.gateway.Version() == 1 })
		assertRoutes(t, a, "/v1/orders/7", "orders-v1 /v1/orders/7")
	}
	waitfor.Condition(t, 5*time.Second, "every member reports version 1", func() bool {
		for _, a := range tc.agents {
			var st struct {
				LeaderID string `json:"leader_id"`
				Members  []struct {
					ID            string `json:"id"`
					Suffrage      string `json:"suffrage"`
					ConfigVersion uint64 `json:"config_version"`
				} `json:"members"`
			}
			getJSON(t, "http://"+a.AdminAddr()+"/v1/cluster", &st)
			if len(st.Members) != 3 || st.LeaderID == "" {
				return false
			}
			for _, m := range st.Members {
				if m.ConfigVersion != 1 || m.Suffrage != "voter" {
					return false
				}
			}
		}
		return true
	})
}

func assertRoutes(t *testing.T, a *Agent, path, want string) {
	t.Helper()
	resp, err := http.Get("http://" + a.HTTPAddr() + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || string(b) != want {
		t.Fatalf("%s %s: %d %q, want 200 %q", a.NodeID(), path, resp.StatusCode, b, want)
	}
	if resp.Header.Get("X-Request-Id") == "" {
		t.Fatalf("no X-Request-Id on the response")
	}
}

func TestBadInputChangesNothing(t *testing.T) {
	tc := newTestCluster(t, 3)
	up := upstream(t, "u")
	a := tc.follower()
	if resp, body := putConfig(t, a.AdminAddr(), "application/yaml", configYAML(up.URL, "/a"), nil); resp.StatusCode != 200 {
		t.Fatalf("seed: %d %s", resp.StatusCode, body)
	}
	// The write is acknowledged once committed; followers apply it soon after.
	waitfor.Condition(t, 5*time.Second, "every node at version 1", func() bool {
		for _, n := range tc.agents {
			if n.Store().Current().Version != 1 {
				return false
			}
		}
		return true
	})
	cases := []struct {
		name, ct, body string
		header         map[string]string
		status         int
		wantInBody     string
	}{
		{"malformed yaml", "application/yaml", "services: [\n  - name: x\n url", nil, 400, "malformed YAML"},
		{"malformed json", "application/json", `{"services": [`, nil, 400, "malformed JSON"},
		{"unknown service", "application/yaml", strings.Replace(configYAML(up.URL, "/a"), "service: orders", "service: x", 1), nil, 400, `routes[0].service`},
		{"duplicate names", "application/json", fmt.Sprintf(`{"services":[{"name":"s","url":%q},{"name":"s","url":%q}]}`, up.URL, up.URL), nil, 400, `services[1].name`},
		{"unknown field", "application/json", `{"routes":[{"name":"r","service":"s","pathz":["/"]}]}`, nil, 400, `routes[0].pathz`},
		{"wrong type", "application/json", `{"routes":[{"name":"r","service":"s","paths":"/"}]}`, nil, 400, `routes[0].paths`},
		{"stale if-match", "application/yaml", configYAML(up.URL, "/b"), map[string]string{"If-Match": `"0"`}, 412, "version"},
		{"bad if-match", "application/yaml", configYAML(up.URL, "/b"), map[string]string{"If-Match": `abc`}, 400, "If-Match"},
		{"unsupported type", "text/plain", configYAML(up.URL, "/b"), nil, 415, "Content-Type"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, body := putConfig(t, a.AdminAddr(), c.ct, c.body, c.header)
			if resp.StatusCode != c.status || !bytes.Contains(body, []byte(c.wantInBody)) {
				t.Fatalf("got %d %s, want %d containing %q", resp.StatusCode, body, c.status, c.wantInBody)
			}
			var e struct {
				Error struct{ Code, Message, RequestID string }
			}
			if err := json.Unmarshal(body, &e); err != nil || e.Error.Code == "" {
				t.Fatalf("not a JSON error: %s", body)
			}
		})
	}
	for _, n := range tc.agents {
		if v := n.Store().Current().Version; v != 1 {
			t.Fatalf("%s at version %d after rejected writes, want 1", n.NodeID(), v)
		}
	}
	// A matching If-Match applies.
	if resp, body := putConfig(t, a.AdminAddr(), "application/yaml", configYAML(up.URL, "/b"), map[string]string{"If-Match": `"1"`}); resp.StatusCode != 200 {
		t.Fatalf("CAS write: %d %s", resp.StatusCode, body)
	}
}

func TestRestartServesStoredConfigBeforeQuorum(t *testing.T) {
	up := upstream(t, "solo")
	cfg := nodeConfig(t, "solo", nil, 1)
	a, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	waitfor.Condition(t, 5*time.Second, "leader", func() bool { return a.Node().IsLeader() })
	if resp, body := putConfig(t, a.AdminAddr(), "application/yaml", configYAML(up.URL, "/v1/orders"), nil); resp.StatusCode != 200 {
		t.Fatalf("PUT: %d %s", resp.StatusCode, body)
	}
	a.Stop()
	// Restart expecting peers that never come: there is no quorum, yet
	// the data plane serves the stored config at once.
	cfg.Join, cfg.BootstrapExpect = []string{"127.0.0.1:1"}, 3
	b, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Stop()
	if v := b.gateway.Version(); v != 1 {
		t.Fatalf("restarted data plane at version %d, want 1", v)
	}
	assertRoutes(t, b, "/v1/orders", "solo /v1/orders")
}
