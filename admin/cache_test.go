package admin_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/waitfor"
)

// TestCachePurgeReachesEveryNode: each node caches on its own; a purge
// through one node's admin API empties every node's cache, and route
// match shows the cache plugin in the route's chain.
func TestCachePurgeReachesEveryNode(t *testing.T) {
	var calls atomic.Int64
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Cache-Control", "max-age=300")
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"ok":true}`)
	}))
	defer up.Close()
	nodes := startCluster(t, 3)
	doc := fmt.Sprintf(`{"services":[{"name":"api","url":%q}],
		"routes":[{"name":"items","service":"api","paths":["/items"]}],
		"plugins":[{"name":"cache","route":"items"}]}`, up.URL)
	leader := leaderOf(nodes)
	leader.putConfig(doc)
	want := leader.version() // the leader applied it before answering
	get := func(n *node, path string) string {
		t.Helper()
		resp, err := http.Get("http://" + n.HTTPAddr() + path)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s: status %d", n.NodeID(), resp.StatusCode)
		}
		return resp.Header.Get("X-Cache")
	}
	for _, n := range nodes {
		waitfor.Condition(t, 5*time.Second, n.NodeID()+" serving the new version", func() bool {
			return n.version() >= want && probe(n.HTTPAddr())
		})
	}
	before := calls.Load()
	for _, n := range nodes {
		if got := get(n, "/items"); got != "MISS" {
			t.Fatalf("%s first GET: X-Cache %q, want MISS", n.NodeID(), got)
		}
		if got := get(n, "/items"); got != "HIT" {
			t.Fatalf("%s second GET: X-Cache %q, want HIT", n.NodeID(), got)
		}
	}
	if c := calls.Load() - before; c != 3 {
		t.Fatalf("upstream saw %d calls, want one per node", c)
	}

	var out struct {
		Purged   int  `json:"purged"`
		Complete bool `json:"complete"`
		Nodes    []struct {
			Node   string `json:"node"`
			Purged int    `json:"purged"`
			Error  string `json:"error"`
		} `json:"nodes"`
	}
	followerOf(nodes).must(200, "POST", "/v1/cache/purge?route=items&key=/items", nil).json(t, &out)
	if !out.Complete || out.Purged != 3 || len(out.Nodes) != 3 {
		t.Fatalf("purge answer %+v, want 3 nodes with one key each", out)
	}
	for _, n := range nodes {
		if got := get(n, "/items"); got != "MISS" {
			t.Errorf("%s after the purge: X-Cache %q, want MISS", n.NodeID(), got)
		}
	}

	var match struct {
		Route   string `json:"route"`
		Plugins []struct {
			Name, Scope string
		} `json:"plugins"`
	}
	nodes[2].must(200, "GET", "/v1/routes/match?method=GET&path=/items", nil).json(t, &match)
	if match.Route != "items" || len(match.Plugins) != 1 || match.Plugins[0].Name != "cache" || match.Plugins[0].Scope != "route" {
		t.Fatalf("route match %+v, want route items with the cache plugin", match)
	}
}

// probe reports whether the data plane at addr routes /items/ready (a
// key of its own, so the test's cache counts are not disturbed).
func probe(addr string) bool {
	resp, err := http.Get("http://" + addr + "/items/ready")
	if err != nil {
		return false
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}
