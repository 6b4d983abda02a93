package limiter

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is a settable clock shared by the limiters of a test.
type fakeClock struct{ ns atomic.Int64 }

// newFakeClock starts at a whole second so that windows align with steps.
func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *fakeClock) Now() time.Time           { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Add(d time.Duration)      { c.ns.Add(int64(d)) }
func (c *fakeClock) UnixNano() int64          { return c.ns.Load() }
func (c *fakeClock) sinceEpoch(w int64) int64 { return c.ns.Load() / w }

// packet is a message in flight on a memNet.
type packet struct {
	to    string
	msg   []byte
	delay int // deliveries to wait before this one is delivered
}

// memNet connects limiters in memory. Messages are queued by SendGossip
// and handed over by deliver, so a test controls loss, delay and order.
type memNet struct {
	mu      sync.Mutex
	nodes   map[string]*Limiter
	order   []string
	queue   []packet
	drop    func(from, to string) bool
	delay   func(from, to string) int
	reverse bool            // deliver each batch in reverse order
	down    map[string]bool // nodes that neither send nor receive
	sizes   []int
}

func newMemNet() *memNet { return &memNet{nodes: map[string]*Limiter{}, down: map[string]bool{}} }

// memTransport is one node's view of a memNet.
type memTransport struct {
	net  *memNet
	from string
}

func (t *memTransport) SendGossip(ch byte, msg []byte) error {
	if ch != DefaultChannel {
		return fmt.Errorf("unexpected channel %d", ch)
	}
	n := t.net
	n.mu.Lock()
	defer n.mu.Unlock()
	n.sizes = append(n.sizes, len(msg))
	if n.down[t.from] {
		return nil
	}
	for _, to := range n.order {
		if to == t.from || n.down[to] || (n.drop != nil && n.drop(t.from, to)) {
			continue
		}
		p := packet{to: to, msg: append([]byte(nil), msg...)}
		if n.delay != nil {
			p.delay = n.delay(t.from, to)
		}
		n.queue = append(n.queue, p)
	}
	return nil
}

// deliver hands over every due message and ages the others.
func (n *memNet) deliver() {
	n.mu.Lock()
	var due, later []packet
	for _, p := range n.queue {
		if p.delay > 0 {
			p.delay--
			later = append(later, p)
		} else {
			due = append(due, p)
		}
	}
	n.queue = later
	reverse := n.reverse
	n.mu.Unlock()
	for i := range due {
		p := due[i]
		if reverse {
			p = due[len(due)-1-i]
		}
		n.nodes[p.to].HandleMessage(p.msg)
	}
}

// simCluster is N limiters on one fake clock and one memNet.
type simCluster struct {
	clock *fakeClock
	net   *memNet
	nodes []*Limiter
	live  []atomic.Int64 // per node: other live members it reports
}

func newSimCluster(t testing.TB, n int, edit func(i int, o *Options)) *simCluster {
	t.Helper()
	c := &simCluster{clock: newFakeClock(), net: newMemNet(), live: make([]atomic.Int64, n)}
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("n%d", i+1)
		c.live[i].Store(int64(n - 1))
		live := &c.live[i]
		o := Options{
			NodeID:    id,
			Transport: &memTransport{net: c.net, from: id},
			Now:       c.clock.Now,
			LivePeers: func() int { return int(live.Load()) },
		}
		if edit != nil {
			edit(i, &o)
		}
		l, err := New(o)
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		t.Cleanup(l.Close)
		c.nodes = append(c.nodes, l)
		c.net.nodes[id] = l
		c.net.order = append(c.net.order, id)
	}
	return c
}

// sync runs one gossip round on every node that is up and delivers what
// is due.
func (c *simCluster) sync() {
	now := c.clock.UnixNano()
	for i, l := range c.nodes {
		if !c.isDown(i) {
			l.tickAt(now)
		}
	}
	c.net.deliver()
}

// setDown stops (or restarts) node i's gossip in both directions.
func (c *simCluster) setDown(i int, down bool) {
	c.net.mu.Lock()
	defer c.net.mu.Unlock()
	c.net.down[c.net.order[i]] = down
}

func (c *simCluster) isDown(i int) bool {
	c.net.mu.Lock()
	defer c.net.mu.Unlock()
	return c.net.down[c.net.order[i]]
}

// syncFor advances the clock by d in SyncInterval steps, syncing each.
func (c *simCluster) syncFor(d time.Duration) {
	for t := time.Duration(0); t < d; t += DefaultSyncInterval {
		c.clock.Add(DefaultSyncInterval)
		c.sync()
	}
}

// allowN offers n requests to node i and returns how many were allowed.
func (c *simCluster) allowN(i int, p *Policy, key string, n int) int {
	ok := 0
	for j := 0; j < n; j++ {
		if c.nodes[i].Allow(p, key).Allowed {
			ok++
		}
	}
	return ok
}

// setLive sets every node's membership count of other live nodes.
func (c *simCluster) setLive(n int) {
	for i := range c.live {
		c.live[i].Store(int64(n))
	}
}

// load drives offered requests per second per node for dur, in 1 ms
// steps, syncing every SyncInterval, and returns admitted counts per
// node per window epoch.
type load struct {
	policy  *Policy
	key     string
	rates   []float64 // offered requests per second, per node
	dur     time.Duration
	step    time.Duration
	syncDur time.Duration
}

func (c *simCluster) run(ld load) map[int64][]int {
	if ld.step == 0 {
		ld.step = time.Millisecond
	}
	if ld.syncDur == 0 {
		ld.syncDur = DefaultSyncInterval
	}
	admitted := map[int64][]int{}
	debt := make([]float64, len(c.nodes))
	var sinceSync time.Duration
	for t := time.Duration(0); t < ld.dur; t += ld.step {
		epoch := c.clock.sinceEpoch(int64(ld.policy.Window))
		if admitted[epoch] == nil {
			admitted[epoch] = make([]int, len(c.nodes))
		}
		for i, l := range c.nodes {
			if c.isDown(i) {
				continue
			}
			debt[i] += ld.rates[i] * ld.step.Seconds()
			for ; debt[i] >= 1; debt[i]-- {
				if l.Allow(ld.policy, ld.key).Allowed {
					admitted[epoch][i]++
				}
			}
		}
		c.clock.Add(ld.step)
		if sinceSync += ld.step; sinceSync >= ld.syncDur {
			sinceSync = 0
			c.sync()
		}
	}
	return admitted
}

func sum(xs []int) int {
	s := 0
	for _, x := range xs {
		s += x
	}
	return s
}

// newTestLimiter is a standalone limiter on clock.
func newTestLimiter(t testing.TB, clock *fakeClock, edit func(*Options)) *Limiter {
	t.Helper()
	o := Options{NodeID: "solo", Now: clock.Now}
	if edit != nil {
		edit(&o)
	}
	l, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(l.Close)
	return l
}
