package limiter

import (
	"testing"
	"time"
)

// restartNode replaces node i of c with a new limiter (a new incarnation,
// empty counts) under the same node id, as a process restart does.
func restartNode(t *testing.T, c *simCluster, i int) {
	t.Helper()
	old := c.nodes[i]
	o := old.opts
	l, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(l.Close)
	old.Close()
	c.nodes[i] = l
	c.net.mu.Lock()
	c.net.nodes[o.NodeID] = l
	c.net.mu.Unlock()
}

// TestRestartRemembersAdmissions: a node restarted within a window gets
// back, from its peers' echoes, what its previous incarnation admitted,
// so the cluster does not admit it twice; the peers count both
// incarnations.
func TestRestartRemembersAdmissions(t *testing.T) {
	c := newSimCluster(t, 3, nil)
	p := &Policy{ID: 1, Limit: 90, Window: time.Minute}
	c.sync()
	if got := c.allowN(0, p, "k", 30); got != 30 {
		t.Fatalf("n1 admitted %d of 30", got)
	}
	c.syncFor(2 * DefaultSyncInterval)
	restartNode(t, c, 0)
	c.syncFor(3 * DefaultSyncInterval) // hello, echo, merge
	if st := c.nodes[0].Stats(); st.EchoesMerged == 0 {
		t.Fatalf("restarted node merged no echo: %+v", st)
	}
	if got := c.allowN(0, p, "k", 90); got != 60 {
		t.Errorf("restarted n1 admitted %d more, want 60 (30 already admitted)", got)
	}
	c.syncFor(2 * DefaultSyncInterval)
	for i := 1; i < 3; i++ {
		if got := c.allowN(i, p, "k", 10); got != 0 {
			t.Errorf("n%d admitted %d over a full window", i+1, got)
		}
	}
}

// TestMinorityKeepsFairShare: a node cut off from both peers, whose
// membership has declared them dead, is on the minority side of a
// 3-node cluster: it keeps to a third of the limit, while the majority
// side (which sees it dead too) gets the whole limit back.
func TestMinorityKeepsFairShare(t *testing.T) {
	c := newSimCluster(t, 3, func(_ int, o *Options) { o.ClusterSize = func() int { return 3 } })
	p := &Policy{ID: 1, Limit: 90, Window: time.Minute}
	c.sync()
	c.net.drop = func(from, to string) bool { return from == "n3" || to == "n3" }
	c.live[0].Store(1)
	c.live[1].Store(1)
	c.live[2].Store(0)
	c.syncFor(time.Second)
	if got := c.allowN(2, p, "k", 90); got != 30 {
		t.Errorf("minority node admitted %d, want its share 30", got)
	}
	if d := c.nodes[2].Allow(p, "k"); !d.Degraded {
		t.Errorf("minority decision not degraded: %+v", d)
	}
	if got := c.allowN(0, p, "k", 90); got != 90 {
		t.Errorf("majority node admitted %d, want the whole limit 90", got)
	}
}

// TestMajorityReclaimsSilentShare: with the cluster size known, two nodes
// that still hear each other take a silent peer's share back after
// ReclaimAfter, while membership still lists it, and what the peer
// admitted before it went silent still counts.
func TestMajorityReclaimsSilentShare(t *testing.T) {
	c := newSimCluster(t, 3, func(_ int, o *Options) { o.ClusterSize = func() int { return 3 } })
	p := &Policy{ID: 1, Limit: 90, Window: time.Minute}
	c.sync()
	if got := c.allowN(2, p, "k", 30); got != 30 {
		t.Fatalf("n3 admitted %d of 30", got)
	}
	c.syncFor(2 * DefaultSyncInterval)
	c.setDown(2, true) // silent; membership still lists it
	o := c.nodes[0].opts
	c.syncFor(o.PeerTimeout + DefaultSyncInterval)
	if d := c.nodes[0].Allow(p, "k"); !d.Degraded {
		t.Fatalf("within ReclaimAfter: %+v, want n3's share held back", d)
	}
	c.syncFor(o.ReclaimAfter)
	d := c.nodes[0].Allow(p, "k")
	if d.Degraded || d.Remaining != 90-30-2 {
		t.Fatalf("after ReclaimAfter: %+v, want the whole limit less n3's 30 and 2 own", d)
	}
}
