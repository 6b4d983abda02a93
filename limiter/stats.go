package limiter

import (
	"sync/atomic"
	"time"
)

// counters are the limiter's running totals.
type counters struct {
	overflowed, sent, sendErrors, received, malformed, dropped atomic.Uint64
	echoesSent, echoesMerged                                   atomic.Uint64
}

// Stats is a snapshot of the limiter's state, for metrics and tests.
type Stats struct {
	// Keys is the number of tracked (policy, key, window) entries.
	Keys int
	// FreshPeers is the number of peers heard within PeerTimeout.
	FreshPeers int
	// Members is the number of other live members used for fair shares.
	Members int
	// Overflowed counts decisions made on the overflow counter because
	// the key cap was reached.
	Overflowed uint64
	// Sent and SendErrors count gossip messages sent and failed.
	Sent, SendErrors uint64
	// Received counts accepted gossip messages; Malformed the rejected.
	Received, Malformed uint64
	// Dropped counts peer counters not merged (key cap or peer cap).
	Dropped uint64
	// EchoesSent counts messages echoing a restarted peer's counts back
	// to it; EchoesMerged those received and merged here (see echo.go).
	EchoesSent, EchoesMerged uint64
	// Peers is, for each peer heard from (its current incarnation), how
	// long ago its last message arrived: the age of its counts here.
	Peers []PeerAge
}

// PeerAge is the time since a peer's last gossip message.
type PeerAge struct {
	ID  string
	Age time.Duration
}

// Stats returns current counts; it takes every shard lock briefly.
func (l *Limiter) Stats() Stats {
	v := l.view(l.now().UnixNano())
	st := Stats{
		FreshPeers:   v.nFresh,
		Members:      v.members,
		Overflowed:   l.stats.overflowed.Load(),
		Sent:         l.stats.sent.Load(),
		SendErrors:   l.stats.sendErrors.Load(),
		Received:     l.stats.received.Load(),
		Malformed:    l.stats.malformed.Load(),
		Dropped:      l.stats.dropped.Load(),
		EchoesSent:   l.stats.echoesSent.Load(),
		EchoesMerged: l.stats.echoesMerged.Load(),
	}
	st.Peers = l.peers.ages(l.now().UnixNano())
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		st.Keys += s.n
		s.mu.Unlock()
	}
	return st
}
