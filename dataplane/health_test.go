package dataplane

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tollgate/tollgate/store"
)

// flakyTarget answers its name, or 500 while failing is set; /healthz
// answers 503 while sick is set, and 200 only after 300 ms (or when the
// prober gives up) while slow is set. It records when each proxied
// request arrived.
type flakyTarget struct {
	url                 string
	failing, sick, slow atomic.Bool
	mu                  sync.Mutex
	hits                []time.Time
	ok, checks          atomic.Int64
	name                string
}

func newFlakyTarget(t *testing.T, name string) *flakyTarget {
	f := &flakyTarget{name: name}
	srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			f.checks.Add(1)
			if f.slow.Load() {
				select {
				case <-r.Context().Done():
				case <-time.After(300 * time.Millisecond):
				}
			}
			if f.sick.Load() {
				w.WriteHeader(http.StatusServiceUnavailable)
			}
			return
		}
		f.mu.Lock()
		f.hits = append(f.hits, time.Now())
		f.mu.Unlock()
		if f.failing.Load() {
			http.Error(w, "broken", http.StatusInternalServerError)
			return
		}
		f.ok.Add(1)
		_, _ = w.Write([]byte(name))
	}))
	f.url = srv.URL
	return f
}

// hitsBetween counts the requests that arrived in [from, to).
func (f *flakyTarget) hitsBetween(from, to time.Time) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, h := range f.hits {
		if !h.Before(from) && h.Before(to) {
			n++
		}
	}
	return n
}

// waitFor polls cond until it holds, failing the test after waitTimeout.
// step runs between polls (for example a request that drives the state).
func waitFor(t *testing.T, what string, cond func() bool, step func()) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		if step != nil {
			step()
		}
		<-tick.C
	}
}

// liveTarget returns the live upstream target with the given address.
func liveTarget(t *testing.T, gw *testGateway, addr string) *target {
	t.Helper()
	for _, up := range gw.snap.Load().router.services {
		for _, tg := range up.targets {
			if tg.addr == addr {
				return tg
			}
		}
	}
	t.Fatalf("no target %s", addr)
	return nil
}

func TestPassiveEjectionAndRecovery(t *testing.T) {
	a, b := newFlakyTarget(t, "a"), newFlakyTarget(t, "b")
	const ejection = time.Second
	cfg := targetsConfig(store.Service{HealthChecks: &store.HealthChecks{Passive: &store.PassiveHealthCheck{
		ConsecutiveFailures: 2, EjectionTime: store.Duration(ejection),
	}}}, store.Target{Target: hostOf(a.url)}, store.Target{Target: hostOf(b.url)})
	gw := startGateway(t, cfg, Options{})
	tb := liveTarget(t, gw, hostOf(b.url))

	b.failing.Store(true)
	waitFor(t, "b to be ejected", func() bool { return tb.ejectedUntil.Load() != 0 }, func() { _, _, _ = fetch(gw.client, gw.url+"/") })
	until := time.Unix(0, tb.ejectedUntil.Load())
	for i := 0; i < 20 && time.Until(until) > ejection/4; i++ { // stay inside the ejection, however slow the machine
		if code, body, err := fetch(gw.client, gw.url+"/"); code != 200 || body != "a" || err != nil {
			t.Fatalf("while b is ejected: %d %q %v", code, body, err)
		}
	}
	if n := b.hitsBetween(until.Add(-ejection).Add(time.Millisecond), until); n != 0 {
		t.Errorf("b got %d requests while ejected", n)
	}

	b.failing.Store(false)
	waitFor(t, "b to get traffic again", func() bool { return b.ok.Load() > 0 }, func() { _, _, _ = fetch(gw.client, gw.url+"/") })
}

func TestActiveHealthChecks(t *testing.T) {
	a, b := newFlakyTarget(t, "a"), newFlakyTarget(t, "b")
	cfg := targetsConfig(store.Service{HealthChecks: &store.HealthChecks{Active: &store.ActiveHealthCheck{
		Path: "/healthz", Interval: store.Duration(20 * time.Millisecond), HealthyThreshold: 2, UnhealthyThreshold: 2,
	}}}, store.Target{Target: hostOf(a.url)}, store.Target{Target: hostOf(b.url)})
	gw := startGateway(t, cfg, Options{})
	tb := liveTarget(t, gw, hostOf(b.url))

	b.sick.Store(true)
	waitFor(t, "b to be marked unhealthy", tb.activeDown.Load, nil)
	before := b.ok.Load()
	for range 20 {
		if code, body, err := fetch(gw.client, gw.url+"/"); code != 200 || body != "a" || err != nil {
			t.Fatalf("while b is unhealthy: %d %q %v", code, body, err)
		}
	}
	if b.ok.Load() != before {
		t.Errorf("unhealthy b got traffic")
	}

	b.sick.Store(false)
	waitFor(t, "b to be healthy again", func() bool { return !tb.activeDown.Load() }, nil)
	waitFor(t, "b to get traffic again", func() bool { return b.ok.Load() > before }, func() { _, _, _ = fetch(gw.client, gw.url+"/") })
}

// TestActiveHealthCheckTimeout: a target whose health answer comes later
// than the probe's timeout is marked unhealthy though the answer is 200,
// and healthy again once it answers in time. The timeout (100 ms) leaves
// the prompt target a wide margin under -race; the slow answer (300 ms)
// comes within the interval, so only the configured timeout fails it.
func TestActiveHealthCheckTimeout(t *testing.T) {
	a, b := newFlakyTarget(t, "a"), newFlakyTarget(t, "b")
	cfg := targetsConfig(store.Service{HealthChecks: &store.HealthChecks{Active: &store.ActiveHealthCheck{
		Path: "/healthz", Interval: store.Duration(400 * time.Millisecond), Timeout: store.Duration(100 * time.Millisecond),
		HealthyThreshold: 1, UnhealthyThreshold: 2,
	}}}, store.Target{Target: hostOf(a.url)}, store.Target{Target: hostOf(b.url)})
	gw := startGateway(t, cfg, Options{})
	tb := liveTarget(t, gw, hostOf(b.url))
	waitFor(t, "b probed", func() bool { return b.checks.Load() > 0 }, nil)
	if tb.activeDown.Load() {
		t.Fatal("b unhealthy while it answers its probes in time")
	}

	b.slow.Store(true)
	waitFor(t, "b marked unhealthy by probes that time out", tb.activeDown.Load, nil)
	for range 10 {
		if code, body, err := fetch(gw.client, gw.url+"/"); code != 200 || body != "a" || err != nil {
			t.Fatalf("while b's probes time out: %d %q %v", code, body, err)
		}
	}
	b.slow.Store(false)
	waitFor(t, "b healthy again", func() bool { return !tb.activeDown.Load() }, nil)
}

func TestNoHealthyTarget(t *testing.T) {
	a := newFlakyTarget(t, "a")
	a.sick.Store(true)
	cfg := targetsConfig(store.Service{HealthChecks: &store.HealthChecks{Active: &store.ActiveHealthCheck{
		Path: "/healthz", Interval: store.Duration(10 * time.Millisecond), UnhealthyThreshold: 1,
	}}}, store.Target{Target: hostOf(a.url)})
	gw := startGateway(t, cfg, Options{})
	waitFor(t, "a to be marked unhealthy", liveTarget(t, gw, hostOf(a.url)).activeDown.Load, nil)
	resp, body := gw.get(t, "/")
	checkGatewayError(t, resp, body, http.StatusServiceUnavailable, "no_healthy_upstream")
}

func TestHealthCheckLifecycle(t *testing.T) {
	a, b := newFlakyTarget(t, "a"), newFlakyTarget(t, "b")
	checked := func(interval time.Duration, targets ...*flakyTarget) store.Service {
		s := store.Service{Name: "svc", HealthChecks: &store.HealthChecks{Active: &store.ActiveHealthCheck{
			Path: "/healthz", Interval: store.Duration(interval),
		}}}
		for _, f := range targets {
			s.Targets = append(s.Targets, store.Target{Target: hostOf(f.url)})
		}
		return s
	}
	cfg := func(version uint64, path string, svcs ...store.Service) *store.Config {
		c := &store.Config{Version: version, Services: svcs}
		for _, s := range svcs {
			c.Routes = append(c.Routes, store.Route{Name: s.Name, Service: s.Name, Paths: []string{path + s.Name}})
		}
		return c
	}
	gw := startGateway(t, cfg(1, "/v1/", checked(20*time.Millisecond, a, b)), Options{})
	first := gw.upstreams["svc"]
	if n := first.checking.Load(); n != 2 || !first.running() {
		t.Fatalf("after v1: %d check loops, running %v; want 2, true", n, first.running())
	}
	waitFor(t, "health checks to run", func() bool { return a.checks.Load() > 0 && b.checks.Load() > 0 }, nil)

	if err := gw.Update(cfg(2, "/v2/", checked(20*time.Millisecond, a, b))); err != nil {
		t.Fatal(err)
	}
	if gw.upstreams["svc"] != first || !first.running() || first.checking.Load() != 2 {
		t.Fatalf("an unchanged service lost its health checks (%d loops)", first.checking.Load())
	}

	// Update returns only once the replaced service's goroutines returned.
	if err := gw.Update(cfg(3, "/v3/", checked(30*time.Millisecond, a))); err != nil {
		t.Fatal(err)
	}
	second := gw.upstreams["svc"]
	if second == first || first.running() || first.checking.Load() != 0 || second.checking.Load() != 1 {
		t.Fatalf("a changed service: old running %v with %d loops, new with %d; want false, 0, 1",
			first.running(), first.checking.Load(), second.checking.Load())
	}

	if err := gw.Update(cfg(4, "/v4/", store.Service{Name: "other", URL: a.url})); err != nil {
		t.Fatal(err)
	}
	if second.running() || second.checking.Load() != 0 {
		t.Fatalf("a removed service left %d check loops", second.checking.Load())
	}

	if err := gw.Update(cfg(5, "/v5/", checked(20*time.Millisecond, b))); err != nil {
		t.Fatal(err)
	}
	third := gw.upstreams["svc"]
	ctx, cancel := contextWithTimeout()
	defer cancel()
	if err := gw.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if third.running() || third.checking.Load() != 0 {
		t.Errorf("Shutdown left %d check loops", third.checking.Load())
	}
}

func contextWithTimeout() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), waitTimeout)
}
