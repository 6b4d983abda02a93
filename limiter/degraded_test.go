package limiter

import (
	"testing"
	"time"
)

// TestIsolationFallsBackToFairShare cuts node 3 off while membership
// still lists all three: it admits a third of the limit, and the two
// connected nodes share the other two thirds.
func TestIsolationFallsBackToFairShare(t *testing.T) {
	const limit = 300
	c := newSimCluster(t, 3, nil)
	p := &Policy{ID: 1, Limit: limit, Window: time.Second}
	rates := []float64{600, 600, 600}
	c.run(load{policy: p, key: "k", rates: rates, dur: 2 * time.Second})
	c.net.drop = func(from, to string) bool { return from == "n3" || to == "n3" }
	got := c.run(load{policy: p, key: "k", rates: rates, dur: 4 * time.Second})
	// Skip the window of the cut and the next, while counts from before
	// the cut still decay.
	for _, e := range sortedEpochs(got)[2:] {
		w := got[e]
		t.Logf("window %d: %v", e, w)
		if w[2] < limit/3-3 || w[2] > limit/3 {
			t.Errorf("isolated node admitted %d, want its share %d", w[2], limit/3)
		}
		if n := w[0] + w[1]; n < 2*limit/3*95/100 || n > 2*limit/3*105/100 {
			t.Errorf("connected nodes admitted %d, want ≈ %d", n, 2*limit/3)
		}
	}
	if d := c.nodes[2].Allow(p, "k"); !d.Degraded {
		t.Errorf("isolated decision not marked degraded: %+v", d)
	}
}

// TestTotalIsolation drops every message: each node holds to limit / 3.
func TestTotalIsolation(t *testing.T) {
	const limit = 90
	c := newSimCluster(t, 3, nil)
	c.net.drop = func(_, _ string) bool { return true }
	p := &Policy{ID: 1, Limit: limit, Window: time.Minute}
	for i := range c.nodes {
		if got := c.allowN(i, p, "k", limit); got != limit/3 {
			t.Errorf("node %d admitted %d alone, want %d", i, got, limit/3)
		}
	}
}

// TestDeadPeerShareReturns: a silent peer's counts and share are held
// back after PeerTimeout while membership still lists it; once membership
// drops it its share returns, and what it admitted in the window still
// counts (so the survivors do not admit it a second time).
func TestDeadPeerShareReturns(t *testing.T) {
	c := newSimCluster(t, 3, nil)
	p := &Policy{ID: 1, Limit: 100, Window: time.Minute}
	c.sync() // everyone hears everyone: no share held back
	if got := c.allowN(2, p, "k", 60); got != 60 {
		t.Fatalf("n3 admitted %d of 60", got)
	}
	c.syncFor(DefaultSyncInterval)
	if d := c.nodes[0].Allow(p, "k"); d.Remaining != 100-60-1 {
		t.Fatalf("n1 remaining %d with n3's 60 known, want 39", d.Remaining)
	}
	c.setDown(2, true)
	c.syncFor(c.nodes[0].opts.PeerTimeout + DefaultSyncInterval)
	// n3's 60 expired; membership still lists n3, so n1+n2 hold 2/3.
	if d := c.nodes[0].Allow(p, "k"); d.Remaining != 66-2 || !d.Degraded {
		t.Fatalf("after peer timeout: %+v, want 64 remaining, degraded", d)
	}
	c.setLive(1) // membership drops n3
	c.sync()
	if d := c.nodes[0].Allow(p, "k"); d.Remaining != 100-60-3 || d.Degraded {
		t.Fatalf("after membership drop: %+v, want 37 remaining", d)
	}
}

// TestDeadPeerWithoutMembership: with no LivePeers, a silent peer's share
// returns after MemberTimeout.
func TestDeadPeerWithoutMembership(t *testing.T) {
	c := newSimCluster(t, 2, func(_ int, o *Options) { o.LivePeers = nil })
	p := &Policy{ID: 1, Limit: 100, Window: time.Hour}
	c.syncFor(DefaultSyncInterval)
	c.setDown(1, true)
	timeouts := c.nodes[0].opts
	c.syncFor(timeouts.PeerTimeout + DefaultSyncInterval)
	if d := c.nodes[0].Allow(p, "k"); d.Remaining != 50-1 {
		t.Fatalf("silent peer within MemberTimeout: remaining %d, want 49", d.Remaining)
	}
	c.syncFor(timeouts.MemberTimeout)
	if d := c.nodes[0].Allow(p, "k"); d.Remaining != 100-2 {
		t.Fatalf("after MemberTimeout: remaining %d, want 98", d.Remaining)
	}
	c.setDown(1, false) // it comes back: counted again at once
	c.sync()
	if st := c.nodes[0].Stats(); st.FreshPeers != 1 || st.Members != 1 {
		t.Fatalf("peer back: %+v", st)
	}
}
