package cache

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tollgate/tollgate/dataplane"
	"github.com/tollgate/tollgate/internal/fakeclock"
	"github.com/tollgate/tollgate/store"
)

// waitTimeout bounds every wait in these tests.
const waitTimeout = 10 * time.Second

// fakeClock is an injected clock that tests move by hand.
type fakeClock = fakeclock.Clock

func newClock() *fakeClock { return fakeclock.New() }

// upstream is a test origin that counts its requests and stamps Date
// from the fake clock.
type upstream struct {
	*httptest.Server
	calls atomic.Int64
	mu    sync.Mutex
	reqs  []http.Header // the header of every request received
}

func newUpstream(t *testing.T, clock *fakeClock, h http.HandlerFunc) *upstream {
	t.Helper()
	u := &upstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.calls.Add(1)
		u.mu.Lock()
		u.reqs = append(u.reqs, r.Header.Clone())
		u.mu.Unlock()
		w.Header().Set("Date", clock.Now().Format(http.TimeFormat))
		h(w, r)
	}))
	t.Cleanup(u.Close)
	return u
}

// last returns the header of the last request received.
func (u *upstream) last() http.Header {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.reqs[len(u.reqs)-1]
}

// testGateway is a dataplane.Gateway on a loopback listener with one
// route ("route", every path) to an upstream, and a cache policy.
type testGateway struct {
	url      string
	client   *http.Client
	policy   *Policy
	reg      *Registry
	mu       sync.Mutex
	statuses []string // RequestContext.CacheStatus of each request
}

// startGateway builds the cache policy from raw and serves a gateway.
// before, if not nil, runs ahead of the cache (an auth stand-in).
func startGateway(t *testing.T, clock *fakeClock, upstreamURL, raw string, before dataplane.Policy) *testGateway {
	t.Helper()
	cfg, errs := store.ParseCacheConfig(json.RawMessage(raw))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	tg := &testGateway{reg: NewRegistry()}
	tg.reg.now = clock.Now
	tg.policy = New(cfg, "cache@route:route", tg.reg)
	chain := []dataplane.Policy{probe{tg}}
	if before != nil {
		chain = append(chain, before)
	}
	chain = append(chain, tg.policy)
	g := dataplane.New(dataplane.Options{
		Logger:   slog.New(slog.DiscardHandler),
		Policies: func(*store.Config, *store.Route) ([]dataplane.Policy, error) { return chain, nil },
	})
	doc := &store.Config{Version: 1, Services: []store.Service{{Name: "svc", URL: upstreamURL}},
		Routes: []store.Route{{Name: "route", Service: "svc", Paths: []string{"/"}}}}
	if err := g.Update(doc); err != nil {
		t.Fatal(err)
	}
	tg.url = "http://" + serve(t, g)
	tg.client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 128, DisableCompression: true}}
	t.Cleanup(tg.client.CloseIdleConnections)
	return tg
}

// serve runs g on 127.0.0.1:0 until the test ends; it returns the
// address.
func serve(t *testing.T, g *dataplane.Gateway) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- g.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		if err := g.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	return ln.Addr().String()
}

// do sends a request with header name/value pairs and reads the body.
func (tg *testGateway) do(t *testing.T, method, path string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, tg.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := tg.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

// get sends a GET and checks X-Cache; it returns the response and body.
func (tg *testGateway) get(t *testing.T, path, xcache string, hdr ...string) (*http.Response, string) {
	t.Helper()
	resp, body := tg.do(t, http.MethodGet, path, hdr...)
	if got := resp.Header.Get("X-Cache"); got != xcache {
		t.Fatalf("GET %s %v: X-Cache = %q, want %q (status %d, body %q)", path, hdr, got, xcache, resp.StatusCode, body)
	}
	return resp, body
}

// lastStatus returns the CacheStatus the last request ended with.
func (tg *testGateway) lastStatus() string {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	if len(tg.statuses) == 0 {
		return ""
	}
	return tg.statuses[len(tg.statuses)-1]
}

// probe is an outer policy that records RequestContext.CacheStatus, as
// the access log reads it.
type probe struct{ tg *testGateway }

func (p probe) Wrap(next dataplane.Handler) dataplane.Handler {
	return func(rc *dataplane.RequestContext) {
		next(rc)
		p.tg.mu.Lock()
		p.tg.statuses = append(p.tg.statuses, rc.CacheStatus)
		p.tg.mu.Unlock()
	}
}

// asConsumer is an auth stand-in: the X-Test-Consumer header names the
// consumer.
type asConsumer struct{}

func (asConsumer) Wrap(next dataplane.Handler) dataplane.Handler {
	return func(rc *dataplane.RequestContext) {
		rc.Consumer = rc.Request.Header.Get("X-Test-Consumer")
		next(rc)
	}
}
