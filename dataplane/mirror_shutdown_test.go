package dataplane

import (
	"context"
	"errors"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/tollgate/tollgate/internal/waitfor"
	"github.com/tollgate/tollgate/store"
)

// mirrorShutdownConfig is mirrorConfig with a shadow that one failure
// ejects: a copy that runs, even one that fails at once, is counted.
func mirrorShutdownConfig(primaryURL, shadowURL string) *store.Config {
	cfg := mirrorConfig(primaryURL, shadowURL, store.Mirror{})
	cfg.Services[1].HealthChecks = &store.HealthChecks{Passive: &store.PassiveHealthCheck{ConsecutiveFailures: 1}}
	return cfg
}

// expectNoCopy fails if a copy of a request to the mirrored route ran:
// once its slot is free, the shadow got nothing and its target was not
// ejected (a copy sent after Shutdown fails, its context cancelled).
func expectNoCopy(t *testing.T, gw *testGateway, metrics *fakeMetrics, shadow *bodyRecorder) {
	t.Helper()
	m := gw.snap.Load().router.routes[0].mirror
	waitfor.Condition(t, waitTimeout, "the copy's slot to be free", func() bool { return len(m.slots) == 0 })
	metrics.mu.Lock()
	defer metrics.mu.Unlock()
	if len(metrics.ejected) != 0 || shadow.count.Load() != 0 {
		t.Errorf("a copy ran after Shutdown: ejections %v, %d copies received", metrics.ejected, shadow.count.Load())
	}
}

// TestMirrorNotStartedAfterShutdown: a request the gateway serves once
// Shutdown has waited for the copies (a Handler may be served by a server
// of the caller's own) is answered as usual, and starts no copy that
// nothing would wait for.
func TestMirrorNotStartedAfterShutdown(t *testing.T) {
	primary, shadow := newNamed(t, "primary"), newBodyRecorder(t, "shadow")
	metrics := newFakeMetrics()
	gw := startGateway(t, mirrorShutdownConfig(primary.URL, shadow.url), Options{Metrics: metrics})
	ctx, cancel := contextWithTimeout()
	defer cancel()
	if err := gw.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	gw.ServeHTTP(rec, httptest.NewRequest("GET", "/m", nil))
	if rec.Code != 200 || rec.Body.String() != "primary" {
		t.Errorf("after Shutdown: %d %q, want 200 \"primary\"", rec.Code, rec.Body.String())
	}
	expectNoCopy(t, gw, metrics, shadow)
}

// TestMirrorNotStartedByRequestOutlivingShutdown: a Shutdown whose context
// ends closes the connections, but their requests go on; one that reaches
// the proxy only then (held by a policy here) starts no copy, the copies
// having been waited for already.
func TestMirrorNotStartedByRequestOutlivingShutdown(t *testing.T) {
	primary, shadow := newNamed(t, "primary"), newBodyRecorder(t, "shadow")
	entered, release, finished := make(chan struct{}, 1), make(chan struct{}), make(chan struct{})
	hold := policyFunc(func(next Handler) Handler {
		return func(rc *RequestContext) {
			entered <- struct{}{}
			<-release
			defer close(finished)
			next(rc)
		}
	})
	metrics := newFakeMetrics()
	gw := startGateway(t, mirrorShutdownConfig(primary.URL, shadow.url), Options{Metrics: metrics,
		Policies: func(_ *store.Config, r *store.Route) ([]Policy, error) {
			if r.Name != "mirrored" {
				return nil, nil
			}
			return []Policy{hold}, nil
		}})
	releaseOnce := sync.OnceFunc(func() { close(release) })
	t.Cleanup(releaseOnce) // before the gateway's Shutdown
	var client sync.WaitGroup
	defer client.Wait()
	client.Go(func() { _, _, _ = fetch(gw.client, gw.url+"/m") }) // fails: Shutdown closes it
	recv(t, entered, "the request to reach the policy")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := gw.Shutdown(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Shutdown with a request in flight and its context ended: %v, want context.Canceled", err)
	}
	releaseOnce()
	recv(t, finished, "the request to finish")
	expectNoCopy(t, gw, metrics, shadow)
}
