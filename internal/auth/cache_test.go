package auth

import (
	"fmt"
	"testing"
)

func TestTokenCacheBoundedAndExpiring(t *testing.T) {
	c := newTokenCache(640) // 10 per shard
	for i := range 10_000 {
		c.put(fmt.Sprint("token-", i), &verified{expires: 100}, 0)
	}
	if n := c.len(); n > 640 {
		t.Fatalf("cache holds %d tokens, cap 640", n)
	}
	c.put("live", &verified{expires: 100}, 0)
	if c.get("live", 99) == nil {
		t.Fatal("fresh entry missing")
	}
	if c.get("live", 100) != nil {
		t.Fatal("expired entry served")
	}
	// Expired entries are dropped first when a shard fills up.
	for i := range 10_000 {
		c.put(fmt.Sprint("new-", i), &verified{expires: 1000}, 200)
	}
	if n := c.len(); n > 640 {
		t.Fatalf("cache holds %d tokens, cap 640", n)
	}
}

func TestTokenCacheComparesWholeToken(t *testing.T) {
	c := newTokenCache(64)
	v := &verified{expires: 100}
	c.put("a", v, 0)
	s, h := c.locate("a")
	s.m[h] = cacheEntry{token: "b", v: v} // as if "b" collided with "a"
	if c.get("a", 0) != nil {
		t.Fatal("a colliding token was served for another")
	}
}
