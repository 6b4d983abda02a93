package cache

import (
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"
)

// counter is an upstream that answers with the given Cache-Control and
// a body that counts its calls.
func counter(t *testing.T, clock *fakeClock, cacheControl string) *upstream {
	var u *upstream
	u = newUpstream(t, clock, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", cacheControl)
		fmt.Fprintf(w, "call %d", u.calls.Load())
	})
	return u
}

func TestHitMissBypassAndAge(t *testing.T) {
	clock := newClock()
	up := counter(t, clock, "max-age=60")
	gw := startGateway(t, clock, up.URL, `{}`, nil)

	_, body := gw.get(t, "/a", StatusMiss)
	if body != "call 1" || gw.lastStatus() != StatusMiss {
		t.Fatalf("miss: body %q, CacheStatus %q", body, gw.lastStatus())
	}
	resp, body := gw.get(t, "/a", StatusHit)
	if body != "call 1" || resp.Header.Get("Age") != "0" || gw.lastStatus() != StatusHit {
		t.Fatalf("hit: body %q, Age %q, CacheStatus %q", body, resp.Header.Get("Age"), gw.lastStatus())
	}
	if resp.Header.Get("X-Request-Id") == "" || resp.Header.Get("Cache-Control") != "max-age=60" {
		t.Fatalf("hit header: %v", resp.Header)
	}
	clock.Advance(42 * time.Second)
	if resp, _ := gw.get(t, "/a", StatusHit); resp.Header.Get("Age") != "42" {
		t.Fatalf("Age = %q, want 42", resp.Header.Get("Age"))
	}
	gw.get(t, "/a?x=1", StatusMiss) // the query is part of the key
	resp, _ = gw.do(t, http.MethodPost, "/b")
	if resp.Header.Get("X-Cache") != StatusBypass || gw.lastStatus() != StatusBypass {
		t.Fatalf("POST: X-Cache %q, CacheStatus %q", resp.Header.Get("X-Cache"), gw.lastStatus())
	}
	gw.get(t, "/a", StatusBypass, "Cache-Control", "no-store")
	gw.get(t, "/a", StatusBypass, "Range", "bytes=0-1")
	clock.Advance(20 * time.Second) // 62s old: stale, and no validator
	if _, body := gw.get(t, "/a", StatusMiss); body != "call 6" {
		t.Fatalf("stale refetch body %q", body)
	}
	if n := up.calls.Load(); n != 6 {
		t.Fatalf("upstream calls = %d, want 6", n)
	}
}

// TestDirectivesThroughGateway shows, for each Cache-Control directive
// and Expires, what a second request gets.
func TestDirectivesThroughGateway(t *testing.T) {
	cases := []struct {
		name    string
		config  string
		header  map[string]string // the upstream's
		advance time.Duration     // between the two requests
		req     []string          // the second request's header
		second  string            // its X-Cache
		calls   int64
	}{
		{"max-age", `{}`, map[string]string{"Cache-Control": "max-age=60"}, 59 * time.Second, nil, StatusHit, 1},
		{"max-age expired", `{}`, map[string]string{"Cache-Control": "max-age=60"}, 60 * time.Second, nil, StatusMiss, 2},
		{"s-maxage", `{}`, map[string]string{"Cache-Control": "s-maxage=30, max-age=600"}, 31 * time.Second, nil, StatusMiss, 2},
		{"max_ttl caps max-age", `{"max_ttl":"10s"}`, map[string]string{"Cache-Control": "max-age=600"}, 11 * time.Second, nil, StatusMiss, 2},
		{"no-store", `{"ttl":"1m"}`, map[string]string{"Cache-Control": "no-store"}, 0, nil, StatusMiss, 2},
		{"private", `{"ttl":"1m"}`, map[string]string{"Cache-Control": "private, max-age=60"}, 0, nil, StatusMiss, 2},
		{"no-cache without validator", `{}`, map[string]string{"Cache-Control": "no-cache, max-age=60"}, 0, nil, StatusMiss, 2},
		{"no-cache with ETag: revalidated", `{}`, map[string]string{"Cache-Control": "no-cache", "Etag": `"e"`}, 0, nil, StatusHit, 2},
		{"max-age=0", `{}`, map[string]string{"Cache-Control": "max-age=0"}, 0, nil, StatusMiss, 2},
		{"Expires", `{}`, map[string]string{"Expires": "+30"}, 29 * time.Second, nil, StatusHit, 1},
		{"Expires passed", `{}`, map[string]string{"Expires": "+30"}, 31 * time.Second, nil, StatusMiss, 2},
		{"no freshness, ttl 0", `{}`, nil, 0, nil, StatusMiss, 2},
		{"no freshness, default ttl", `{"ttl":"30s"}`, nil, 29 * time.Second, nil, StatusHit, 1},
		{"request no-cache", `{}`, map[string]string{"Cache-Control": "max-age=60"}, 0, []string{"Cache-Control", "no-cache"}, StatusMiss, 2},
		{"request Pragma no-cache", `{}`, map[string]string{"Cache-Control": "max-age=60"}, 0, []string{"Pragma", "no-cache"}, StatusMiss, 2},
		{"request max-age", `{}`, map[string]string{"Cache-Control": "max-age=60"}, 10 * time.Second, []string{"Cache-Control", "max-age=5"}, StatusMiss, 2},
		{"request no-store", `{}`, map[string]string{"Cache-Control": "max-age=60"}, 0, []string{"Cache-Control", "no-store"}, StatusBypass, 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			clock := newClock()
			up := newUpstream(t, clock, func(w http.ResponseWriter, r *http.Request) {
				for k, v := range c.header {
					if k == "Expires" {
						secs, _ := strconv.Atoi(v)
						v = clock.Now().Add(time.Duration(secs) * time.Second).Format(http.TimeFormat)
					}
					w.Header().Set(k, v)
				}
				if r.Header.Get("If-None-Match") == c.header["Etag"] && c.header["Etag"] != "" {
					w.WriteHeader(http.StatusNotModified)
					return
				}
				fmt.Fprint(w, "body")
			})
			gw := startGateway(t, clock, up.URL, c.config, nil)
			gw.get(t, "/", StatusMiss)
			clock.Advance(c.advance)
			if _, body := gw.get(t, "/", c.second, c.req...); body != "body" {
				t.Fatalf("body %q", body)
			}
			if n := up.calls.Load(); n != c.calls {
				t.Fatalf("upstream calls = %d, want %d", n, c.calls)
			}
		})
	}
}

func TestVary(t *testing.T) {
	clock := newClock()
	up := newUpstream(t, clock, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Vary", "Accept-Language")
		fmt.Fprintf(w, "lang=%s", r.Header.Get("Accept-Language"))
	})
	gw := startGateway(t, clock, up.URL, `{}`, nil)
	steps := []struct{ lang, xcache string }{
		{"en", StatusMiss}, {"fr", StatusMiss}, {"en", StatusHit}, {"fr", StatusHit}, {"", StatusMiss}, {"", StatusHit},
	}
	for _, s := range steps {
		var hdr []string
		if s.lang != "" {
			hdr = []string{"Accept-Language", s.lang}
		}
		if _, body := gw.get(t, "/v", s.xcache, hdr...); body != "lang="+s.lang {
			t.Fatalf("Accept-Language %q got %q", s.lang, body)
		}
	}
	if n := up.calls.Load(); n != 3 {
		t.Fatalf("upstream calls = %d, want 3", n)
	}
}

// TestAuthorizationRule: a response to a request with credentials is
// stored only when it says public, s-maxage or must-revalidate; private
// is never stored.
func TestAuthorizationRule(t *testing.T) {
	cases := []struct {
		cacheControl string
		hdr          []string
		stored       bool
	}{
		{"max-age=60", []string{"Authorization", "Bearer t"}, false},
		{"public, max-age=60", []string{"Authorization", "Bearer t"}, true},
		{"s-maxage=60", []string{"Authorization", "Bearer t"}, true},
		{"must-revalidate, max-age=60", []string{"Authorization", "Bearer t"}, true},
		{"max-age=60", []string{"X-Test-Consumer", "alice"}, false}, // auth removed Authorization
		{"public, max-age=60", []string{"X-Test-Consumer", "alice"}, true},
		{"private, max-age=60", nil, false},
		{"private, public, s-maxage=60", []string{"Authorization", "Bearer t"}, false},
		{"max-age=60", nil, true},
	}
	for _, c := range cases {
		t.Run(c.cacheControl+fmt.Sprint(c.hdr), func(t *testing.T) {
			clock := newClock()
			up := newUpstream(t, clock, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Cache-Control", c.cacheControl)
				fmt.Fprint(w, "secret")
			})
			gw := startGateway(t, clock, up.URL, `{"ttl":"1m"}`, asConsumer{})
			gw.get(t, "/me", StatusMiss, c.hdr...)
			want := StatusMiss
			if c.stored {
				want = StatusHit
			}
			gw.get(t, "/me", want, c.hdr...)
		})
	}
}

func TestKeyPartsIsolateCallers(t *testing.T) {
	clock := newClock()
	up := newUpstream(t, clock, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=60")
		fmt.Fprintf(w, "%s/%s", r.Header.Get("X-Test-Consumer"), r.Header.Get("X-Tenant"))
	})
	gw := startGateway(t, clock, up.URL, `{"key":["consumer","header:x-tenant"]}`, asConsumer{})
	for _, who := range [][2]string{{"alice", "t1"}, {"bob", "t1"}, {"alice", "t2"}} {
		gw.get(t, "/p", StatusMiss, "X-Test-Consumer", who[0], "X-Tenant", who[1])
	}
	for _, who := range [][2]string{{"alice", "t1"}, {"bob", "t1"}, {"alice", "t2"}} {
		if _, body := gw.get(t, "/p", StatusHit, "X-Test-Consumer", who[0], "X-Tenant", who[1]); body != who[0]+"/"+who[1] {
			t.Fatalf("%v got %q", who, body)
		}
	}
}

func TestHeadRequests(t *testing.T) {
	clock := newClock()
	up := newUpstream(t, clock, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Content-Length", "5")
		if r.Method == http.MethodGet {
			fmt.Fprint(w, "hello")
		}
	})
	gw := startGateway(t, clock, up.URL, `{}`, nil)
	resp, _ := gw.do(t, http.MethodHead, "/h")
	if resp.Header.Get("X-Cache") != StatusMiss {
		t.Fatalf("first HEAD: %q", resp.Header.Get("X-Cache"))
	}
	resp, _ = gw.do(t, http.MethodHead, "/h")
	if resp.Header.Get("X-Cache") != StatusHit || resp.ContentLength != 5 {
		t.Fatalf("second HEAD: %q, length %d", resp.Header.Get("X-Cache"), resp.ContentLength)
	}
	gw.get(t, "/g", StatusMiss)
	resp, body := gw.do(t, http.MethodHead, "/g") // answered by the GET response
	if resp.Header.Get("X-Cache") != StatusHit || body != "" || resp.ContentLength != 5 {
		t.Fatalf("HEAD after GET: %q, body %q, length %d", resp.Header.Get("X-Cache"), body, resp.ContentLength)
	}
	if n := up.calls.Load(); n != 2 {
		t.Fatalf("upstream calls = %d, want 2", n)
	}
}

func TestUnsafeRequestInvalidates(t *testing.T) {
	clock := newClock()
	up := counter(t, clock, "max-age=60")
	gw := startGateway(t, clock, up.URL, `{}`, nil)
	gw.get(t, "/item", StatusMiss)
	gw.get(t, "/item", StatusHit)
	gw.get(t, "/item?v=2", StatusMiss)
	if resp, _ := gw.do(t, http.MethodPut, "/item"); resp.Header.Get("X-Cache") != StatusBypass {
		t.Fatalf("PUT: X-Cache %q", resp.Header.Get("X-Cache"))
	}
	gw.get(t, "/item", StatusMiss)
	gw.get(t, "/item?v=2", StatusHit) // another target
}

func TestPurge(t *testing.T) {
	clock := newClock()
	up := counter(t, clock, "max-age=60")
	gw := startGateway(t, clock, up.URL, `{}`, nil)
	for _, p := range []string{"/a", "/a?page=2", "/b"} {
		gw.get(t, p, StatusMiss)
	}
	if n := gw.reg.PurgeKey("route", "/a?page=2"); n != 1 {
		t.Fatalf("PurgeKey dropped %d", n)
	}
	gw.get(t, "/a", StatusHit)
	gw.get(t, "/a?page=2", StatusMiss)
	if n := gw.reg.PurgeKey("other-route", "/a"); n != 0 {
		t.Fatalf("PurgeKey of another route dropped %d", n)
	}
	if n := gw.reg.PurgeRoute("route"); n != 3 {
		t.Fatalf("PurgeRoute dropped %d", n)
	}
	gw.get(t, "/b", StatusMiss)
}
