package limiter

import (
	"context"
	"crypto/sha256"
	"hash/maphash"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// Limiter decides rate limits locally from its own counts and its peers'
// gossiped counts. It is safe for concurrent use.
type Limiter struct {
	opts        Options
	log         *slog.Logger
	now         func() time.Time
	incarnation uint64
	seed        maphash.Seed

	shards   [numShards]shard
	perShard int // tracked entries allowed per shard

	peers   *peerTable
	members atomic.Int64 // other live members; -1 when unknown
	// clusterSize is the configured cluster size; 0 when unknown.
	clusterSize atomic.Int64

	peerTimeoutNs, memberTimeoutNs, reclaimAfterNs int64

	sync  syncState
	stats counters

	startOnce, closeOnce sync.Once
	cancel               context.CancelFunc
	done                 chan struct{}
}

// New returns a Limiter; call Start to gossip and Close to stop.
func New(opts Options) (*Limiter, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	l := &Limiter{
		opts:            opts,
		log:             opts.Logger.With("component", "limiter"),
		now:             opts.Now,
		incarnation:     rand.Uint64(),
		seed:            maphash.MakeSeed(),
		perShard:        max(opts.MaxKeys/numShards, 1),
		peers:           newPeerTable(),
		peerTimeoutNs:   int64(opts.PeerTimeout),
		memberTimeoutNs: int64(opts.MemberTimeout),
		reclaimAfterNs:  int64(opts.ReclaimAfter),
		done:            make(chan struct{}),
	}
	for i := range l.shards {
		l.shards[i].init()
	}
	l.members.Store(-1)
	l.refreshMembers()
	return l, nil
}

// Channel is the gossip channel the limiter sends on; register
// HandleMessage for it on the transport.
func (l *Limiter) Channel() byte { return l.opts.Channel }

// Start runs the sync loop (gossip, membership refresh, expiry) every
// SyncInterval until ctx ends or Close is called. Calls after the first,
// or after Close, do nothing.
func (l *Limiter) Start(ctx context.Context) {
	l.startOnce.Do(func() {
		ctx, l.cancel = context.WithCancel(ctx)
		go l.loop(ctx)
	})
}

func (l *Limiter) loop(ctx context.Context) {
	defer close(l.done)
	t := time.NewTicker(l.opts.SyncInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			l.tick()
		}
	}
}

// Close stops the sync loop started by Start and waits for it to return.
func (l *Limiter) Close() {
	l.closeOnce.Do(func() {
		started := true
		l.startOnce.Do(func() { started = false })
		if started {
			l.cancel()
			<-l.done
		}
	})
}

// Allow decides one request for key under p, and counts it if allowed.
// It makes no network call and, for a tracked key, no allocation. The
// key is copied when first stored, so it may be backed by a buffer the
// caller reuses. Keys
// longer than MaxKeyLen are replaced by their SHA-256 digest (one
// allocation). A policy that does not Validate is denied with a
// RetryAfter of one second.
func (l *Limiter) Allow(p *Policy, key string) Decision {
	if !p.valid() {
		return Decision{Limit: max(p.Limit, 0), RetryAfter: time.Second}
	}
	now := l.now().UnixNano()
	v := l.view(now)
	if len(key) > MaxKeyLen {
		key = digestKey(key)
	}
	k := entryKey{policy: p.ID, windowMs: int64(p.Window / time.Millisecond), key: key}
	windowNs := int64(p.Window)
	h := l.hash(&k)
	s := &l.shards[h>>(64-shardBits)]
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.lookup(&k, h, windowNs, now, l.perShard)
	if e == nil {
		l.stats.overflowed.Add(1)
		e = s.overflowEntry(k, windowNs, now)
	}
	return l.decide(s, e, p.Limit, now, &v)
}

// view is the peer state for a decision at now.
func (l *Limiter) view(now int64) view {
	return l.peers.view(now, viewParams{peerTimeout: l.peerTimeoutNs, memberTimeout: l.memberTimeoutNs,
		reclaimAfter: l.reclaimAfterNs, members: int(l.members.Load()), clusterSize: int(l.clusterSize.Load())})
}

// hash is the 64-bit hash of k with a per-process seed; its top bits
// pick the shard.
func (l *Limiter) hash(k *entryKey) uint64 {
	h := maphash.String(l.seed, k.key)
	h ^= (uint64(k.policy)<<40 ^ uint64(k.windowMs)) * 0x9e3779b97f4a7c15
	h ^= h >> 29
	return h * 0xbf58476d1ce4e5b9
}

// digestKey maps a long key to a fixed-length one, the same on every node.
func digestKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	b := make([]byte, 0, 1+len(sum))
	return string(append(append(b, 0xff), sum[:]...))
}
