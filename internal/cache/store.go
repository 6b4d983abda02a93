package cache

import (
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// Store sizing.
const (
	// nodeOverhead is what a key is charged beyond its strings.
	nodeOverhead = 128
	// maxVariants bounds the responses kept per key (one per Vary value
	// set); the oldest is dropped beyond it.
	maxVariants = 16
)

// resource names what a cache key is for, so it can be purged by route
// or by path without parsing keys.
type resource struct {
	route string
	path  string // escaped path
	query string // raw query
}

// node is one cache key: the responses stored for it (one per set of
// Vary values), or a marker that its responses are not cacheable.
type node struct {
	key        string
	res        resource
	variants   []*entry  // oldest first
	passUntil  time.Time // misses are not coalesced before this
	size       int64     // charged against the cap
	counted    int       // variants counted in Store.entries
	prev, next *node     // LRU list; the most recently used follows the head
}

// Store holds the responses of one cache plugin instance: an LRU over
// keys with a cap on the bytes of all stored responses. It outlives
// config versions (see Registry). It is safe for concurrent use.
type Store struct {
	flights group // misses in flight, by key

	mu        sync.Mutex
	limit     int64
	used      int64
	entries   int
	evictions uint64
	nodes     map[string]*node
	byPath    map[resource]map[*node]struct{} // query ""
	head      node                            // sentinel of the LRU ring
}

// Stats describe a Store.
type Stats struct {
	// Keys is the number of cache keys held; Entries the number of
	// responses (a key has one per Vary value set).
	Keys, Entries int
	// Bytes is what the responses are charged; Limit is the cap.
	Bytes, Limit int64
	// Evictions counts the keys dropped to stay under Limit.
	Evictions uint64
}

// NewStore returns an empty Store that holds at most limit bytes.
func NewStore(limit int64) *Store {
	s := &Store{limit: limit, nodes: map[string]*node{}, byPath: map[resource]map[*node]struct{}{}}
	s.head.prev, s.head.next = &s.head, &s.head
	s.flights.m = map[string]*flight{}
	return s
}

// Stats returns the Store's current size.
func (s *Store) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{Keys: len(s.nodes), Entries: s.entries, Bytes: s.used, Limit: s.limit, Evictions: s.evictions}
}

// SetLimit changes the cap, evicting what no longer fits.
func (s *Store) SetLimit(limit int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.limit = limit
	s.evict(nil)
}

// get returns the most recent response stored under key that matches a
// request with the header h, and whether misses on the key are currently
// not coalesced. A hit makes the key the most recently used.
func (s *Store) get(key string, h http.Header, now time.Time) (*entry, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.nodes[key]
	if n == nil {
		return nil, false
	}
	s.moveToFront(n)
	pass := now.Before(n.passUntil)
	for i := len(n.variants) - 1; i >= 0; i-- {
		if e := n.variants[i]; e.matches(h) {
			return e, pass
		}
	}
	return nil, pass
}

// put stores e under key, replacing the response with the same Vary
// values, and evicts the least recently used keys to stay under the cap.
// It reports false when e alone would not fit.
func (s *Store) put(key string, res resource, e *entry) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e.size+nodeSize(key, res) > s.limit {
		return false
	}
	n := s.node(key, res)
	keep := n.variants[:0]
	for _, old := range n.variants {
		// A response with other Vary fields replaces them all.
		if slices.Equal(old.vary, e.vary) && !old.sameVary(e) {
			keep = append(keep, old)
		}
	}
	clear(n.variants[len(keep):])
	n.variants = append(keep, e)
	if len(n.variants) > maxVariants {
		n.variants = append(n.variants[:0], n.variants[1:]...)
	}
	n.passUntil = time.Time{}
	s.resize(n)
	s.evict(n)
	return true
}

// markPass stops coalescing misses on key until until: its responses
// turned out not to be cacheable. Stored variants stay.
func (s *Store) markPass(key string, res resource, until time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if nodeSize(key, res) > s.limit {
		return
	}
	n := s.node(key, res)
	n.passUntil = until
	s.resize(n)
	s.evict(n)
}

// remove drops key and everything stored under it.
func (s *Store) remove(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := s.nodes[key]; n != nil {
		s.drop(n)
	}
}

// node returns the node of key, creating it at the front of the LRU.
// The caller holds s.mu.
func (s *Store) node(key string, res resource) *node {
	if n := s.nodes[key]; n != nil {
		s.moveToFront(n)
		return n
	}
	// Copies: the request's strings may be slices of its whole head.
	key, res.path, res.query = strings.Clone(key), strings.Clone(res.path), strings.Clone(res.query)
	n := &node{key: key, res: res}
	s.nodes[key] = n
	p := resource{route: res.route, path: res.path}
	if s.byPath[p] == nil {
		s.byPath[p] = map[*node]struct{}{}
	}
	s.byPath[p][n] = struct{}{}
	n.prev, n.next = &s.head, s.head.next
	n.prev.next, n.next.prev = n, n
	return n
}

// resize recomputes n's size and the totals. The caller holds s.mu.
func (s *Store) resize(n *node) {
	size := nodeSize(n.key, n.res)
	for _, e := range n.variants {
		size += e.size
	}
	s.used += size - n.size
	s.entries += len(n.variants) - n.counted
	n.size, n.counted = size, len(n.variants)
}

// evict drops least recently used keys, never keep, until the store is
// under its cap. The caller holds s.mu.
func (s *Store) evict(keep *node) {
	for s.used > s.limit {
		victim := s.head.prev
		if victim == keep {
			victim = victim.prev
		}
		if victim == &s.head {
			return
		}
		s.drop(victim)
		s.evictions++
	}
}

// drop unlinks n and forgets it. The caller holds s.mu.
func (s *Store) drop(n *node) {
	n.prev.next, n.next.prev = n.next, n.prev
	n.prev, n.next = nil, nil
	delete(s.nodes, n.key)
	p := resource{route: n.res.route, path: n.res.path}
	delete(s.byPath[p], n)
	if len(s.byPath[p]) == 0 {
		delete(s.byPath, p)
	}
	s.used -= n.size
	s.entries -= n.counted
}

// moveToFront marks n the most recently used. The caller holds s.mu.
func (s *Store) moveToFront(n *node) {
	if s.head.next == n {
		return
	}
	n.prev.next, n.next.prev = n.next, n.prev
	n.prev, n.next = &s.head, s.head.next
	n.prev.next, n.next.prev = n, n
}

// nodeSize is what a key is charged without its responses.
func nodeSize(key string, res resource) int64 {
	return nodeOverhead + int64(len(key)+len(res.route)+len(res.path)+len(res.query))
}
