package dataplane

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tollgate/tollgate/store"
)

// hostOf returns the host:port of an httptest URL.
func hostOf(url string) string { return strings.TrimPrefix(url, "http://") }

// targetsConfig is one service with the given targets and one catch-all
// route to it.
func targetsConfig(svc store.Service, targets ...store.Target) *store.Config {
	svc.Name = "svc"
	svc.Targets = targets
	return &store.Config{
		Version:  1,
		Services: []store.Service{svc},
		Routes:   []store.Route{{Name: "route", Service: "svc"}},
	}
}

// fetchAll sends n GETs from workers goroutines and counts the bodies.
func fetchAll(t *testing.T, gw *testGateway, n, workers int, hdr ...string) map[string]int {
	t.Helper()
	var mu sync.Mutex
	counts := map[string]int{}
	jobs := make(chan int)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range jobs {
				req, _ := http.NewRequest("GET", gw.url+"/", nil)
				for i := 0; i+1 < len(hdr); i += 2 {
					req.Header.Set(hdr[i], hdr[i+1])
				}
				code, body, err := doFetch(gw.client, req)
				if err != nil || code != 200 {
					errs <- fmt.Errorf("%d %q %v", code, body, err)
					return
				}
				mu.Lock()
				counts[body]++
				mu.Unlock()
			}
		})
	}
	for i := range n {
		select {
		case jobs <- i:
		case err := <-errs:
			close(jobs)
			wg.Wait()
			t.Fatal(err)
		}
	}
	close(jobs)
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	return counts
}

func doFetch(c *http.Client, req *http.Request) (int, string, error) {
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

func TestCanarySplit(t *testing.T) {
	stable, canary := newNamed(t, "stable"), newNamed(t, "canary")
	cfg := targetsConfig(store.Service{},
		store.Target{Target: hostOf(stable.URL), Weight: weight(95)},
		store.Target{Target: "http://" + hostOf(canary.URL), Weight: weight(5)})
	gw := startGateway(t, cfg, Options{})
	const n = 10000
	counts := fetchAll(t, gw, n, 8)
	share := float64(counts["canary"]) / n
	if counts["stable"]+counts["canary"] != n || share < 0.04 || share > 0.06 {
		t.Errorf("split %v: canary share %.4f, want 0.05 ± 0.01", counts, share)
	}
}

// TestConsistentHashThroughGateway sends each key's requests through the
// real listener, for each hash source: every key must stick to one
// target, and the keys must spread over more than one. The client-IP
// source gets its keys from clients bound to different loopback
// addresses.
func TestConsistentHashThroughGateway(t *testing.T) {
	tests := []struct {
		name string
		svc  store.Service
		// fetch sends n requests carrying key i and counts the answers.
		fetch func(t *testing.T, gw *testGateway, i int) map[string]int
	}{
		{"header", store.Service{HashOn: "header", HashOnHeader: "x-user"}, func(t *testing.T, gw *testGateway, i int) map[string]int {
			return fetchAll(t, gw, 10, 2, "X-User", fmt.Sprintf("user-%d", i))
		}},
		{"cookie", store.Service{HashOn: "cookie", HashOnCookie: "session"}, fetchWithCookie},
		{"client ip", store.Service{HashOn: "ip"}, func(t *testing.T, gw *testGateway, i int) map[string]int {
			if runtime.GOOS != "linux" {
				t.Skip("clients bound to 127.0.0.x need Linux's loopback, which takes all of 127/8")
			}
			return fetchFrom(t, gw, fmt.Sprintf("127.0.0.%d", i+2), 10)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b, c := newNamed(t, "a"), newNamed(t, "b"), newNamed(t, "c")
			tt.svc.Balancer = "consistent-hash"
			cfg := targetsConfig(tt.svc, store.Target{Target: hostOf(a.URL)}, store.Target{Target: hostOf(b.URL)}, store.Target{Target: hostOf(c.URL)})
			gw := startGateway(t, cfg, Options{})
			owners := map[string]bool{}
			for i := range 20 {
				counts := tt.fetch(t, gw, i)
				if len(counts) != 1 {
					t.Fatalf("key %d went to %v, want one target", i, counts)
				}
				for k := range counts {
					owners[k] = true
				}
			}
			if len(owners) < 2 {
				t.Errorf("20 keys all hashed to %v", owners)
			}
		})
	}
}

// fetchWithCookie sends 10 GETs with session cookie i among other
// cookies that change from request to request, and counts the answers:
// only the named cookie may decide the target.
func fetchWithCookie(t *testing.T, gw *testGateway, i int) map[string]int {
	t.Helper()
	counts := map[string]int{}
	for j := range 10 {
		req, _ := http.NewRequest("GET", gw.url+"/", nil)
		req.Header.Set("Cookie", fmt.Sprintf("theme=t%d; session=s-%d; lang=l%d", j, i, j*7))
		code, body, err := doFetch(gw.client, req)
		if err != nil || code != 200 {
			t.Fatalf("session s-%d: %d %q %v", i, code, body, err)
		}
		counts[body]++
	}
	return counts
}

// fetchFrom sends n GETs to gw from a client bound to the loopback
// address ip, on fresh connections, and counts the answers.
func fetchFrom(t *testing.T, gw *testGateway, ip string, n int) map[string]int {
	t.Helper()
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: dialer.DialContext, DisableKeepAlives: true}}
	counts := map[string]int{}
	for range n {
		req, _ := http.NewRequest("GET", gw.url+"/", nil)
		code, body, err := doFetch(client, req)
		if err != nil || code != 200 {
			t.Fatalf("from %s: %d %q %v", ip, code, body, err)
		}
		counts[body]++
	}
	return counts
}

// countingFailer accepts connections, reads one request from each, counts
// it and closes the connection without answering: a target that got the
// request and failed.
func countingFailer(t *testing.T) (addr string, count *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	count = new(atomic.Int64)
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				req, err := http.ReadRequest(bufio.NewReader(conn))
				if err == nil {
					_, _ = io.Copy(io.Discard, req.Body)
					count.Add(1)
				}
			}()
		}
	}()
	return ln.Addr().String(), count
}

func retryConfig(attempts int, targets ...string) *store.Config {
	svc := store.Service{Retry: &store.Retry{MaxAttempts: attempts, Backoff: store.Duration(time.Millisecond)}}
	var ts []store.Target
	for _, t := range targets {
		ts = append(ts, store.Target{Target: t})
	}
	return targetsConfig(svc, ts...)
}

func TestRetriesDoNotDuplicatePOST(t *testing.T) {
	addr, count := countingFailer(t)
	gw := startGateway(t, retryConfig(3, addr), Options{})

	resp, err := gw.client.Post(gw.url+"/orders", "application/json", strings.NewReader(`{"qty":1}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	checkGatewayError(t, resp, body, http.StatusBadGateway, "upstream_unavailable")
	if n := count.Load(); n != 1 {
		t.Errorf("the failing target got the POST %d times, want once", n)
	}

	count.Store(0)
	resp2, body2 := gw.get(t, "/orders")
	checkGatewayError(t, resp2, body2, http.StatusBadGateway, "upstream_unavailable")
	if n := count.Load(); n != 3 {
		t.Errorf("the failing target got the GET %d times, want 3 (idempotent: retried)", n)
	}
	rec := gw.logs.waitLog(t, func(r map[string]slog.Value) bool { return r["method"].String() == "GET" })
	if rec["attempts"].Int64() != 3 {
		t.Errorf("access log attempts = %v, want 3", rec["attempts"])
	}
}

func TestRetryPOSTWhenConnectFails(t *testing.T) {
	var got atomic.Int64
	good := newNamed(t, "good")
	counted := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Add(1)
		good.Config.Handler.ServeHTTP(w, r)
	})
	srv := newServer(t, counted)
	gw := startGateway(t, retryConfig(2, freePort(t), hostOf(srv.URL)), Options{})
	for i := range 6 {
		resp, err := gw.client.Post(gw.url+"/", "text/plain", strings.NewReader("x"))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(body) != "good" {
			t.Fatalf("POST %d: %d %q", i, resp.StatusCode, body)
		}
	}
	if got.Load() != 6 {
		t.Errorf("good target got %d POSTs, want 6", got.Load())
	}
}

func TestReadTimeout(t *testing.T) {
	up := newBlockingUpstream(t, "late")
	cfg := oneRoute(1, up.URL, store.Route{})
	cfg.Services[0].ReadTimeout = store.Duration(50 * time.Millisecond)
	cfg.Services[0].Retry = &store.Retry{MaxAttempts: 2, Backoff: store.Duration(time.Millisecond)}
	gw := startGateway(t, cfg, Options{})

	resp, body := gw.get(t, "/slow")
	checkGatewayError(t, resp, body, http.StatusGatewayTimeout, "upstream_timeout")
	for range 2 { // the GET was tried twice, each abandoned after the read timeout
		recv(t, up.gone, "an attempt to be abandoned")
	}
}

func TestReadTimeoutCutsStalledBody(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "first part ")
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	cfg := oneRoute(1, srv.URL, store.Route{})
	cfg.Services[0].ReadTimeout = store.Duration(50 * time.Millisecond)
	gw := startGateway(t, cfg, Options{})
	resp, err := gw.client.Get(gw.url + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err == nil || string(body) != "first part " {
		t.Errorf("stalled body: %q, %v; want the first part and an error", body, err)
	}
}

func TestCircuitBreaker(t *testing.T) {
	up := newBlockingUpstream(t, "done")
	cfg := oneRoute(1, up.URL, store.Route{})
	cfg.Services[0].MaxConcurrentRequests = 1
	gw := startGateway(t, cfg, Options{})
	first := make(chan string, 1)
	go func() {
		code, body, err := fetch(gw.client, gw.url+"/")
		first <- fmt.Sprint(code, body, err)
	}()
	recv(t, up.arrived, "the first request to reach the upstream")
	resp, body := gw.get(t, "/")
	checkGatewayError(t, resp, body, http.StatusServiceUnavailable, "circuit_open")
	close(up.release)
	if got := recv(t, first, "the first request"); got != "200done<nil>" {
		t.Errorf("first request: %s", got)
	}
	if code, body, err := fetch(gw.client, gw.url+"/"); code != 200 || err != nil {
		t.Errorf("after the first finished: %d %q %v", code, body, err)
	}
}

// newServer starts an httptest server closed at the end of the test.
func newServer(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}
