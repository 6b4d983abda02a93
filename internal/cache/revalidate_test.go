package cache

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"
)

// versioned is an upstream serving one representation with an ETag,
// max-age=10, that answers If-None-Match itself.
type versioned struct {
	*upstream
	mu      sync.Mutex
	version string
}

func newVersioned(t *testing.T, clock *fakeClock) *versioned {
	v := &versioned{version: "v1"}
	v.upstream = newUpstream(t, clock, func(w http.ResponseWriter, r *http.Request) {
		v.mu.Lock()
		etag := `"` + v.version + `"`
		v.mu.Unlock()
		w.Header().Set("Etag", etag)
		w.Header().Set("Cache-Control", "max-age=10")
		if r.Header.Get("If-None-Match") == etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		fmt.Fprint(w, "body of "+etag)
	})
	return v
}

func (v *versioned) set(version string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.version = version
}

func TestETagRevalidation(t *testing.T) {
	clock := newClock()
	up := newVersioned(t, clock)
	gw := startGateway(t, clock, up.URL, `{}`, nil)

	gw.get(t, "/doc", StatusMiss)
	clock.Advance(11 * time.Second) // stale
	resp, body := gw.get(t, "/doc", StatusHit)
	if got := up.last().Get("If-None-Match"); got != `"v1"` {
		t.Fatalf("revalidation sent If-None-Match %q", got)
	}
	if resp.StatusCode != 200 || body != `body of "v1"` || resp.Header.Get("Age") != "0" {
		t.Fatalf("after 304: status %d, body %q, Age %q", resp.StatusCode, body, resp.Header.Get("Age"))
	}
	clock.Advance(5 * time.Second) // the 304 made it fresh again
	gw.get(t, "/doc", StatusHit)
	if n := up.calls.Load(); n != 2 {
		t.Fatalf("upstream calls = %d, want 2", n)
	}

	up.set("v2")
	clock.Advance(6 * time.Second)
	if _, body := gw.get(t, "/doc", StatusMiss); body != `body of "v2"` {
		t.Fatalf("a changed resource served %q", body)
	}
	if _, body := gw.get(t, "/doc", StatusHit); body != `body of "v2"` {
		t.Fatalf("the new response was not stored: %q", body)
	}
}

func TestClientConditionalFromCache(t *testing.T) {
	clock := newClock()
	up := newVersioned(t, clock)
	gw := startGateway(t, clock, up.URL, `{}`, nil)

	// On a miss the cache fetches the full response for itself and still
	// answers the client's matching If-None-Match with a 304.
	resp, body := gw.get(t, "/doc", StatusMiss, "If-None-Match", `"v1"`)
	if resp.StatusCode != http.StatusNotModified || body != "" {
		t.Fatalf("miss with a matching If-None-Match: %d %q", resp.StatusCode, body)
	}
	if got := up.last().Get("If-None-Match"); got != "" {
		t.Fatalf("the client's If-None-Match reached the upstream: %q", got)
	}
	resp, body = gw.get(t, "/doc", StatusHit, "If-None-Match", `W/"v0", "v1"`)
	if resp.StatusCode != http.StatusNotModified || body != "" || resp.Header.Get("Etag") != `"v1"` || resp.Header.Get("Age") == "" {
		t.Fatalf("hit with a matching If-None-Match: %d %q %v", resp.StatusCode, body, resp.Header)
	}
	resp, body = gw.get(t, "/doc", StatusHit, "If-None-Match", `"v0"`)
	if resp.StatusCode != http.StatusOK || body != `body of "v1"` {
		t.Fatalf("hit with another ETag: %d %q", resp.StatusCode, body)
	}
	if n := up.calls.Load(); n != 1 {
		t.Fatalf("upstream calls = %d, want 1", n)
	}
}

func TestRevalidationByLastModified(t *testing.T) {
	clock := newClock()
	lm := clock.Now().Add(-time.Hour).Format(http.TimeFormat)
	up := newUpstream(t, clock, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Last-Modified", lm)
		w.Header().Set("Cache-Control", "max-age=10")
		if r.Header.Get("If-Modified-Since") == lm {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		fmt.Fprint(w, "dated")
	})
	gw := startGateway(t, clock, up.URL, `{}`, nil)
	gw.get(t, "/d", StatusMiss)
	clock.Advance(11 * time.Second)
	if _, body := gw.get(t, "/d", StatusHit); body != "dated" {
		t.Fatalf("body %q", body)
	}
	if n := up.calls.Load(); n != 2 {
		t.Fatalf("upstream calls = %d, want 2", n)
	}
}
