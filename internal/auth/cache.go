package auth

import (
	"hash/maphash"
	"strings"
	"sync"
)

// cacheShards spreads the verified-token cache over independently locked
// maps so that concurrent requests rarely share a lock.
const cacheShards = 64

// verified is the outcome of verifying one token under one policy. It is
// immutable once cached.
type verified struct {
	expires  int64 // Unix nanoseconds after which the token is no longer valid
	consumer string
	scopesOK bool      // the token has every required scope
	headers  []stamped // identity and claim headers for the upstream
	// err is why the token was refused, in the negative cache; nil in
	// the cache of verified tokens.
	err error
}

// stamp sets the token's headers on h, without allocating.
func (v *verified) stamp(h map[string][]string) {
	for _, s := range v.headers {
		h[s.name] = s.values
	}
}

// tokenCache maps raw token strings to their verification, bounded in
// size. A lookup hashes the token once with maphash, which picks the shard
// and keys its map; the entry keeps the token, compared in full, so two
// tokens whose hashes collide are never confused (the later one simply
// replaces the earlier). Lookups do not allocate.
type tokenCache struct {
	seed     maphash.Seed
	perShard int
	shards   [cacheShards]cacheShard
}

type cacheShard struct {
	mu sync.RWMutex
	m  map[uint64]cacheEntry
	_  [32]byte // keep shards on separate cache lines
}

type cacheEntry struct {
	token string
	v     *verified
}

func newTokenCache(size int) *tokenCache {
	c := &tokenCache{seed: maphash.MakeSeed(), perShard: max(size/cacheShards, 1)}
	for i := range c.shards {
		c.shards[i].m = make(map[uint64]cacheEntry)
	}
	return c
}

func (c *tokenCache) locate(token string) (*cacheShard, uint64) {
	h := maphash.String(c.seed, token)
	return &c.shards[h%cacheShards], h
}

// get returns the verification of token if it is cached and still valid
// at now (Unix nanoseconds).
func (c *tokenCache) get(token string, now int64) *verified {
	s, h := c.locate(token)
	s.mu.RLock()
	e := s.m[h]
	s.mu.RUnlock()
	if e.v == nil || e.token != token || now >= e.v.expires {
		return nil
	}
	return e.v
}

// put caches v for token. A full shard first drops its expired entries,
// then, if still full, an eighth of its entries.
func (c *tokenCache) put(token string, v *verified, now int64) {
	s, h := c.locate(token)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, replace := s.m[h]; !replace && len(s.m) >= c.perShard {
		s.evict(now, c.perShard)
	}
	s.m[h] = cacheEntry{token: strings.Clone(token), v: v}
}

// evict drops expired entries and, if the shard is still full, perShard/8
// (at least one) arbitrary ones: Go's map iteration order is unspecified,
// so which is as good as random. The caller holds s.mu.
func (s *cacheShard) evict(now int64, perShard int) {
	for k, e := range s.m {
		if now >= e.v.expires {
			delete(s.m, k)
		}
	}
	if len(s.m) < perShard {
		return
	}
	drop := max(perShard/8, 1)
	for k := range s.m {
		if drop <= 0 {
			break
		}
		delete(s.m, k)
		drop--
	}
}

// len returns the number of cached tokens.
func (c *tokenCache) len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.RLock()
		n += len(s.m)
		s.mu.RUnlock()
	}
	return n
}
