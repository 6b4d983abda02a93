package limiter

import (
	"sync"
	"sync/atomic"
)

// peerSlot is what this node knows about one peer. Atomics are read on the
// request path; the rest is guarded by peerTable.mu.
type peerSlot struct {
	gen        atomic.Uint32 // bumped when the slot is reused; 0 = never used
	lastSeen   atomic.Int64  // unix nanos of the last message received
	localRound atomic.Uint64 // counts the peer's sync rounds seen here

	id          string
	incarnation uint64
	lastRound   uint64
}

// peerTable maps node ids to a fixed array of slots, so that the request
// path can index peers without locks or maps.
type peerTable struct {
	mu    sync.Mutex
	byID  map[string]int
	n     atomic.Int32 // slots in use (prefix of slots)
	slots [MaxPeers]peerSlot
}

// observation is the result of registering one received message.
type observation struct {
	slot   int
	gen    uint32
	round  uint64 // the slot's localRound after this message
	latest bool   // the message belongs to the newest round seen
}

func newPeerTable() *peerTable { return &peerTable{byID: map[string]int{}} }

// observe registers a message from id and returns its slot; ok is false
// when every slot is taken by a recently heard peer.
func (t *peerTable) observe(id string, inc, round uint64, now, reuseAfter int64) (observation, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	i, ok := t.byID[id]
	if !ok {
		if i, ok = t.allocate(id, now, reuseAfter); !ok {
			return observation{}, false
		}
	}
	s := &t.slots[i]
	latest := true
	switch {
	case inc != s.incarnation || round > s.lastRound:
		s.incarnation, s.lastRound = inc, round
		s.localRound.Add(1)
	case round < s.lastRound:
		latest = false
	}
	if now > s.lastSeen.Load() {
		s.lastSeen.Store(now)
	}
	return observation{slot: i, gen: s.gen.Load(), round: s.localRound.Load(), latest: latest}, true
}

// allocate takes a free slot, or reuses the one silent for longest if it
// has been silent for reuseAfter.
func (t *peerTable) allocate(id string, now, reuseAfter int64) (int, bool) {
	i := int(t.n.Load())
	if i == MaxPeers {
		i = t.oldest()
		if now-t.slots[i].lastSeen.Load() <= reuseAfter {
			return 0, false
		}
		delete(t.byID, t.slots[i].id)
	} else {
		t.n.Add(1)
	}
	s := &t.slots[i]
	s.id, s.incarnation, s.lastRound = id, 0, 0
	s.lastSeen.Store(0)
	s.gen.Add(1)
	t.byID[id] = i
	return i, true
}

func (t *peerTable) oldest() int {
	best := 0
	for i := range t.slots {
		if t.slots[i].lastSeen.Load() < t.slots[best].lastSeen.Load() {
			best = i
		}
	}
	return best
}

// view is the peer state a decision uses, computed without locks.
type view struct {
	fresh   uint64  // bit i: slot i heard within PeerTimeout
	scale   float64 // share of the limit available to this node + fresh peers
	members int     // other live members
	nFresh  int
}

// view computes freshness and the available share at now. members < 0
// means membership is unknown: peers heard within memberTimeout count.
func (t *peerTable) view(now, peerTimeout, memberTimeout int64, members int) view {
	var v view
	known := 0
	n := int(t.n.Load())
	for i := 0; i < n; i++ {
		age := now - t.slots[i].lastSeen.Load()
		if age <= peerTimeout {
			v.fresh |= 1 << uint(i)
			v.nFresh++
		}
		if age <= memberTimeout {
			known++
		}
	}
	if members < 0 {
		members = known
	}
	v.members = max(members, v.nFresh)
	v.scale = float64(1+v.nFresh) / float64(1+v.members)
	return v
}

// degraded reports whether the view holds back a share of the limit.
func (v *view) degraded() bool { return v.nFresh < v.members }

// fairShare is this node's share when it counts alone.
func (v *view) fairShare() float64 { return 1 / float64(1+v.members) }
