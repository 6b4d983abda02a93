package limiter

import (
	"strconv"
	"testing"
	"time"
)

// TestKeyCapHoldsUnderFlood offers 1M distinct keys to a limiter capped
// at 100k: it tracks at most the cap, keeps counting the keys it tracks,
// and decides the rest on the conservative overflow counter.
func TestKeyCapHoldsUnderFlood(t *testing.T) {
	const maxKeys, flood = 100_000, 1_000_000
	clock := newFakeClock()
	l := newTestLimiter(t, clock, func(o *Options) { o.MaxKeys = maxKeys })
	p := &Policy{ID: 1, Limit: 5, Window: time.Second}
	for i := 0; i < 3; i++ {
		l.Allow(p, "victim")
	}
	buf := make([]byte, 0, 16)
	overflowAllowed := 0
	for i := 0; i < flood; i++ {
		buf = strconv.AppendInt(append(buf[:0], 'k'), int64(i), 10)
		d := l.Allow(p, string(buf))
		if d.Degraded && d.Allowed {
			overflowAllowed++
		}
	}
	st := l.Stats()
	if st.Keys > maxKeys {
		t.Fatalf("tracking %d keys, cap %d", st.Keys, maxKeys)
	}
	if st.Overflowed < flood-maxKeys {
		t.Fatalf("overflowed %d decisions, want ≥ %d", st.Overflowed, flood-maxKeys)
	}
	if overflowAllowed > numShards*int(p.Limit) {
		t.Fatalf("overflow counter admitted %d, want ≤ %d", overflowAllowed, numShards*p.Limit)
	}
	if d := l.Allow(p, "victim"); !d.Allowed || d.Remaining != 1 {
		t.Fatalf("tracked key lost its count under the flood: %+v", d)
	}
	// Once the flood has expired, new keys are tracked again.
	clock.Add(2 * time.Second)
	if d := l.Allow(p, "fresh"); d.Degraded || !d.Allowed {
		t.Fatalf("new key after expiry: %+v", d)
	}
}

func TestIdleKeysExpire(t *testing.T) {
	clock := newFakeClock()
	l := newTestLimiter(t, clock, nil)
	sec := &Policy{ID: 1, Limit: 5, Window: time.Second}
	hour := &Policy{ID: 2, Limit: 5, Window: time.Hour}
	for i := 0; i < 100; i++ {
		l.Allow(sec, strconv.Itoa(i))
	}
	l.Allow(hour, "long")
	clock.Add(1500 * time.Millisecond)
	l.tickAt(clock.UnixNano())
	if n := l.Stats().Keys; n != 101 {
		t.Fatalf("%d keys one window later, want 101 (previous window still counts)", n)
	}
	clock.Add(time.Second)
	l.tickAt(clock.UnixNano())
	if n := l.Stats().Keys; n != 1 {
		t.Fatalf("%d keys two windows later, want only the hour key", n)
	}
	clock.Add(2 * time.Hour)
	l.tickAt(clock.UnixNano())
	if n := l.Stats().Keys; n != 0 {
		t.Fatalf("%d keys after two hours", n)
	}
}

// TestHashCollisionsChain: entries whose 64-bit hashes collide are kept
// apart and removed independently.
func TestHashCollisionsChain(t *testing.T) {
	var s shard
	s.init()
	const h, w, now = 42, int64(time.Second), int64(10 * time.Second)
	keys := []entryKey{{1, 1000, "a"}, {1, 1000, "b"}, {2, 1000, "a"}}
	var es []*entry
	for i := range keys {
		es = append(es, s.lookup(&keys[i], h, w, now, 10))
	}
	if es[0] == es[1] || es[1] == es[2] || s.n != 3 || len(s.m) != 1 {
		t.Fatalf("collisions merged entries: n=%d map=%d", s.n, len(s.m))
	}
	s.remove(es[1])
	if s.lookup(&keys[0], h, w, now, 10) != es[0] || s.lookup(&keys[2], h, w, now, 10) != es[2] {
		t.Fatal("lost a chained entry")
	}
	s.remove(es[2])
	s.remove(es[0])
	if s.n != 0 || len(s.m) != 0 {
		t.Fatalf("after removals: n=%d map=%d", s.n, len(s.m))
	}
}
