package cache

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

// chunkedBody is what the chunked upstreams send: larger than net/http
// buffers before it falls back to chunked framing.
var chunkedBody = strings.Repeat("0123456789", 1000)

// writeChunked sends chunkedBody in pieces, flushing after each, so the
// response goes out chunked (no Content-Length).
func writeChunked(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "max-age=60")
	for i := 0; i < len(chunkedBody); i += 1000 {
		_, _ = io.WriteString(w, chunkedBody[i:i+1000])
		w.(http.Flusher).Flush()
	}
}

func TestChunkedResponseIsStored(t *testing.T) {
	clock := newClock()
	up := newUpstream(t, clock, func(w http.ResponseWriter, _ *http.Request) { writeChunked(w) })
	gw := startGateway(t, clock, up.URL, `{}`, nil)
	resp, body := gw.get(t, "/c", StatusMiss)
	if body != chunkedBody || resp.ContentLength != -1 {
		t.Fatalf("miss: %d bytes, length %d; want the chunked body", len(body), resp.ContentLength)
	}
	resp, body = gw.get(t, "/c", StatusHit)
	if body != chunkedBody {
		t.Fatalf("hit: %d bytes, want %d", len(body), len(chunkedBody))
	}
	if resp.ContentLength != int64(len(chunkedBody)) || len(resp.TransferEncoding) != 0 {
		t.Fatalf("hit: Content-Length %d, Transfer-Encoding %v; want %d, none",
			resp.ContentLength, resp.TransferEncoding, len(chunkedBody))
	}
	if n := up.calls.Load(); n != 1 {
		t.Fatalf("upstream calls = %d, want 1", n)
	}
}

func TestBrokenChunkedResponseIsNotStored(t *testing.T) {
	clock := newClock()
	var broken atomic.Bool
	broken.Store(true)
	up := newUpstream(t, clock, func(w http.ResponseWriter, _ *http.Request) {
		if !broken.Load() {
			writeChunked(w)
			return
		}
		// Half the body, chunked, then the connection drops: no last chunk.
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		half := chunkedBody[:len(chunkedBody)/2]
		_, _ = brw.WriteString("HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\nTransfer-Encoding: chunked\r\n\r\n" +
			strconv.FormatInt(int64(len(half)), 16) + "\r\n" + half + "\r\n")
		_ = brw.Flush()
	})
	gw := startGateway(t, clock, up.URL, `{}`, nil)
	// A connection of its own: a client resends a GET whose reused
	// connection drops.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	if resp, err := client.Get(gw.url + "/b"); err == nil {
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		if err == nil {
			t.Fatal("a broken chunked body looked complete to the client")
		}
	}
	if st := gw.policy.Store().Stats(); st.Entries != 0 {
		t.Fatalf("stats %+v after a broken body, want nothing stored", st)
	}
	broken.Store(false)
	if _, body := gw.get(t, "/b", StatusMiss); body != chunkedBody {
		t.Fatalf("refetch: %d bytes", len(body))
	}
	if _, body := gw.get(t, "/b", StatusHit); body != chunkedBody {
		t.Fatalf("hit: %d bytes", len(body))
	}
}
