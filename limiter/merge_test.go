package limiter

import (
	"fmt"
	"testing"
	"time"
)

// permutations returns every ordering of n indexes.
func permutations(n int) [][]int {
	if n == 1 {
		return [][]int{{0}}
	}
	var out [][]int
	for _, p := range permutations(n - 1) {
		for i := 0; i <= len(p); i++ {
			q := append(append(append([]int{}, p[:i]...), n-1), p[i:]...)
			out = append(out, q)
		}
	}
	return out
}

// TestMergeByMaxIdempotentOrderIndependent applies the reports of one
// peer's G-counter in every order, each twice: the merged state is always
// the newest.
func TestMergeByMaxIdempotentOrderIndependent(t *testing.T) {
	type report struct{ epoch, cur, prev int64 }
	reports := []report{{10, 3, 0}, {10, 5, 0}, {11, 2, 5}, {11, 4, 5}, {12, 1, 4}}
	want := peerCount{epoch: 12, cur: 1, prev: 4}
	for _, order := range permutations(len(reports)) {
		var c peerCount
		for _, i := range append(order, order...) {
			r := reports[i]
			c.merge(r.epoch, r.cur, r.prev)
		}
		if c.epoch != want.epoch || c.cur != want.cur || c.prev != want.prev {
			t.Fatalf("order %v: got %d/%d/%d, want 12/1/4", order, c.epoch, c.cur, c.prev)
		}
	}
}

// TestHandleMessageOrderAndDuplicates feeds two receivers the same
// messages in opposite orders, with duplicates: their estimates agree.
func TestHandleMessageOrderAndDuplicates(t *testing.T) {
	clock := newFakeClock()
	p := &Policy{ID: 3, Limit: 1000, Window: time.Minute}
	epoch := clock.UnixNano() / int64(time.Minute)
	var msgs [][]byte
	for round, cur := range []int64{4, 9, 7, 20} { // 7: a stale, reordered report
		h := header{nodeID: "peer", incarnation: 1, round: uint64(round + 1)}
		e := []wireEntry{{policy: p.ID, windowMs: 60_000, epoch: epoch, cur: cur, key: "k"}}
		msgs = append(msgs, appendMessage(nil, &h, e))
	}
	a := newTestLimiter(t, clock, nil)
	b := newTestLimiter(t, clock, nil)
	for i := range msgs {
		a.HandleMessage(msgs[i])
		a.HandleMessage(msgs[i])
		b.HandleMessage(msgs[len(msgs)-1-i])
	}
	da, db := a.Allow(p, "k"), b.Allow(p, "k")
	if da.Remaining != 1000-20-1 || db.Remaining != da.Remaining {
		t.Fatalf("remaining %d and %d, want 979 for both", da.Remaining, db.Remaining)
	}
}

// TestOwnMessagesIgnored: a node does not count its own echo.
func TestOwnMessagesIgnored(t *testing.T) {
	clock := newFakeClock()
	l := newTestLimiter(t, clock, nil)
	h := header{nodeID: "solo", incarnation: 1, round: 1}
	e := []wireEntry{{policy: 1, windowMs: 1000, epoch: clock.UnixNano() / 1e9, cur: 5, key: "k"}}
	l.HandleMessage(appendMessage(nil, &h, e))
	if d := l.Allow(&Policy{ID: 1, Limit: 10, Window: time.Second}, "k"); d.Remaining != 9 {
		t.Fatalf("own echo counted: %+v", d)
	}
}

// TestExtrapolation: between reports, a peer's count grows by its
// observed rate, capped at PeerTimeout; an idle round stops it.
func TestExtrapolation(t *testing.T) {
	clock := newFakeClock()
	l := newTestLimiter(t, clock, nil)
	p := &Policy{ID: 1, Limit: 10_000, Window: time.Hour}
	epoch := clock.UnixNano() / int64(time.Hour)
	send := func(round uint64, cur int64) {
		h := header{nodeID: "peer", incarnation: 1, round: round}
		var e []wireEntry
		if cur >= 0 {
			e = []wireEntry{{policy: 1, windowMs: 3_600_000, epoch: epoch, cur: cur, key: "k"}}
		}
		l.HandleMessage(appendMessage(nil, &h, e))
	}
	send(1, 0)
	clock.Add(25 * time.Millisecond)
	send(2, 100) // 100 hits in 25 ms: 4 per ms
	clock.Add(10 * time.Millisecond)
	if d := l.Allow(p, "k"); d.Remaining != 10_000-100-40-1 {
		t.Fatalf("10 ms after report: remaining %d, want %d", d.Remaining, 10_000-141)
	}
	clock.Add(time.Second) // the peer is silent and past MemberTimeout: gone
	// Its last report still counts, without extrapolation.
	if d := l.Allow(p, "k"); d.Remaining != 10_000-100-2 {
		t.Fatalf("gone peer: remaining %d, want %d", d.Remaining, 10_000-102)
	}
	send(3, -1) // a round without the key: it stopped changing
	if d := l.Allow(p, "k"); d.Remaining != 10_000-100-3 {
		t.Fatalf("idle round: remaining %d, want %d", d.Remaining, 10_000-103)
	}
}

// TestPeerRestartNewIncarnation: a restarted peer's new incarnation is
// counted in a slot of its own, next to what the previous incarnation
// admitted (both are real admissions), and a late message of the previous
// incarnation still lands in the old slot.
func TestPeerRestartNewIncarnation(t *testing.T) {
	clock := newFakeClock()
	l := newTestLimiter(t, clock, nil)
	epoch := clock.UnixNano() / int64(time.Minute)
	for i, m := range []struct {
		inc, round uint64
		cur        int64
	}{{1, 50, 30}, {2, 1, 5}, {2, 2, 40}, {1, 49, 20}} {
		h := header{nodeID: "peer", incarnation: m.inc, round: m.round}
		e := []wireEntry{{policy: 1, windowMs: 60_000, epoch: epoch, cur: m.cur, key: "k"}}
		l.HandleMessage(appendMessage(nil, &h, e))
		if i == 1 && l.peers.slots[1].localRound.Load() != 1 {
			t.Fatal("new incarnation did not get a slot of its own")
		}
	}
	if n := l.peers.n.Load(); n != 2 {
		t.Fatalf("%d slots in use, want 2", n)
	}
	if d := l.Allow(&Policy{ID: 1, Limit: 100, Window: time.Minute}, "k"); d.Remaining != 100-30-40-1 {
		t.Fatalf("remaining %d, want 29", d.Remaining)
	}
}

// TestPeerSlotsBounded: at most MaxPeers peers are tracked; a silent slot
// is reused after MemberTimeout.
func TestPeerSlotsBounded(t *testing.T) {
	clock := newFakeClock()
	l := newTestLimiter(t, clock, nil)
	hello := func(id string) {
		h := header{nodeID: id, incarnation: 1, round: 1}
		l.HandleMessage(appendMessage(nil, &h, nil))
	}
	for i := 0; i < MaxPeers+1; i++ {
		hello(fmt.Sprintf("p%d", i))
	}
	if st := l.Stats(); st.FreshPeers != MaxPeers || st.Received != MaxPeers {
		t.Fatalf("stats %+v, want %d peers", st, MaxPeers)
	}
	clock.Add(2 * time.Second)
	hello("late")
	if st := l.Stats(); st.FreshPeers != 1 {
		t.Fatalf("silent slot not reused: %+v", st)
	}
}
