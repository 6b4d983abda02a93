package cache

import (
	"context"
	"sync"
)

// group coalesces concurrent misses on one key: the first becomes the
// leader and fetches from the upstream, the others wait for its result.
type group struct {
	mu sync.Mutex
	m  map[string]*flight
}

// flight is one leader's fetch.
type flight struct {
	done    chan struct{}
	waiters int    // guarded by group.mu
	entry   *entry // the response stored; nil if none; read after done
}

// join returns the flight in progress for key, or starts one; leader is
// true for the caller that must fetch and then call finish.
func (g *group) join(key string) (f *flight, leader bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if f := g.m[key]; f != nil {
		f.waiters++
		return f, false
	}
	f = &flight{done: make(chan struct{})}
	g.m[key] = f
	return f, true
}

// finish publishes the leader's result (nil when it stored nothing) and
// releases the waiters. Later misses start a new flight.
func (g *group) finish(key string, f *flight, e *entry) {
	g.mu.Lock()
	delete(g.m, key)
	g.mu.Unlock()
	f.entry = e
	close(f.done)
}

// wait blocks until the flight finishes or ctx ends; it returns the
// flight's entry and whether the flight finished.
func (f *flight) wait(ctx context.Context) (*entry, bool) {
	select {
	case <-f.done:
		return f.entry, true
	case <-ctx.Done():
		return nil, false
	}
}

// waiters returns how many requests wait on flights.
func (g *group) waiters() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for _, f := range g.m {
		n += f.waiters
	}
	return n
}
