package dataplane

// Review tests of the hand-written HTTP/1.1 server (h1server.go and
// friends). Each pins a behaviour net/http's server has and the new server
// must keep; see the comment of each test for the bug it shows.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/waitfor"
	"github.com/tollgate/tollgate/store"
)

// reviewConns returns the live connections of the gateway's h1Servers.
func reviewConns(gw *Gateway) []*h1ServerConn {
	gw.srvMu.Lock()
	var servers []*h1Server
	for s := range gw.servers {
		if h, ok := s.(*h1Server); ok {
			servers = append(servers, h)
		}
	}
	gw.srvMu.Unlock()
	var out []*h1ServerConn
	for _, s := range servers {
		s.mu.Lock()
		for c := range s.conns {
			out = append(out, c)
		}
		s.mu.Unlock()
	}
	return out
}

// reviewServer returns the gateway's only h1Server.
func reviewServer(t *testing.T, gw *Gateway) *h1Server {
	t.Helper()
	var srv *h1Server
	waitfor.Condition(t, waitTimeout, "Serve to register its h1Server", func() bool {
		gw.srvMu.Lock()
		defer gw.srvMu.Unlock()
		for s := range gw.servers {
			if h, ok := s.(*h1Server); ok {
				srv = h
				return true
			}
		}
		return false
	})
	return srv
}

// watchReadingWhileIdle reports whether a connection of gw waits for its
// next request while its disconnect watch reads the socket.
func watchReadingWhileIdle(gw *Gateway) bool {
	for _, c := range reviewConns(gw) {
		c.watch.mu.Lock()
		reading := c.watch.reading || c.watch.armed
		c.watch.mu.Unlock()
		if reading && c.state.Load() == connIdle {
			return true
		}
	}
	return false
}

// TestH1ReviewLateBodyEOFArmsWatch: the proxy's http.Transport (used for
// chunked and large bodies) reads the client's body on its own goroutine,
// and may still read it after the handler returned when the upstream
// answered early. h1RequestBody.Read then arms the disconnect watch from
// that goroutine, after handle's deferred stop: the watch stays armed on
// the idle connection and its background read races the connection's own
// reads. A byte it steals is replayed later, out of order: the next
// request's body is corrupted (and -race reports the races on b.eof,
// br and lr.hasByte).
func TestH1ReviewLateBodyEOFArmsWatch(t *testing.T) {
	headOfNext := make(chan struct{}, 1)
	up := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/early" {
			_ = http.NewResponseController(w).EnableFullDuplex()
			var b [5]byte
			_, _ = io.ReadFull(r.Body, b[:]) // the first chunk arrived
			w.Header().Set("Content-Length", "5")
			_, _ = io.WriteString(w, "early")
			_ = http.NewResponseController(w).Flush()
			return
		}
		select {
		case headOfNext <- struct{}{}:
		default:
		}
		body, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s %s", r.Method, r.URL.Path, body)
	})).URL
	gw := startGateway(t, oneRoute(1, up, store.Route{Paths: []string{"/"}}), Options{})
	cc := confDial(t, gw.addr)
	const chunked = "HTTP/1.1\r\nHost: tollgate.test\r\nTransfer-Encoding: chunked\r\n\r\n"
	resp, body := cc.do(t, "POST", "POST /early "+chunked+"5\r\nhello\r\n")
	if resp.StatusCode != 200 || body != "early" {
		t.Fatalf("early answer: %d %q", resp.StatusCode, body)
	}
	// The rest of the body comes after the answer: the transport's writer
	// goroutine reads its end, after the handler returned.
	if err := cc.write("0\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	// A correct server never watches an idle connection. This is a
	// negative condition: give the (10 ms) watch ample time to show up.
	deadline := time.After(100 * h1WatchDelay)
	tick := time.NewTicker(h1WatchDelay)
	defer tick.Stop()
	for !watchReadingWhileIdle(gw.Gateway) {
		select {
		case <-deadline:
			return // not armed by the late EOF: fixed
		case <-tick.C:
		}
	}
	t.Error("the disconnect watch is armed on an idle keep-alive connection (armed by the transport's late read of the body)")
	waitfor.Condition(t, waitTimeout, "the watch to read the idle connection", func() bool {
		for _, c := range reviewConns(gw.Gateway) {
			c.watch.mu.Lock()
			r := c.watch.reading
			c.watch.mu.Unlock()
			if r {
				return true
			}
		}
		return false
	})
	// Next request: the head first; once the upstream has it, the body.
	if err := cc.write("POST /echo " + chunked); err != nil {
		t.Fatal(err)
	}
	recv(t, headOfNext, "the next request's head at the upstream")
	if err := cc.write("5\r\nhello\r\n0\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, body, err := cc.read("POST")
	if err != nil || resp.StatusCode != 200 || body != "POST /echo hello" {
		t.Fatalf("next request on the connection: %v %q (%v), want 200 %q: its body was read out of order", resp, body, err, "POST /echo hello")
	}
}

// TestH1ReviewContinueFromTransportGoroutine: the same root cause as
// above: h1RequestBody.Read writes "100 Continue" into the connection's
// bufio.Writer from whatever goroutine reads the body, here the
// http.Transport's writer (chunked body, upstream sends 100 then its
// answer), while the handler's goroutine writes the response into the same
// bufio.Writer: a data race on bw and on w.sentHeader (net/http guards
// this with writeContinueMu and canWriteContinue).
func TestH1ReviewContinueFromTransportGoroutine(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer nc.Close()
				br := bufio.NewReader(nc)
				if _, err := http.ReadRequest(br); err != nil {
					return
				}
				_, _ = io.WriteString(nc, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
				_, _ = io.Copy(io.Discard, br)
			}()
		}
	}()
	gw := startGateway(t, oneRoute(1, "http://"+ln.Addr().String(), store.Route{Paths: []string{"/"}}), Options{})
	for range 20 {
		cc := confDial(t, gw.addr)
		if err := cc.write("POST /up HTTP/1.1\r\nHost: tollgate.test\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		resp, body, err := cc.read("POST")
		for err == nil && resp.StatusCode == http.StatusContinue {
			resp, body, err = cc.read("POST")
		}
		if err != nil || resp.StatusCode != 200 || body != "ok" {
			t.Fatalf("%v %q (%v)", resp, body, err)
		}
		_ = cc.write("0\r\n\r\n")
		cc.c.Close()
	}
}

// TestH1ReviewShutdownSaysClose: a response written while Shutdown is
// under way must say "Connection: close" (net/http does: doKeepAlives is
// false once shutting down). The new server sends it as keep-alive and
// closes right after, so a client that reuses the connection at once
// loses its next request (a POST cannot be retried safely).
func TestH1ReviewShutdownSaysClose(t *testing.T) {
	arrived, release := make(chan struct{}, 1), make(chan struct{})
	up := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-release
		_, _ = io.WriteString(w, "done")
	})).URL
	gw := startGateway(t, oneRoute(1, up, store.Route{Paths: []string{"/"}}), Options{})
	srv := reviewServer(t, gw.Gateway)
	cc := confDial(t, gw.addr)
	if err := cc.write(confGet("/slow")); err != nil {
		t.Fatal(err)
	}
	recv(t, arrived, "the request at the upstream")
	shutdown := make(chan error, 1)
	go func() { shutdown <- gw.Shutdown(context.Background()) }()
	waitfor.Condition(t, waitTimeout, "Shutdown to close the listener", srv.draining.Load)
	close(release)
	resp, body, err := cc.read("GET")
	if err != nil || resp.StatusCode != 200 || body != "done" {
		t.Fatalf("in-flight request: %v %q (%v)", resp, body, err)
	}
	if !resp.Close {
		t.Errorf("response written during Shutdown lacks \"Connection: close\" (header %v), yet the server closes the connection", resp.Header)
	}
	if err := recv(t, shutdown, "Shutdown"); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

// failOnceListener fails its first Accept with err.
type failOnceListener struct {
	net.Listener
	once sync.Once
	err  error
}

func (l *failOnceListener) Accept() (net.Conn, error) {
	var err error
	l.once.Do(func() { err = l.err })
	if err != nil {
		return nil, err
	}
	return l.Listener.Accept()
}

// TestH1ReviewAcceptEMFILE: running out of file descriptors makes Accept
// fail with EMFILE, which is not a Timeout() (syscall.Errno.Timeout is
// EAGAIN/ETIMEDOUT only). serve() then returns the error and the listener
// is dead for good, though the comment says it retries "out of file
// descriptors". net/http retries on ne.Temporary(), which covers
// EMFILE/ENFILE.
func TestH1ReviewAcceptEMFILE(t *testing.T) {
	up := newConfUpstream(t)
	g := New(Options{Logger: slog.New(newLogSink())})
	if err := g.Update(oneRoute(1, up.url, store.Route{Paths: []string{"/"}})); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	emfile := &net.OpError{Op: "accept", Net: "tcp", Addr: ln.Addr(), Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	served := make(chan error, 1)
	go func() { served <- g.Serve(&failOnceListener{Listener: ln, err: emfile}) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		_ = g.Shutdown(ctx)
		ln.Close()
	})
	got := make(chan string, 1)
	go func() {
		c := &http.Client{Timeout: waitTimeout, Transport: &http.Transport{DisableKeepAlives: true}}
		resp, err := c.Get("http://" + ln.Addr().String() + "/echo")
		if err != nil {
			got <- err.Error()
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		got <- fmt.Sprintf("%d %s", resp.StatusCode, b)
	}()
	select {
	case err := <-served:
		t.Fatalf("Serve returned %v after one transient EMFILE from Accept: the listener stopped serving", err)
	case s := <-got:
		if s != "200 GET /echo " {
			t.Fatalf("request after a transient accept error: %s", s)
		}
	}
}

// TestH1ReviewPanicDoesNotComplete: when the handler panics (a policy bug,
// or panic(http.ErrAbortHandler) to abort a response), net/http sends
// nothing that has not already been sent: the client sees the connection
// end. The new server's finish() completes the response instead: with no
// status written, a "200 OK" with an empty body; with a small body held
// back, that partial body framed by a matching Content-Length, so a
// truncated answer looks whole (and cacheable).
func TestH1ReviewPanicDoesNotComplete(t *testing.T) {
	up := newConfUpstream(t)
	policies := func(_ *store.Config, r *store.Route) ([]Policy, error) {
		return []Policy{policyOf(func(rc *RequestContext, next Handler) {
			switch rc.Request.URL.Path {
			case "/panic":
				panic("policy bug")
			case "/abort":
				_, _ = io.WriteString(rc.Writer, `{"partial":`)
				panic(http.ErrAbortHandler)
			}
			next(rc)
		})}, nil
	}
	gw := startGateway(t, oneRoute(1, up.url, store.Route{Paths: []string{"/"}}), Options{Policies: policies})
	for _, path := range []string{"/panic", "/abort"} {
		t.Run(path, func(t *testing.T) {
			cc := confDial(t, gw.addr)
			if err := cc.write(confGet(path)); err != nil {
				t.Fatal(err)
			}
			resp, body, err := cc.read("GET")
			if err == nil && resp.StatusCode < 500 {
				t.Errorf("a panicking handler produced a complete %d response (Content-Length %d, body %q); net/http sends nothing",
					resp.StatusCode, resp.ContentLength, body)
			}
		})
	}
}

// TestH1ReviewRemoveDate: a response header transform that removes Date
// sets h["Date"] = nil (transform.go: "net/http would add these back unless
// present and empty"). The new writer tests w.header["Date"] == nil, which
// a present nil value passes, and adds Date back.
func TestH1ReviewRemoveDate(t *testing.T) {
	up := newConfUpstream(t)
	gw := startGateway(t, oneRoute(1, up.url, store.Route{Paths: []string{"/"},
		ResponseHeaders: &store.HeaderTransform{Remove: []string{"Date"}}}), Options{})
	resp, _ := confDial(t, gw.addr).do(t, "GET", confGet("/echo"))
	if d, ok := resp.Header["Date"]; ok {
		t.Errorf("Date %q sent though the route's response transform removes it", d)
	}
}

// TestH1ReviewInvalidHeaderName: net/http's Header.writeSubset drops
// response header fields whose name is not a valid token. The new writer
// writes names as they are (only values are cleaned of CR/LF), so a name
// with CR LF, set by a policy or plugin, injects header lines.
func TestH1ReviewInvalidHeaderName(t *testing.T) {
	up := newConfUpstream(t)
	policies := func(*store.Config, *store.Route) ([]Policy, error) {
		return []Policy{policyOf(func(rc *RequestContext, next Handler) {
			rc.Writer.Header()["X-A: b\r\nSet-Cookie"] = []string{"session=attacker"}
			next(rc)
		})}, nil
	}
	gw := startGateway(t, oneRoute(1, up.url, store.Route{Paths: []string{"/"}}), Options{Policies: policies})
	resp, _ := confDial(t, gw.addr).do(t, "GET", confGet("/echo"))
	if c := resp.Header.Get("Set-Cookie"); c != "" {
		t.Errorf("header injection through an invalid field name: Set-Cookie %q", c)
	}
}

// TestH1ReviewFirstRequestHeaderTimeout: net/http bounds a new
// connection's wait for its first request by ReadHeaderTimeout. The new
// server waits IdleTimeout (default 2 min, vs 10 s) for the first byte,
// and then for the 3 bytes isH2 peeks: silent or trickling connections
// are held 12 times longer (cheap fd and goroutine exhaustion).
func TestH1ReviewFirstRequestHeaderTimeout(t *testing.T) {
	up := newConfUpstream(t)
	gw := startGateway(t, oneRoute(1, up.url, store.Route{Paths: []string{"/"}}),
		Options{ReadHeaderTimeout: 200 * time.Millisecond, IdleTimeout: time.Minute})
	for _, sent := range []string{"", "G"} {
		t.Run(fmt.Sprintf("%q", sent), func(t *testing.T) {
			t.Parallel()
			cc := confDial(t, gw.addr)
			if sent != "" {
				if err := cc.write(sent); err != nil {
					t.Fatal(err)
				}
			}
			_ = cc.c.SetReadDeadline(time.Now().Add(waitTimeout))
			_, err := cc.br.ReadByte()
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("a connection that sent %q was still open after %s with ReadHeaderTimeout 200ms", sent, waitTimeout)
			}
		})
	}
}

// TestH1ReviewExpectRefusedSaysClose: a request with "Expect: 100-continue"
// answered without reading its body (here a 404, no route) makes drain
// refuse the connection, but the response did not say "Connection: close"
// (net/http sets closeAfterReply for an unread expect-continue body): the
// client is told keep-alive and the connection is then closed under it.
// The same holds for any response after which drain gives up (over
// h1DrainLimit left) or a read error closes the connection.
func TestH1ReviewExpectRefusedSaysClose(t *testing.T) {
	up := newConfUpstream(t)
	gw := startGateway(t, oneRoute(1, up.url, store.Route{Paths: []string{"/api"}}), Options{})
	cc := confDial(t, gw.addr)
	resp, _ := cc.do(t, "POST", "POST /other HTTP/1.1\r\nHost: tollgate.test\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("status %d, want 404", resp.StatusCode)
	}
	if resp.Close {
		return
	}
	if err := cc.write(confGet("/api")); err != nil {
		t.Fatalf("connection announced as keep-alive is closed: %v", err)
	}
	if _, _, err := cc.read("GET"); err != nil {
		t.Fatalf("connection announced as keep-alive (no Connection: close) was closed: %v", err)
	}
}
