package cache

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

// sized is an upstream whose body is ?n= bytes of the path's first
// letter, with Content-Length unless ?chunked is set.
func sized(t *testing.T, clock *fakeClock) *upstream {
	return newUpstream(t, clock, func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		body := strings.Repeat(r.URL.Path[1:2], n)
		w.Header().Set("Cache-Control", "max-age=60")
		if r.URL.Query().Has("chunked") {
			w.WriteHeader(http.StatusOK)
			w.(http.Flusher).Flush()
		} else {
			w.Header().Set("Content-Length", strconv.Itoa(n))
		}
		_, _ = w.Write([]byte(body))
	})
}

func TestMemoryCapEvictsLeastRecentlyUsed(t *testing.T) {
	clock := newClock()
	up := sized(t, clock)
	// Four 2000-byte responses and their fields: three fit in 8000 bytes.
	gw := startGateway(t, clock, up.URL, `{"memory_bytes":8000,"max_entry_bytes":4000}`, nil)
	for _, p := range []string{"/a?n=2000", "/b?n=2000", "/c?n=2000"} {
		gw.get(t, p, StatusMiss)
	}
	if st := gw.policy.Store().Stats(); st.Keys != 3 || st.Bytes > 8000 {
		t.Fatalf("after three: %+v", st)
	}
	gw.get(t, "/a?n=2000", StatusHit) // a is now the most recently used
	gw.get(t, "/d?n=2000", StatusMiss)
	st := gw.policy.Store().Stats()
	if st.Keys != 3 || st.Bytes > st.Limit || st.Evictions != 1 {
		t.Fatalf("after the fourth: %+v", st)
	}
	gw.get(t, "/c?n=2000", StatusHit)
	if _, body := gw.get(t, "/a?n=2000", StatusHit); body != strings.Repeat("a", 2000) {
		t.Fatal("a's body changed")
	}
	gw.get(t, "/b?n=2000", StatusMiss) // b was the least recently used
	if st := gw.policy.Store().Stats(); st.Bytes > st.Limit {
		t.Fatalf("over the cap: %+v", st)
	}
}

func TestLargeResponsesStreamUncached(t *testing.T) {
	clock := newClock()
	up := sized(t, clock)
	gw := startGateway(t, clock, up.URL, `{"max_entry_bytes":1000}`, nil)
	for range 2 {
		if _, body := gw.get(t, "/l?n=5000", StatusMiss); len(body) != 5000 {
			t.Fatalf("large body truncated to %d", len(body))
		}
	}
	// Without Content-Length the cap is found while copying.
	for range 2 {
		if _, body := gw.get(t, "/u?n=5000&chunked", StatusMiss); len(body) != 5000 {
			t.Fatalf("large chunked body is %d bytes", len(body))
		}
	}
	gw.get(t, "/c?n=500&chunked", StatusMiss)
	gw.get(t, "/c?n=500&chunked", StatusHit)
	gw.get(t, "/s?n=1000", StatusMiss)
	gw.get(t, "/s?n=1000", StatusHit)
	if st := gw.policy.Store().Stats(); st.Entries != 2 {
		t.Fatalf("stats %+v, want only the two small responses", st)
	}
	if n := up.calls.Load(); n != 6 {
		t.Fatalf("upstream calls = %d, want 6", n)
	}
}

func TestTruncatedBodyIsNotStored(t *testing.T) {
	clock := newClock()
	var broken atomic.Bool
	broken.Store(true)
	up := newUpstream(t, clock, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Content-Length", "100")
		if broken.Load() {
			_, _ = w.Write([]byte(strings.Repeat("x", 50)))
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler) // the upstream dies mid-body
		}
		_, _ = w.Write([]byte(strings.Repeat("y", 100)))
	})
	gw := startGateway(t, clock, up.URL, `{}`, nil)
	if resp, err := gw.client.Get(gw.url + "/t"); err == nil {
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		if err == nil {
			t.Fatalf("a truncated body looked complete to the client: %d %v", resp.StatusCode, resp.Header)
		}
	}
	broken.Store(false)
	if _, body := gw.get(t, "/t", StatusMiss); body != strings.Repeat("y", 100) {
		t.Fatalf("body %q", body)
	}
	gw.get(t, "/t", StatusHit)
}
