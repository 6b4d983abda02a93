package dataplane

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tollgate/tollgate/store"
)

// rawGet sends a raw HTTP/1.1 GET to the gateway and reads the response
// with net/http's reader: body, trailer and read error.
func rawGet(t *testing.T, addr, path string) (*http.Response, string, error) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(waitTimeout))
	if _, err := io.WriteString(conn, "GET "+path+" HTTP/1.1\r\nHost: gw.test\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	return resp, string(b), err
}

// TestTrailersEndToEnd: a chunked upstream response with a
// declared and an undeclared trailer field, through the h1Client and the
// gateway's own server, twice on one upstream connection.
func TestTrailersEndToEnd(t *testing.T) {
	var conns atomic.Int32
	addr := rawUpstream(t, func(c net.Conn, br *bufio.Reader) {
		conns.Add(1)
		for {
			if _, err := readHead(br); err != nil {
				return
			}
			io.WriteString(c, "HTTP/1.1 200 OK\r\nTrailer: X-Sum\r\nTransfer-Encoding: chunked\r\n\r\n"+
				"4\r\nbody\r\n0\r\nX-Sum: 42\r\nX-Late: 7\r\n\r\n")
		}
	})
	gw := startGateway(t, oneRoute(1, "http://"+addr, store.Route{}), Options{})
	for i := range 2 {
		resp, body, err := rawGet(t, gw.addr, "/t")
		if err != nil || body != "body" {
			t.Fatalf("#%d: body %q, %v", i, body, err)
		}
		if resp.Trailer.Get("X-Sum") != "42" || resp.Trailer.Get("X-Late") != "7" {
			t.Errorf("#%d: trailer %v, want X-Sum: 42 and X-Late: 7", i, resp.Trailer)
		}
		// Go's client too.
		r2, err := gw.client.Get(gw.url + "/t")
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(r2.Body)
		r2.Body.Close()
		if err != nil || string(b) != "body" || r2.Trailer.Get("X-Sum") != "42" || r2.Trailer.Get("X-Late") != "7" {
			t.Errorf("#%d http.Client: body %q %v trailer %v", i, b, err, r2.Trailer)
		}
	}
	want := int32(1)
	if gw.opts.Engine == EngineEpoll { // a pool per event loop
		want = int32(runtime.GOMAXPROCS(0))
	}
	if n := conns.Load(); n > want {
		t.Errorf("%d upstream connections for 4 requests, want at most %d", n, want)
	}
}

// TestBrokenUpstreamBodies: a body the upstream breaks off after
// the head reaches the client as a broken response, never as a complete
// one. The epoll engine, which has nothing sent before the response is
// whole, answers the gateway's 502 instead.
func TestBrokenUpstreamBodies(t *testing.T) {
	for _, tt := range []struct{ name, raw string }{
		{"short content-length", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabcde"},
		{"chunked cut mid-chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab"},
		{"chunked cut before last chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabcde\r\n"},
		{"chunked cut in trailer", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabcde\r\n0\r\nX-T: 1\r\n"},
		{"chunked cut after last chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabcde\r\n0\r\n"},
		{"malformed trailer", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabcde\r\n0\r\nbad trailer\r\n\r\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			addr := rawUpstream(t, func(c net.Conn, br *bufio.Reader) {
				if _, err := readHead(br); err != nil {
					return
				}
				io.WriteString(c, tt.raw)
			})
			gw := startGateway(t, oneRoute(1, "http://"+addr, store.Route{}), Options{})
			resp, body, err := rawGet(t, gw.addr, "/t")
			if gw.opts.Engine == EngineEpoll {
				if resp.StatusCode != http.StatusBadGateway || err != nil {
					t.Errorf("status %d body %q err %v: want the gateway's 502", resp.StatusCode, body, err)
				}
				return
			}
			if resp.StatusCode != 200 || err == nil {
				t.Errorf("status %d body %q err %v: want 200 and a broken body", resp.StatusCode, body, err)
			}
		})
	}
}

// TestCloseDelimitedBody: a body without length ends with the
// upstream's close, is complete for the client, and the connection is
// not pooled.
func TestCloseDelimitedBody(t *testing.T) {
	var conns atomic.Int32
	addr := rawUpstream(t, func(c net.Conn, br *bufio.Reader) {
		conns.Add(1)
		if _, err := readHead(br); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\n\r\nuntil close")
	})
	gw := startGateway(t, oneRoute(1, "http://"+addr, store.Route{}), Options{})
	for i := range 2 {
		resp, body, err := rawGet(t, gw.addr, "/t")
		if err != nil || body != "until close" || resp.StatusCode != 200 {
			t.Errorf("#%d: %d %q %v", i, resp.StatusCode, body, err)
		}
	}
	if n := conns.Load(); n != 2 {
		t.Errorf("%d upstream connections, want 2", n)
	}
}

// TestCloseBeforeEOF: Close before EOF keeps the connection only
// when the rest of the body, trailer included, is buffered and small.
func TestCloseBeforeEOF(t *testing.T) {
	for _, tt := range []struct {
		name  string
		raw   string
		delay string // sent after a pause
		reuse bool
	}{
		{"length, buffered", "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + strings.Repeat("x", 100), "", true},
		{"length, too long", "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + strings.Repeat("x", 100000), "", false},
		{"chunked with trailer, buffered", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n64\r\n" + strings.Repeat("x", 100) + "\r\n0\r\nX-T: 1\r\n\r\n", "", true},
		{"chunked, trailer late", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n64\r\n" + strings.Repeat("x", 100) + "\r\n0\r\n", "X-T: 1\r\n\r\n", false},
		{"length, rest late", "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + strings.Repeat("x", 50), strings.Repeat("x", 50), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var conns atomic.Int32
			closed := make(chan struct{}, 2) // the client closed a body: send the late part
			addr := rawUpstream(t, func(c net.Conn, br *bufio.Reader) {
				conns.Add(1)
				for {
					if _, err := readHead(br); err != nil {
						return
					}
					io.WriteString(c, tt.raw) // one write: it arrives whole
					if tt.delay != "" {
						if !await(closed) {
							return
						}
						io.WriteString(c, tt.delay)
					}
				}
			})
			c := newTestH1(t, time.Second)
			for range 2 {
				resp := h1Get(t, c, "http://"+addr+"/")
				buf := make([]byte, 10)
				if _, err := io.ReadFull(resp.Body, buf); err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				closed <- struct{}{}
				if _, err := resp.Body.Read(buf); err != http.ErrBodyReadAfterClose {
					t.Errorf("Read after Close: %v", err)
				}
			}
			want := int32(2)
			if tt.reuse {
				want = 1
			}
			if n := conns.Load(); n != want {
				t.Errorf("%d connections, want %d", n, want)
			}
		})
	}
}

// TestCancelMidBody: cancelling the request's context while a body
// read blocks returns the context's cause, and the connection is not
// reused.
func TestCancelMidBody(t *testing.T) {
	var conns atomic.Int32
	proceed := make(chan struct{}, 2) // send the rest of the body
	addr := rawUpstream(t, func(c net.Conn, br *bufio.Reader) {
		conns.Add(1)
		for {
			if _, err := readHead(br); err != nil {
				return
			}
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
			if !await(proceed) {
				return
			}
			io.WriteString(c, "defghij")
		}
	})
	c := newTestH1(t, time.Second)
	cause := errors.New("my cause")
	ctx, cancel := context.WithCancelCause(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+addr+"/", nil)
	resp, err := c.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	// The rest of the body is held back until after the cancel, so the
	// read after "abc" blocks until the cancel, whenever it lands.
	time.AfterFunc(50*time.Millisecond, func() { cancel(cause) })
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !errors.Is(err, cause) || string(b) != "abc" {
		t.Errorf("body %q err %v, want abc and the cause", b, err)
	}
	proceed <- struct{}{} // the first connection's rest (it is closed)
	proceed <- struct{}{} // and the second request's
	if _, body, err := h1Do(t, c, "GET", "http://"+addr+"/", nil); err != nil || body != "abcdefghij" {
		t.Errorf("second request: %q %v", body, err)
	}
	if n := conns.Load(); n != 2 {
		t.Errorf("%d connections, want 2", n)
	}
}

// TestBodyFailsBeforeAnyByteIs502: an upstream that sends a head with a
// Content-Length and closes before any body byte. Nothing has reached the
// client yet (the writer holds the head until the first body byte), so
// the gateway answers its own 502 instead of a broken 200, and logs 502.
func TestBodyFailsBeforeAnyByteIs502(t *testing.T) {
	addr := rawUpstream(t, func(c net.Conn, br *bufio.Reader) {
		if _, err := readHead(br); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\nX-Upstream: yes\r\n\r\n")
	})
	gw := startGateway(t, oneRoute(1, "http://"+addr, store.Route{Name: "early"}), Options{})
	resp, body, err := rawGet(t, gw.addr, "/t")
	if err != nil || resp.StatusCode != http.StatusBadGateway || resp.Header.Get(headerError) == "" ||
		!strings.Contains(body, `"upstream_unavailable"`) {
		t.Fatalf("%d %q (%v), header %v: want the gateway's 502", resp.StatusCode, body, err, resp.Header)
	}
	if resp.Header.Get("X-Upstream") != "" {
		t.Errorf("the gateway's 502 carries the upstream's header: %v", resp.Header)
	}
	rec := gw.logs.waitLog(t, func(r map[string]slog.Value) bool { return r["route"].String() == "early" })
	if rec["status"].Int64() != http.StatusBadGateway {
		t.Errorf("logged status %v, want 502", rec["status"])
	}
}

// await waits for a signal on ch, at most waitTimeout; for upstream
// goroutines, which must not end the test themselves.
func await(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	case <-time.After(waitTimeout):
		return false
	}
}
