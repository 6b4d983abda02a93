package cache

import (
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/tollgate/tollgate/internal/waitfor"
)

// gated is an upstream whose requests block until the gate opens, and
// that counts the requests in flight.
type gated struct {
	*upstream
	mu       sync.Mutex
	gate     chan struct{}
	inflight atomic.Int64
}

func newGated(t *testing.T, clock *fakeClock, cacheControl string) *gated {
	g := &gated{gate: make(chan struct{})}
	g.upstream = newUpstream(t, clock, func(w http.ResponseWriter, r *http.Request) {
		g.inflight.Add(1)
		defer g.inflight.Add(-1)
		<-g.current()
		w.Header().Set("Cache-Control", cacheControl)
		fmt.Fprintf(w, "call %d", g.calls.Load())
	})
	t.Cleanup(g.open) // never leave a handler blocked
	return g
}

func (g *gated) current() chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.gate
}

// open lets the blocked requests and all later ones through.
func (g *gated) open() {
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-g.gate:
	default:
		close(g.gate)
	}
}

// close makes later requests block again.
func (g *gated) close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.gate = make(chan struct{})
}

// burst sends n concurrent GETs and returns their bodies and X-Cache
// values once all are done.
func burst(t *testing.T, gw *testGateway, n int, path string) (bodies, xcache []string, done chan struct{}) {
	bodies, xcache = make([]string, n), make([]string, n)
	done = make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			resp, err := gw.client.Get(gw.url + path)
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Error(err)
			}
			bodies[i], xcache[i] = string(b), resp.Header.Get("X-Cache")
		})
	}
	go func() { wg.Wait(); close(done) }()
	return bodies, xcache, done
}

func TestCoalescing100MissesOneUpstreamCall(t *testing.T) {
	clock := newClock()
	up := newGated(t, clock, "max-age=60")
	gw := startGateway(t, clock, up.URL, `{}`, nil)

	bodies, xcache, done := burst(t, gw, 100, "/hot")
	waitfor.Condition(t, waitTimeout, "1 request at the upstream and 99 waiting", func() bool {
		return up.inflight.Load() == 1 && gw.policy.store.flights.waiters() == 99
	})
	up.open()
	waitDone(t, done)
	if n := up.calls.Load(); n != 1 {
		t.Fatalf("upstream calls = %d, want 1", n)
	}
	count := map[string]int{}
	for i := range bodies {
		if bodies[i] != "call 1" {
			t.Fatalf("request %d got %q", i, bodies[i])
		}
		count[xcache[i]]++
	}
	if count[StatusMiss] != 1 || count[StatusHit] != 99 {
		t.Fatalf("X-Cache counts %v, want 1 MISS and 99 HIT", count)
	}
}

// TestCoalescingUncacheable: when the leader's response cannot be
// stored, the waiters go to the upstream themselves, and later misses on
// the key are not coalesced.
func TestCoalescingUncacheable(t *testing.T) {
	clock := newClock()
	up := newGated(t, clock, "no-store")
	gw := startGateway(t, clock, up.URL, `{}`, nil)

	bodies, _, done := burst(t, gw, 20, "/private")
	waitfor.Condition(t, waitTimeout, "1 request at the upstream and 19 waiting", func() bool {
		return up.inflight.Load() == 1 && gw.policy.store.flights.waiters() == 19
	})
	up.open()
	waitDone(t, done)
	if n := up.calls.Load(); n != 20 {
		t.Fatalf("upstream calls = %d, want 20 (the waiters' own)", n)
	}
	for i, b := range bodies {
		if b == "" {
			t.Fatalf("request %d got an empty body", i)
		}
	}

	// The key is now known as uncacheable: a new burst reaches the
	// upstream all at once.
	up.close()
	_, _, done = burst(t, gw, 5, "/private")
	waitfor.Condition(t, waitTimeout, "5 requests at the upstream at once", func() bool {
		return up.inflight.Load() == 5
	})
	up.open()
	waitDone(t, done)
}

func waitDone(t *testing.T, done chan struct{}) {
	t.Helper()
	waitfor.Condition(t, waitTimeout, "all requests answered", func() bool {
		select {
		case <-done:
			return true
		default:
			return false
		}
	})
}
