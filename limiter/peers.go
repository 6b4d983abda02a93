package limiter

import (
	"sync"
	"sync/atomic"
	"time"
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

// echo is a debt to a restarted peer: the counts its previous incarnation
// left in slot, which it no longer knows itself. The sync loop sends them
// to it for a few rounds (see echo.go).
type echo struct {
	to     string // the peer's node id
	inc    uint64 // its new incarnation, which the echo is addressed to
	slot   int    // the slot of its previous incarnation
	gen    uint32 // that slot's generation when it was retired
	rounds int    // sync rounds left to send it
}

// peerTable maps node ids to a fixed array of slots, so that the request
// path can index peers without locks or maps.
type peerTable struct {
	mu    sync.Mutex
	byID  map[string]int
	n     atomic.Int32 // slots in use (prefix of slots)
	slots [MaxPeers]peerSlot
	// echoes are owed to restarted peers, under mu.
	echoes []echo
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
//
// A new incarnation of a known peer (it restarted) gets a new slot: the
// old slot keeps what the previous incarnation admitted, which still
// counts until its windows pass, and an echo of it is owed to the peer.
func (t *peerTable) observe(id string, inc, round uint64, now, reuseAfter int64) (observation, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	i, ok := t.byID[id]
	if ok && inc != t.slots[i].incarnation {
		i, ok = t.incarnationSlot(id, inc, i, now, reuseAfter)
	}
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

// incarnationSlot finds the slot of incarnation inc of id, whose current
// slot cur holds another incarnation. A late message of a retired
// incarnation finds that incarnation's slot; a new incarnation retires
// cur and gets a fresh slot (ok false: allocate one) — or, when every
// slot is taken, reuses cur as if the peer were new.
func (t *peerTable) incarnationSlot(id string, inc uint64, cur int, now, reuseAfter int64) (int, bool) {
	n := int(t.n.Load())
	for j := 0; j < n; j++ {
		if s := &t.slots[j]; j != cur && s.id == id && s.incarnation == inc {
			return j, true
		}
	}
	if t.slots[cur].incarnation == 0 {
		return cur, true
	}
	j, ok := t.allocate(id, now, reuseAfter)
	if !ok {
		return cur, true
	}
	old := &t.slots[cur]
	t.echoes = append(t.echoes, echo{to: id, inc: inc, slot: cur, gen: old.gen.Load(), rounds: echoRounds})
	return j, true
}

// ages returns the time since each peer's current incarnation was last
// heard, at now.
func (t *peerTable) ages(now int64) []PeerAge {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]PeerAge, 0, len(t.byID))
	for id, i := range t.byID {
		out = append(out, PeerAge{ID: id, Age: time.Duration(max(now-t.slots[i].lastSeen.Load(), 0))})
	}
	return out
}

// takeEchoes returns the echoes due this sync round.
func (t *peerTable) takeEchoes(dst []echo) []echo {
	t.mu.Lock()
	defer t.mu.Unlock()
	kept := t.echoes[:0]
	for _, e := range t.echoes {
		if t.slots[e.slot].gen.Load() != e.gen {
			continue // the slot was reused: nothing left to echo
		}
		dst = append(dst, e)
		if e.rounds--; e.rounds > 0 {
			kept = append(kept, e)
		}
	}
	clear(t.echoes[len(kept):])
	t.echoes = kept
	return dst
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
		if old := t.slots[i].id; t.byID[old] == i {
			delete(t.byID, old)
		}
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

// viewParams are what a view depends on besides the peer table.
type viewParams struct {
	peerTimeout   int64 // fresh: heard within this
	memberTimeout int64 // without membership: a member if heard within this
	reclaimAfter  int64 // a majority takes back the share of peers silent this long
	members       int   // other live members per membership; < 0 unknown
	clusterSize   int   // configured cluster size, this node included; 0 unknown
}

// view computes freshness and the available share at now.
//
// Members are membership's count (or, when unknown, the peers heard
// within memberTimeout). With a known cluster size two rules apply. A
// node that sees no majority of the cluster alive may be on the minority
// side of a partition: the members it cannot see keep their shares. A
// node whose recently heard peers (within reclaimAfter) still make a
// majority takes back the shares of the members that have gone silent
// (dead, or cut off in a minority that keeps to its own share), without
// waiting for membership to declare them dead.
func (t *peerTable) view(now int64, p viewParams) view {
	var v view
	known, recent := 0, 0
	n := int(t.n.Load())
	for i := 0; i < n; i++ {
		age := now - t.slots[i].lastSeen.Load()
		if age <= p.peerTimeout {
			v.fresh |= 1 << uint(i)
			v.nFresh++
		}
		if age <= p.memberTimeout {
			known++
		}
		if age <= p.reclaimAfter {
			recent++
		}
	}
	members := p.members
	if members < 0 {
		members = known
	}
	v.members = max(members, v.nFresh)
	switch size := p.clusterSize; {
	case size <= 0:
	case 2*(1+v.members) <= size:
		v.members = size - 1
	case 2*(1+recent) > size && recent < v.members:
		v.members = max(recent, v.nFresh)
	}
	v.scale = float64(1+v.nFresh) / float64(1+v.members)
	return v
}

// degraded reports whether the view holds back a share of the limit.
func (v *view) degraded() bool { return v.nFresh < v.members }

// fairShare is this node's share when it counts alone.
func (v *view) fairShare() float64 { return 1 / float64(1+v.members) }
