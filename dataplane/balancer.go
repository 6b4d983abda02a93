package dataplane

import (
	"fmt"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/tollgate/tollgate/store"
)

// balancer picks the target of one attempt among those available and not
// in tried (a bit per target index below 64). It returns nil when none is.
type balancer interface {
	pick(key uint64, tried uint64) *target
}

// newBalancer builds the balancer a service asks for.
func newBalancer(s *store.Service, targets []*target) (balancer, error) {
	switch s.Balancer {
	case "", store.BalancerRoundRobin:
		return &roundRobin{targets: targets, current: make([]int, len(targets))}, nil
	case store.BalancerLeastConnections:
		return &leastConn{targets: targets}, nil
	case store.BalancerConsistentHash:
		return newHashRing(targets), nil
	}
	return nil, fmt.Errorf("unknown balancer %q", s.Balancer)
}

// skip reports whether t may not be picked for this attempt.
func skip(t *target, tried uint64) bool {
	return (t.index < 64 && tried&(1<<t.index) != 0) || !t.available()
}

// roundRobin is nginx's smooth weighted round-robin: every pick adds each
// target's weight to its current weight, takes the highest and subtracts
// the total from it. Over any window of sum(weights) picks each target is
// chosen exactly weight times, spread out rather than in bursts.
type roundRobin struct {
	targets []*target
	mu      sync.Mutex
	current []int
}

func (b *roundRobin) pick(_ uint64, tried uint64) *target {
	b.mu.Lock()
	defer b.mu.Unlock()
	best, total := -1, 0
	for i, t := range b.targets {
		if skip(t, tried) {
			continue
		}
		b.current[i] += t.weight
		total += t.weight
		if best < 0 || b.current[i] > b.current[best] {
			best = i
		}
	}
	if best < 0 {
		return nil
	}
	b.current[best] -= total
	return b.targets[best]
}

// leastConn picks the target with the fewest requests in flight relative
// to its weight; ties go round the targets in turn.
type leastConn struct {
	targets []*target
	next    atomic.Uint64
}

func (b *leastConn) pick(_ uint64, tried uint64) *target {
	n := len(b.targets)
	start := int(b.next.Add(1) % uint64(n))
	var best *target
	var bestLoad int64
	for k := range n {
		t := b.targets[(start+k)%n]
		if skip(t, tried) {
			continue
		}
		load := t.inflight.Load()
		// load/weight < bestLoad/best.weight, without dividing.
		if best == nil || load*int64(best.weight) < bestLoad*int64(t.weight) {
			best, bestLoad = t, load
		}
	}
	return best
}

// hashRing is a consistent-hash ring: each target owns points in
// proportion to its weight; a key goes to the owner of the first point at
// or after it, skipping unavailable targets.
type hashRing struct {
	targets []*target
	points  []ringPoint // sorted by hash
}

type ringPoint struct {
	hash   uint64
	target *target
}

// pointsPerWeight is the ring points a target of weight 100 gets.
const pointsPerWeight = 160

func newHashRing(targets []*target) *hashRing {
	r := &hashRing{targets: targets}
	for _, t := range targets {
		n := t.weight * pointsPerWeight / store.DefaultTargetWeight
		if t.weight > 0 && n == 0 {
			n = 1
		}
		for i := range n {
			r.points = append(r.points, ringPoint{fnv1a(t.addr + "#" + strconv.Itoa(i)), t})
		}
	}
	sort.Slice(r.points, func(i, j int) bool { return r.points[i].hash < r.points[j].hash })
	return r
}

func (r *hashRing) pick(key uint64, tried uint64) *target {
	n := len(r.points)
	if n == 0 {
		return nil
	}
	lo, hi := 0, n // first point with hash >= key
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if r.points[mid].hash < key {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	i := lo
	for k := range n {
		t := r.points[(i+k)%n].target
		if !skip(t, tried) {
			return t
		}
	}
	return nil
}

// FNV-1a, 64 bit: stable across processes, so every node sends a key to
// the same target.
const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

func fnv1a(s string) uint64 {
	h := uint64(fnvOffset)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= fnvPrime
	}
	return mix64(h)
}

// mix64 spreads FNV's output over the ring (murmur3's finalizer).
func mix64(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}
