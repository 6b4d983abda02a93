package limiter

import (
	"strings"
	"sync"
	"time"
)

// numShards is the number of independently locked maps, 1 << shardBits.
const (
	shardBits = 6
	numShards = 1 << shardBits
)

// touchEvery is how often a busy entry moves to the front of its
// recency list: often enough for expiry, which is measured in windows,
// rarely enough to keep the request path off other entries' cache lines.
const touchEvery = int64(50 * time.Millisecond)

// shard holds a slice of the tracked entries under one mutex. The map is
// keyed by the entry's 64-bit hash; entries whose hashes collide are
// chained through entry.hnext.
type shard struct {
	mu       sync.Mutex
	m        map[uint64]*entry
	n        int        // tracked entries
	lists    []*lruList // one recency list per window length
	dirty    []*entry   // entries with unsent own counts
	overflow map[entryKey]*entry
	_        [64]byte // keeps neighbouring shards' locks off one cache line
}

func (s *shard) init() {
	s.m = map[uint64]*entry{}
	s.overflow = map[entryKey]*entry{}
}

// lookup returns the entry for k (whose hash is h), creating it when there
// is room. It returns nil when the shard is full of unexpired entries.
func (s *shard) lookup(k *entryKey, h uint64, windowNs, now int64, capacity int) *entry {
	head := s.m[h]
	for e := head; e != nil; e = e.hnext {
		if e.k == *k {
			s.touch(e, now)
			return e
		}
	}
	if s.n >= capacity {
		if !s.evictOne(now) {
			return nil
		}
		head = s.m[h] // eviction may have changed the chain
	}
	epoch := now / windowNs
	stored := *k
	stored.key = strings.Clone(k.key) // callers may pass a key backed by a reused buffer
	e := &entry{k: stored, hash: h, windowNs: windowNs, epoch: epoch, lastEpoch: epoch, active: now, hnext: head}
	s.m[h] = e
	s.n++
	s.list(windowNs).pushFront(e)
	return e
}

// overflowEntry returns the local counter shared by untracked keys of the
// policy and window in k.
func (s *shard) overflowEntry(k entryKey, windowNs, now int64) *entry {
	k.key = ""
	e, ok := s.overflow[k]
	if !ok {
		epoch := now / windowNs
		e = &entry{k: k, windowNs: windowNs, epoch: epoch, lastEpoch: epoch, overflow: true}
		s.overflow[k] = e
	}
	e.active = now
	return e
}

func (s *shard) touch(e *entry, now int64) {
	if now-e.active >= touchEvery {
		e.active = now
		e.lru.moveToFront(e)
	}
}

func (s *shard) markDirty(e *entry) {
	if !e.dirty && !e.overflow {
		e.dirty = true
		s.dirty = append(s.dirty, e)
	}
}

// list returns the recency list for windowNs, creating it on first use.
func (s *shard) list(windowNs int64) *lruList {
	for _, l := range s.lists {
		if l.windowNs == windowNs {
			return l
		}
	}
	l := newLRUList(windowNs)
	s.lists = append(s.lists, l)
	return l
}

// evictOne removes one expired entry, the least recently used of a list.
func (s *shard) evictOne(now int64) bool {
	for _, l := range s.lists {
		if t := l.back(); t != nil && t.expired(now) {
			s.remove(t)
			return true
		}
	}
	return false
}

// sweep removes up to budget expired entries, oldest first, and returns
// how many.
func (s *shard) sweep(now int64, budget int) int {
	n := 0
	for _, l := range s.lists {
		for t := l.back(); t != nil && n < budget && t.expired(now); t = l.back() {
			s.remove(t)
			n++
		}
	}
	for k, e := range s.overflow {
		if e.expired(now) {
			delete(s.overflow, k)
		}
	}
	return n
}

func (s *shard) remove(e *entry) {
	switch head := s.m[e.hash]; {
	case head == e && e.hnext == nil:
		delete(s.m, e.hash)
	case head == e:
		s.m[e.hash] = e.hnext
	default:
		for p := head; p != nil; p = p.hnext {
			if p.hnext == e {
				p.hnext = e.hnext
				break
			}
		}
	}
	e.hnext = nil
	s.n--
	e.lru.unlink(e)
	e.dead = true
}

// lruList is a circular doubly linked list of entries, most recent first.
type lruList struct {
	windowNs int64
	root     entry
}

func newLRUList(windowNs int64) *lruList {
	l := &lruList{windowNs: windowNs}
	l.root.nextE, l.root.prevE = &l.root, &l.root
	return l
}

func (l *lruList) pushFront(e *entry) {
	e.lru = l
	e.prevE, e.nextE = &l.root, l.root.nextE
	l.root.nextE.prevE = e
	l.root.nextE = e
}

func (l *lruList) unlink(e *entry) {
	e.prevE.nextE, e.nextE.prevE = e.nextE, e.prevE
	e.prevE, e.nextE = nil, nil
}

func (l *lruList) moveToFront(e *entry) {
	if l.root.nextE == e {
		return
	}
	l.unlink(e)
	l.pushFront(e)
}

func (l *lruList) back() *entry {
	if l.root.prevE == &l.root {
		return nil
	}
	return l.root.prevE
}
