package cache

import (
	"io"
	"net/http"
	"testing"
)

// TestTrailersThroughCacheOnMiss: a chunked response with trailers keeps
// them on a MISS through a route with the cache, as it does through a
// route without it (dataplane TestTrailersEndToEnd). The data plane's
// respond() once wrote the trailer into the map it got from
// rc.Writer.Header() before WriteHeader, which for the cache's capture is
// the capture's own map, not the client's.
func TestTrailersThroughCacheOnMiss(t *testing.T) {
	for _, declared := range []bool{true, false} {
		clock := newClock()
		up := newUpstream(t, clock, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Cache-Control", "max-age=60")
			if declared {
				w.Header().Set("Trailer", "X-Sum")
			}
			io.WriteString(w, "body")
			w.(http.Flusher).Flush()
			if declared {
				w.Header().Set("X-Sum", "42")
			} else {
				w.Header().Set(http.TrailerPrefix+"X-Sum", "42")
			}
		})
		gw := startGateway(t, clock, up.URL, `{}`, nil)
		resp, err := gw.client.Get(gw.url + "/t")
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || string(b) != "body" || resp.Header.Get("X-Cache") != StatusMiss {
			t.Fatalf("body %q %v X-Cache %q", b, err, resp.Header.Get("X-Cache"))
		}
		if resp.Trailer.Get("X-Sum") != "42" {
			t.Errorf("declared %v, MISS: trailer %v, want X-Sum: 42", declared, resp.Trailer)
		}
	}
}
