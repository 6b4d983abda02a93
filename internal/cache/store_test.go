package cache

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// testEntry is a stored response with a body of n bytes, for a request
// with the header req.
func testEntry(n int, h, req http.Header) *entry {
	if h == nil {
		h = http.Header{}
	}
	return newEntry(200, h, make([]byte, n), req, freshness{lifetime: time.Minute, explicit: true}, 0, time.Now())
}

func res(route, target string) resource {
	path, query, _ := strings.Cut(target, "?")
	return resource{route: route, path: path, query: query}
}

func TestStoreLRUEvictionUnderByteCap(t *testing.T) {
	one := testEntry(1000, nil, nil).size + nodeSize("k0", res("r", "/0"))
	s := NewStore(3 * one)
	for i := range 3 {
		if !s.put(fmt.Sprintf("k%d", i), res("r", fmt.Sprintf("/%d", i)), testEntry(1000, nil, nil)) {
			t.Fatalf("put %d failed", i)
		}
	}
	if st := s.Stats(); st.Keys != 3 || st.Bytes != 3*one || st.Evictions != 0 {
		t.Fatalf("stats = %+v", st)
	}
	if e, _ := s.get("k0", nil, time.Now()); e == nil { // k0 becomes the most recent
		t.Fatal("k0 missing")
	}
	s.put("k3", res("r", "/3"), testEntry(1000, nil, nil))
	if e, _ := s.get("k1", nil, time.Now()); e != nil {
		t.Fatal("k1, the least recently used, was not evicted")
	}
	for _, k := range []string{"k0", "k2", "k3"} {
		if e, _ := s.get(k, nil, time.Now()); e == nil {
			t.Fatalf("%s was evicted", k)
		}
	}
	if st := s.Stats(); st.Bytes > st.Limit || st.Evictions != 1 {
		t.Fatalf("stats = %+v", st)
	}
	if s.put("big", res("r", "/big"), testEntry(int(3*one), nil, nil)) {
		t.Fatal("an entry larger than the cap was stored")
	}
	s.SetLimit(one)
	if st := s.Stats(); st.Keys != 1 || st.Bytes > one {
		t.Fatalf("after SetLimit: %+v", st)
	}
}

func TestStoreVariants(t *testing.T) {
	s := NewStore(1 << 20)
	vary := http.Header{"Vary": {"Accept-Language"}}
	en, fr := http.Header{"Accept-Language": {"en"}}, http.Header{"Accept-Language": {"fr"}}
	s.put("k", res("r", "/"), testEntry(1, vary.Clone(), en))
	s.put("k", res("r", "/"), testEntry(2, vary.Clone(), fr))
	if st := s.Stats(); st.Keys != 1 || st.Entries != 2 {
		t.Fatalf("stats = %+v", st)
	}
	if e, _ := s.get("k", fr, time.Now()); e == nil || len(e.body) != 2 {
		t.Fatal("fr variant not found")
	}
	if e, _ := s.get("k", http.Header{"Accept-Language": {"de"}}, time.Now()); e != nil {
		t.Fatal("de matched a variant")
	}
	s.put("k", res("r", "/"), testEntry(3, vary.Clone(), en)) // replaces en
	if st := s.Stats(); st.Entries != 2 {
		t.Fatalf("a new en response did not replace the old: %+v", st)
	}
	s.put("k", res("r", "/"), testEntry(4, nil, en)) // Vary gone: replaces all
	if st := s.Stats(); st.Entries != 1 {
		t.Fatalf("a response with another Vary kept the old variants: %+v", st)
	}
	for i := range maxVariants + 3 {
		s.put("k", res("r", "/"), testEntry(1, vary.Clone(), http.Header{"Accept-Language": {fmt.Sprint(i)}}))
	}
	if st := s.Stats(); st.Entries != maxVariants {
		t.Fatalf("variants = %d, want %d", st.Entries, maxVariants)
	}
}

func TestStorePassMarker(t *testing.T) {
	s := NewStore(1 << 20)
	now := time.Now()
	s.markPass("k", res("r", "/"), now.Add(time.Minute))
	if e, pass := s.get("k", nil, now); e != nil || !pass {
		t.Fatalf("get = %v, %v; want a pass marker", e, pass)
	}
	if _, pass := s.get("k", nil, now.Add(2*time.Minute)); pass {
		t.Fatal("the marker did not expire")
	}
	s.put("k", res("r", "/"), testEntry(1, nil, nil))
	if e, pass := s.get("k", nil, now); e == nil || pass {
		t.Fatal("storing a response did not clear the marker")
	}
}

func TestStorePurge(t *testing.T) {
	s := NewStore(1 << 20)
	put := func(key, route, target string) { s.put(key, res(route, target), testEntry(1, nil, nil)) }
	fill := func() {
		put("a1", "a", "/items")
		put("a2", "a", "/items?page=2")
		put("a3", "a", "/other")
		put("b1", "b", "/items")
	}
	fill()
	if n := s.PurgeKey("a", "/items?page=2"); n != 1 {
		t.Fatalf("exact target purged %d", n)
	}
	if n := s.PurgeKey("a", "/items"); n != 1 {
		t.Fatalf("path purged %d, want a1", n)
	}
	if n := s.PurgeRoute("a"); n != 1 {
		t.Fatalf("route purged %d, want a3", n)
	}
	fill()
	if n := s.PurgeKey("", "/items"); n != 3 {
		t.Fatalf("path on every route purged %d", n)
	}
	if n := s.invalidate(res("a", "/other")); n != 1 {
		t.Fatalf("invalidate dropped %d", n)
	}
	if n := s.PurgeAll(); n != 0 {
		t.Fatalf("PurgeAll dropped %d, want 0 left", n)
	}
	if st := s.Stats(); st.Keys != 0 || st.Bytes != 0 || st.Entries != 0 {
		t.Fatalf("accounting after purges: %+v", st)
	}
}

func TestStoreConcurrent(t *testing.T) {
	s := NewStore(50_000)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				k := fmt.Sprintf("k%d", (g*7+i)%40)
				s.put(k, res("r", "/"+k), testEntry(i%3000, nil, nil))
				s.get(k, nil, time.Now())
				if i%50 == 0 {
					s.PurgeKey("r", "/"+k)
				}
			}
		})
	}
	wg.Wait()
	if st := s.Stats(); st.Bytes > st.Limit || st.Bytes < 0 {
		t.Fatalf("stats = %+v", st)
	}
}

func TestRegistryKeepsStoresAcrossVersions(t *testing.T) {
	r := NewRegistry()
	s1 := r.acquire("cache@route:a", "", 1000)
	s2 := r.acquire("cache@route:a", "", 2000) // the next version
	if s1 != s2 || s2.Stats().Limit != 2000 {
		t.Fatal("a new version got a new store")
	}
	r.release("cache@route:a", s1) // the old version closes
	if r.Store("cache@route:a") != s1 {
		t.Fatal("the store was dropped while a version still uses it")
	}
	s3 := r.acquire("cache@route:a", "X-Tenant", 2000)
	if s3 == s2 {
		t.Fatal("new key parts kept the old store")
	}
	r.release("cache@route:a", s2) // stale release of the replaced store
	if r.Store("cache@route:a") != s3 {
		t.Fatal("releasing a replaced store dropped the new one")
	}
	r.release("cache@route:a", s3)
	if r.Store("cache@route:a") != nil || len(r.IDs()) != 0 {
		t.Fatal("a store no version uses was kept")
	}
}
