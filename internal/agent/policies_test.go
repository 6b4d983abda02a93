package agent

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/waitfor"
	"github.com/tollgate/tollgate/store"
)

// policyDoc: a key-auth + cluster-wide rate-limited route, and an open
// route without auth.
func policyDoc(upstreamURL string, limit int) string {
	return fmt.Sprintf(`services:
  - name: orders
    url: %s
routes:
  - name: orders
    service: orders
    paths: [/orders]
  - name: open
    service: orders
    paths: [/open]
consumers:
  - username: alice
    credentials:
      key_auth: [{key_id: main, key_hash: %q}]
plugins:
  - name: key-auth
    route: orders
  - name: rate-limit
    route: orders
    config: {limit: %d, window: hour, key: [consumer]}
`, upstreamURL, store.HashAPIKey("alice-secret-key"), limit)
}

func get(t *testing.T, a *Agent, path string, header map[string]string) (int, http.Header, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+a.HTTPAddr()+path, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func TestAuthAndClusterWideRateLimit(t *testing.T) {
	tc := newTestCluster(t, 3)
	echo := upstreamEchoingIdentity(t)
	const limit = 5
	if resp, body := putConfig(t, tc.follower().AdminAddr(), "application/yaml", policyDoc(echo, limit), nil); resp.StatusCode != 200 {
		t.Fatalf("PUT: %d %s", resp.StatusCode, body)
	}
	for _, a := range tc.agents {
		waitfor.Condition(t, 2*time.Second, "config applied", func() bool { return a.gateway.Version() >= 1 })
	}
	n1, n2 := tc.agents[0], tc.agents[1]
	key := map[string]string{"apikey": "alice-secret-key"}

	if code, h, _ := get(t, n1, "/orders", nil); code != 401 || h.Get("X-Tollgate-Error") == "" {
		t.Fatalf("no key: %d %v", code, h)
	}
	for i := 0; i < limit; i++ {
		code, h, body := get(t, n1, "/orders", key)
		if code != 200 || !strings.Contains(body, "consumer=alice") {
			t.Fatalf("request %d: %d %s", i, code, body)
		}
		if h.Get("RateLimit-Limit") != fmt.Sprint(limit) {
			t.Fatalf("RateLimit-Limit = %q", h.Get("RateLimit-Limit"))
		}
	}
	code, h, _ := get(t, n1, "/orders", key)
	if code != http.StatusTooManyRequests || h.Get("Retry-After") == "" {
		t.Fatalf("over the limit on the same node: %d %v", code, h)
	}
	// Another node learns alice's count by gossip (every 25 ms) and
	// refuses her too. Before the first report arrives it may admit a
	// few; without gossip it would admit all 5 of its own.
	extra := 0
	waitfor.Condition(t, 3*time.Second, "node2 refuses alice", func() bool {
		code, _, _ := get(t, n2, "/orders", key)
		if code == 200 {
			extra++
		}
		return code == http.StatusTooManyRequests
	})
	if extra > 3 {
		t.Fatalf("node2 admitted %d more requests past a cluster-wide limit of %d", extra, limit)
	}
	// A client cannot forge identity on a route without auth.
	_, _, body := get(t, n2, "/open", map[string]string{"X-Consumer": "mallory", "X-User-Id": "root"})
	if strings.Contains(body, "mallory") || strings.Contains(body, "root") {
		t.Fatalf("forged identity reached the upstream: %s", body)
	}
}

// upstreamEchoingIdentity answers with the identity headers it received.
func upstreamEchoingIdentity(t *testing.T) string {
	s := upstream(t, "")
	s.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "consumer=%s user=%s", r.Header.Get("X-Consumer"), r.Header.Get("X-User-Id"))
	})
	return s.URL
}
