//go:build linux

package dataplane

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/waitfor"
	"github.com/tollgate/tollgate/store"
)

// Review tests of the epoll engine (written against abd183f). Each
// "Regression" comment names the bug the test found there, since fixed;
// the line numbers are abd183f's. Most run on both engines: the goroutine
// server is the reference.

// evServer returns the h1Server of gw once Serve has registered it
// and, with the epoll engine, started its loops.
func evServer(t *testing.T, gw *testGateway) *h1Server {
	t.Helper()
	return evServerWhere(t, gw, "the server to start", func(*h1Server) bool { return true })
}

// evServerWhere is evServer for the first of gw's h1Servers that match
// (what names them in a timeout).
func evServerWhere(t *testing.T, gw *testGateway, what string, match func(*h1Server) bool) *h1Server {
	t.Helper()
	var s *h1Server
	waitfor.Condition(t, waitTimeout, what, func() bool {
		gw.srvMu.Lock()
		defer gw.srvMu.Unlock()
		for srv := range gw.servers {
			if hs, ok := srv.(*h1Server); ok && match(hs) {
				hs.mu.Lock()
				started := hs.engine != nil || gw.opts.Engine != EngineEpoll
				hs.mu.Unlock()
				if started {
					s = hs
					return true
				}
			}
		}
		return false
	})
	return s
}

// reviewLoops returns the event loops of s.
func reviewLoops(s *h1Server) []*evLoop {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, _ := s.engine.(*evEngine)
	if e == nil {
		return nil
	}
	return e.loops
}

// connCount is the number of connections s holds.
func connCount(s *h1Server) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// onEngines runs f once per engine, the goroutine server being the
// reference behaviour.
func onEngines(t *testing.T, f func(t *testing.T, engine string)) {
	for _, e := range []string{EngineGoroutine, EngineEpoll} {
		t.Run(e, func(t *testing.T) { f(t, e) })
	}
}

// hangingUpstream answers every request with a head and the first chunk
// of a body, then holds the connection until the test ends.
func hangingUpstream(t *testing.T) string {
	release := make(chan struct{})
	addr := rawUpstream(t, func(c net.Conn, br *bufio.Reader) {
		if _, err := readHead(br); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n")
		<-release
	})
	t.Cleanup(func() { close(release) }) // runs before rawUpstream's cleanup waits
	return addr
}

// readStreamStart sends a GET on cc and reads the head and the first five
// body bytes of its answer, which only a streamed (escalated) response
// sends before the body is whole.
func readStreamStart(t *testing.T, cc *confConn) *http.Response {
	t.Helper()
	if err := cc.write(confGet("/stream")); err != nil {
		t.Fatal(err)
	}
	_ = cc.c.SetReadDeadline(time.Now().Add(waitTimeout))
	resp, err := http.ReadResponse(cc.br, nil)
	if err != nil {
		t.Fatal(err)
	}
	first := make([]byte, 5)
	if _, err := io.ReadFull(resp.Body, first); err != nil || string(first) != "first" {
		t.Fatalf("first body bytes %q %v", first, err)
	}
	return resp
}

// Regression (evescalate_linux.go:19-87, h1server.go:252-268 Close): an escalated
// response's client connection is owned by the evStream goroutine, but
// its h1ServerConn still has the loop's closeRaw, which posts to the loop
// and finds the evClient closed (detached): h1Server.Close, which Gateway
// Shutdown calls when its context ends, leaves the connection open until
// the upstream finishes or the read timeout (60 s by default) passes. The
// goroutine server closes it at once.
func TestEvReviewCloseLeavesStreamedConnOpen(t *testing.T) {
	onEngines(t, func(t *testing.T, engine string) {
		gw := startGateway(t, oneRoute(1, "http://"+hangingUpstream(t), store.Route{Paths: []string{"/"}}), Options{Engine: engine})
		cc := confDial(t, gw.addr)
		resp := readStreamStart(t, cc)
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		if err := gw.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Shutdown: %v, want the context's deadline (a request is in flight)", err)
		}
		// Shutdown's context ended: it closed every connection.
		_ = cc.c.SetReadDeadline(time.Now().Add(3 * time.Second))
		_, err := io.ReadAll(resp.Body)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("the client connection is still open 3s after Shutdown closed the server")
		}
	})
}

// Regression (evloop_linux.go:226-232 post, 338-355 release): a loop that ended
// closed its eventfd, but post still writes to l.wakeFD. After the number
// is reused by another file, a post (Close's closeAll and closeRaw, a
// retry's time.AfterFunc) writes 8 bytes into that unrelated file or
// socket. Here Shutdown's context ends while a streamed response holds
// Shutdown (the loops have ended: they had no client left), and Close
// posts to the ended loops.
func TestEvReviewPostAfterLoopEndWritesReusedFD(t *testing.T) {
	gw := startEpoll(t, oneRoute(1, "http://"+hangingUpstream(t), store.Route{Paths: []string{"/"}}), Options{})
	s := evServer(t, gw)
	loops := reviewLoops(s)
	cc := confDial(t, gw.addr)
	readStreamStart(t, cc)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	shut := make(chan error, 1)
	go func() { shut <- gw.Shutdown(ctx) }()
	for _, l := range loops {
		recv(t, l.exited, "a loop to end")
	}
	// Take the ended loops' eventfd numbers with sockets of our own.
	want := map[int]bool{}
	for _, l := range loops {
		want[l.wakeFD] = true
	}
	var mine []int
	peer := map[int]int{} // our fd at a loop's old number -> its peer
	for i := 0; i < 4096 && len(peer) < len(want); i++ {
		fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		mine = append(mine, fds[0], fds[1])
		for j, fd := range fds {
			if want[fd] {
				peer[fd] = fds[1-j]
			}
		}
	}
	defer func() {
		for _, fd := range mine {
			syscall.Close(fd)
		}
	}()
	if len(peer) == 0 {
		t.Skip("could not get a loop's old eventfd number")
	}
	cancel() // Shutdown calls Close, which posts to every loop
	<-shut
	for fd, p := range peer {
		// Whatever reached our socket at the loop's old number is at p.
		tv := syscall.Timeval{Sec: 1}
		_ = syscall.SetsockoptTimeval(p, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv)
		buf := make([]byte, 64)
		n, _ := syscall.Read(p, buf)
		if n > 0 {
			t.Errorf("Close after the loops ended wrote %x into fd %d, which the loop had closed and we reuse", buf[:n], fd)
		}
	}
}

// Regression (evclient_linux.go:304-313 handOff, h1server.go:160-170 adopt): a
// request the loop hands over during Shutdown is dropped: adopt's s.add
// refuses the new connection because shutting is set, and the connection
// is closed without an answer. The goroutine server answers a request on
// a connection that was open when Shutdown began (and new within
// h1NewConnGrace), with Connection: close.
func TestEvReviewShutdownDropsHandedOverRequest(t *testing.T) {
	onEngines(t, func(t *testing.T, engine string) {
		gw := startGateway(t, oneRoute(1, newTextEcho(t), store.Route{Paths: []string{"/"}}), Options{Engine: engine})
		s := evServer(t, gw)
		cc := confDial(t, gw.addr)
		waitfor.Condition(t, waitTimeout, "the gateway to accept the connection", func() bool { return connCount(s) == 1 })
		shut := make(chan error, 1)
		go func() { shut <- gw.Shutdown(context.Background()) }()
		waitfor.Condition(t, waitTimeout, "Shutdown to close the listener", s.draining.Load)
		// A chunked body: the loop hands it to the goroutine server.
		if err := cc.write(confChunkedPost("/p", "body")); err != nil {
			t.Fatal(err)
		}
		resp, body, err := cc.read("POST")
		if err != nil {
			t.Fatalf("no answer to a request on a connection open before Shutdown: %v", err)
		}
		if resp.StatusCode != 200 || body != "POST /p body" || !resp.Close {
			t.Errorf("%d %q close=%v, want 200 %q with Connection: close", resp.StatusCode, body, resp.Close, "POST /p body")
		}
		if err := recv(t, shut, "Shutdown"); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
}

// Regression (evexchange_linux.go:291-298): the service's timeout bounds "every
// retry and backoff included" (store.Service.Timeout), and the goroutine
// path ends a backoff when the timeout passes (sleepCtx). The loop waits
// out the whole backoff in time.AfterFunc and only then checks the
// timeout: the 504 comes up to MaxBackoff late.
func TestEvReviewBackoffOutlastsServiceTimeout(t *testing.T) {
	onEngines(t, func(t *testing.T, engine string) {
		cfg := oneRoute(1, "http://"+freePort(t), store.Route{Paths: []string{"/"}})
		cfg.Services[0].Timeout = store.Duration(200 * time.Millisecond)
		cfg.Services[0].Retry = &store.Retry{MaxAttempts: 3, Backoff: store.Duration(4 * time.Second), MaxBackoff: store.Duration(4 * time.Second)}
		gw := startGateway(t, cfg, Options{Engine: engine})
		cc := confDial(t, gw.addr)
		start := time.Now()
		resp, body := cc.do(t, "GET", confGet("/r"))
		took := time.Since(start)
		if resp.StatusCode != http.StatusGatewayTimeout {
			t.Errorf("status %d %s, want 504", resp.StatusCode, body)
		}
		if took > 1500*time.Millisecond {
			t.Errorf("the answer took %v; the service timeout is 200ms, backoff included", took)
		}
	})
}

// Regression (evclient_linux.go:160 serve, h1request.go:59-61 headEnd): a
// request that starts with an empty line (a stray CRLF, as old clients
// send after a POST body) is never answered by the loop: headEnd reports
// -1 for it, which serve takes for "not whole yet", so the loop waits for
// more until ReadHeaderTimeout and closes silently. The goroutine server
// answers 400 at once.
func TestEvReviewLeadingEmptyLineHangs(t *testing.T) {
	onEngines(t, func(t *testing.T, engine string) {
		gw := startGateway(t, oneRoute(1, newTextEcho(t), store.Route{Paths: []string{"/"}}), Options{Engine: engine})
		cc := confDial(t, gw.addr)
		if err := cc.write("\r\n" + confGet("/x")); err != nil {
			t.Fatal(err)
		}
		_ = cc.c.SetReadDeadline(time.Now().Add(3 * time.Second))
		resp, err := http.ReadResponse(cc.br, nil)
		if err != nil {
			t.Fatalf("no answer within 3s: %v", err)
		}
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("status %d, want 400 as the goroutine server answers", resp.StatusCode)
		}
	})
}

// onLoop runs f on l's goroutine and waits for it.
func onLoop(t *testing.T, l *evLoop, f func()) {
	t.Helper()
	done := make(chan struct{})
	l.post(func() { f(); close(done) })
	recv(t, done, "a task on the loop")
}

// loopClient runs f on the loop goroutine with the evClient of the
// connection whose client end is local, if a loop of s holds it.
func loopClient(t *testing.T, s *h1Server, local string, f func(c *evClient)) bool {
	t.Helper()
	found := false
	for _, l := range reviewLoops(s) {
		onLoop(t, l, func() {
			for _, sock := range l.sockets {
				if c, ok := sock.(*evClient); ok && c.conn.remote == local {
					found = true
					f(c)
				}
			}
		})
	}
	return found
}

// smallRcvbuf is a dialer's or listener's Control that gives the socket
// a 2 KiB receive buffer.
func smallRcvbuf(_, _ string, rc syscall.RawConn) error {
	var err error
	if cerr := rc.Control(func(fd uintptr) {
		err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 2048)
	}); cerr != nil {
		return cerr
	}
	return err
}

// slowReader dials addr with a small receive buffer, so that a response
// of some tens of KiB stays partly unsent while the client does not read.
func slowReader(t *testing.T, addr string) *confConn {
	t.Helper()
	d := net.Dialer{Timeout: waitTimeout, Control: smallRcvbuf}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &confConn{c: c, br: bufio.NewReader(c)}
}

// shrinkSendBuffer gives the loop's socket of cc a small send buffer
// (the test machine's default is megabytes), as on a slow network.
func shrinkSendBuffer(t *testing.T, s *h1Server, cc *confConn) {
	t.Helper()
	local := cc.c.LocalAddr().String()
	waitfor.Condition(t, waitTimeout, "a loop to take the connection", func() bool {
		return loopClient(t, s, local, func(c *evClient) {
			if err := syscall.SetsockoptInt(c.fd, syscall.SOL_SOCKET, syscall.SO_SNDBUF, 4096); err != nil {
				t.Error(err)
			}
		})
	})
}

// evBigBody is a body the loop answers itself (under evMaxResponse with
// its head) and that does not fit the sockets' buffers of slowReader.
var evBigBody = strings.Repeat("0123456789", 6000)

func bigUpstream(t *testing.T) string {
	return newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(len(evBigBody)))
		io.WriteString(w, evBigBody)
	})).URL
}

// waitPendingOutput waits until the loop finished the exchange on cc and
// holds part of its answer unsent, the connection idle.
func waitPendingOutput(t *testing.T, s *h1Server, cc *confConn) {
	t.Helper()
	local := cc.c.LocalAddr().String()
	waitfor.Condition(t, waitTimeout, "the loop to hold unsent output of an ended exchange", func() bool {
		pending := false
		loopClient(t, s, local, func(c *evClient) {
			pending = c.ex == nil && c.out.pending() && c.conn.state.Load() == connIdle
		})
		return pending
	})
}

// Regression (evclient_linux.go:270-274 closeIfIdle, 294-300 closeIdleClients):
// Shutdown's closeIdle marks an idle connection connClosed and posts
// closeIfIdle, which does nothing while the previous answer is still
// being written; nothing closes it once the write completes, and
// Shutdown's closeIdle never retries (the state is connClosed already).
// The connection stays open, and Shutdown waits, until IdleTimeout. (The
// goroutine server closes the connection right after the write, since it
// is shutting down.)
func TestEvReviewShutdownWhileWritingLeavesConnOpen(t *testing.T) {
	gw := startEpoll(t, oneRoute(1, bigUpstream(t), store.Route{Paths: []string{"/"}}), Options{IdleTimeout: time.Minute})
	s := evServer(t, gw)
	cc := slowReader(t, gw.addr)
	shrinkSendBuffer(t, s, cc)
	if err := cc.write(confGet("/big")); err != nil {
		t.Fatal(err)
	}
	waitPendingOutput(t, s, cc)
	shut := make(chan error, 1)
	go func() { shut <- gw.Shutdown(context.Background()) }()
	local := cc.c.LocalAddr().String()
	waitfor.Condition(t, waitTimeout, "Shutdown to mark the idle connection closed", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		for c := range s.conns {
			if c.remote == local && c.state.Load() == connClosed {
				return true
			}
		}
		return false
	})
	resp, body, err := cc.read("GET")
	if err != nil || resp.StatusCode != 200 || body != evBigBody {
		t.Fatalf("answer: %v, %d bytes, %v", resp, len(body), err)
	}
	_ = cc.c.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, err := cc.br.Peek(1); err != io.EOF && !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("the connection is not closed 3s after its answer was written during Shutdown: %v", err)
	}
	select {
	case err := <-shut:
		if err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	case <-time.After(time.Second):
		t.Errorf("Shutdown still waits for a connection with nothing in flight")
		cc.c.Close() // let it end
		recv(t, shut, "Shutdown")
	}
}

// Regression (evclient_linux.go:226-230 finish, 261-266 expire): the idle
// deadline starts when the loop finishes an exchange, while its answer
// may still be unsent, and expire closes the connection with the rest of
// the answer unsent: a client reading a response slower than IdleTimeout
// gets it truncated. The goroutine server starts the idle timeout once the
// answer is written.
func TestEvReviewIdleTimeoutCutsSlowReader(t *testing.T) {
	onEngines(t, func(t *testing.T, engine string) {
		gw := startGateway(t, oneRoute(1, bigUpstream(t), store.Route{Paths: []string{"/"}}), Options{Engine: engine, IdleTimeout: 200 * time.Millisecond})
		s := evServer(t, gw)
		cc := slowReader(t, gw.addr)
		if engine == EngineEpoll {
			shrinkSendBuffer(t, s, cc)
		}
		if err := cc.write(confGet("/big")); err != nil {
			t.Fatal(err)
		}
		if engine == EngineEpoll {
			waitPendingOutput(t, s, cc)
		} else {
			gw.logs.waitLog(t, func(r map[string]slog.Value) bool { return r["path"].String() == "/big" })
		}
		// The client reads nothing for a while: wait until the gateway
		// drops the connection, or for a second (the right outcome).
		deadline := time.Now().Add(time.Second)
		for connCount(s) > 0 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		resp, body, err := cc.read("GET")
		if err != nil || resp.StatusCode != 200 || body != evBigBody {
			t.Fatalf("a client slower than IdleTimeout got: %v, %d of %d bytes, %v", resp != nil, len(body), len(evBigBody), err)
		}
	})
}

// Regression (evescalate_linux.go:56-87 evStream.run): a streamed response
// has no disconnect watch. When its client goes away while the upstream
// is quiet (server-sent events between two events), the goroutine server
// notices at once (disconnectWatch) and abandons the upstream connection;
// the stream holds it, and its goroutine, until the upstream sends again
// or the read timeout (60 s by default) passes.
func TestEvReviewStreamIgnoresClientGone(t *testing.T) {
	onEngines(t, func(t *testing.T, engine string) {
		upClosed := make(chan bool, 1)
		addr := rawUpstream(t, func(c net.Conn, br *bufio.Reader) {
			if _, err := readHead(br); err != nil {
				return
			}
			io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n")
			_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
			_, err := br.ReadByte()
			upClosed <- err == io.EOF || errors.Is(err, syscall.ECONNRESET)
		})
		gw := startGateway(t, oneRoute(1, "http://"+addr, store.Route{Paths: []string{"/"}}), Options{Engine: engine})
		cc := confDial(t, gw.addr)
		readStreamStart(t, cc)
		cc.c.Close()
		if !recv(t, upClosed, "the upstream's read") {
			t.Errorf("the upstream connection is still open 3s after the client went away")
		}
	})
}

// Regression (evclient_linux.go:126-128 read): the loop starts ReadHeaderTimeout
// only when no deadline is set, so the head of a request on a kept-alive
// connection is bounded by what is left of IdleTimeout, not by
// ReadHeaderTimeout: a client that sends part of a head and stalls holds
// the connection for up to IdleTimeout (2 min by default). The goroutine
// server gives the head ReadHeaderTimeout from its first byte.
func TestEvReviewSlowHeadOnKeptConn(t *testing.T) {
	onEngines(t, func(t *testing.T, engine string) {
		gw := startGateway(t, oneRoute(1, newTextEcho(t), store.Route{Paths: []string{"/"}}),
			Options{Engine: engine, ReadHeaderTimeout: 300 * time.Millisecond, IdleTimeout: time.Minute})
		cc := confDial(t, gw.addr)
		if resp, body := cc.do(t, "GET", confGet("/a")); resp.StatusCode != 200 {
			t.Fatalf("%d %q", resp.StatusCode, body)
		}
		if err := cc.write("GET /b HTTP/1.1\r\nHost: tollgate.test\r\n"); err != nil {
			t.Fatal(err)
		}
		_ = cc.c.SetReadDeadline(time.Now().Add(3 * time.Second))
		_, err := cc.br.Peek(1)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Errorf("a stalled request head still holds the connection 3s on; ReadHeaderTimeout is 300ms")
		}
	})
}

// serviceUpstream returns the live upstream of service name.
func serviceUpstream(gw *testGateway, name string) *upstream {
	gw.updateMu.Lock()
	defer gw.updateMu.Unlock()
	return gw.upstreams[name]
}

// servedOnLoops fails unless an epoll gateway served every request on
// its loops (nothing handed over or streamed).
func servedOnLoops(t *testing.T, gw *testGateway) {
	t.Helper()
	if gw.opts.Engine != EngineEpoll {
		return
	}
	if served, handedOff, streamed := gw.loopCounts(); served == 0 || handedOff != 0 || streamed != 0 {
		t.Errorf("loops served %d, handed over %d, streamed %d: want all served on the loops", served, handedOff, streamed)
	}
}

// TestEvReviewClientGoneMidExchange: a client that leaves while its
// request waits on the upstream is logged 499, the upstream connection is
// dropped, and the breaker slot and the target's in-flight count are given
// back (MaxConcurrentRequests 1 lets the next request through).
func TestEvReviewClientGoneMidExchange(t *testing.T) {
	onEngines(t, func(t *testing.T, engine string) {
		got := make(chan struct{}, 1)
		upGone := make(chan bool, 1)
		addr := rawUpstream(t, func(c net.Conn, br *bufio.Reader) {
			for {
				head, err := readHead(br)
				if err != nil {
					return
				}
				if strings.HasPrefix(head, "GET /gone ") {
					got <- struct{}{}
					_ = c.SetReadDeadline(time.Now().Add(waitTimeout))
					_, err := br.ReadByte()
					upGone <- err == io.EOF || errors.Is(err, syscall.ECONNRESET)
					return
				}
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
			}
		})
		cfg := oneRoute(1, "http://"+addr, store.Route{Paths: []string{"/"}})
		cfg.Services[0].MaxConcurrentRequests = 1
		gw := startGateway(t, cfg, Options{Engine: engine})
		a := confDial(t, gw.addr)
		if err := a.write(confGet("/gone")); err != nil {
			t.Fatal(err)
		}
		recv(t, got, "the upstream to get the request")
		a.c.Close()
		gw.logs.waitLog(t, func(r map[string]slog.Value) bool {
			return r["path"].String() == "/gone" && r["status"].Int64() == statusClientClosed
		})
		if !recv(t, upGone, "the upstream's read") {
			t.Error("the upstream connection of an abandoned request was not closed")
		}
		b := confDial(t, gw.addr)
		if resp, body := b.do(t, "GET", confGet("/next")); resp.StatusCode != 200 || body != "ok" {
			t.Errorf("next request: %d %q (the breaker slot was not given back?)", resp.StatusCode, body)
		}
		up := serviceUpstream(gw, "svc")
		waitfor.Condition(t, waitTimeout, "no request in flight", func() bool {
			return up.inflight.Load() == 0 && up.targets[0].inflight.Load() == 0
		})
		servedOnLoops(t, gw)
	})
}

// TestEvReviewStalePooledConnRetried: a pooled upstream connection the
// upstream closes on receiving the next request (the idle-close race) is
// replaced once, transparently, as h1Client does.
func TestEvReviewStalePooledConnRetried(t *testing.T) {
	onEngines(t, func(t *testing.T, engine string) {
		addr := rawUpstream(t, func(c net.Conn, br *bufio.Reader) {
			for i := 0; ; i++ {
				if _, err := readHead(br); err != nil || i == 1 {
					return // the second request on a connection: close unanswered
				}
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
			}
		})
		gw := startGateway(t, oneRoute(1, "http://"+addr, store.Route{Paths: []string{"/"}}), Options{Engine: engine})
		cc := confDial(t, gw.addr)
		for i := range 3 {
			if resp, body := cc.do(t, "GET", confGet("/s")); resp.StatusCode != 200 || body != "ok" {
				t.Fatalf("#%d: %d %q", i, resp.StatusCode, body)
			}
		}
		servedOnLoops(t, gw)
	})
}

// TestEvReviewFraming: HEAD, 204, 304, an HTTP/1.0 client and an upstream
// that closes answer as the goroutine server does, and the connection
// stays in sync after each.
func TestEvReviewFraming(t *testing.T) {
	onEngines(t, func(t *testing.T, engine string) {
		up := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch r.URL.Path {
			case "/204":
				w.WriteHeader(http.StatusNoContent)
			case "/304":
				w.WriteHeader(http.StatusNotModified)
			case "/close":
				w.Header().Set("Connection", "close")
				io.WriteString(w, "closing")
			default:
				fmt.Fprintf(w, "%s %s ", r.Method, r.URL.Path)
			}
		}))
		gw := startGateway(t, oneRoute(1, up.URL, store.Route{Paths: []string{"/"}}), Options{Engine: engine})
		cc := confDial(t, gw.addr)
		resp, body := cc.do(t, "HEAD", "HEAD /h HTTP/1.1\r\nHost: tollgate.test\r\n\r\n")
		if resp.StatusCode != 200 || body != "" || resp.ContentLength != int64(len("HEAD /h ")) {
			t.Errorf("HEAD: %d %q length %d", resp.StatusCode, body, resp.ContentLength)
		}
		for _, code := range []int{204, 304} {
			resp, body := cc.do(t, "GET", confGet(fmt.Sprintf("/%d", code)))
			if resp.StatusCode != code || body != "" {
				t.Errorf("%d: %d %q", code, resp.StatusCode, body)
			}
		}
		if resp, body := cc.do(t, "GET", confGet("/close")); resp.StatusCode != 200 || body != "closing" || resp.Close {
			t.Errorf("an upstream closing: %d %q close=%v (the client's connection is kept)", resp.StatusCode, body, resp.Close)
		}
		cc.inSync(t)
		// HTTP/1.0 with keep-alive, then without.
		resp, body = cc.do(t, "GET", "GET /k HTTP/1.0\r\nHost: tollgate.test\r\nConnection: keep-alive\r\n\r\n")
		if resp.StatusCode != 200 || body != "GET /k " || resp.Close {
			t.Errorf("HTTP/1.0 keep-alive: %d %q close=%v", resp.StatusCode, body, resp.Close)
		}
		resp, body = cc.do(t, "GET", "GET /c HTTP/1.0\r\nHost: tollgate.test\r\n\r\n")
		if resp.StatusCode != 200 || body != "GET /c " || !resp.Close {
			t.Errorf("HTTP/1.0: %d %q close=%v", resp.StatusCode, body, resp.Close)
		}
		cc.expectClosed(t)
		servedOnLoops(t, gw)
	})
}

// TestEvReviewShutdownWaitsForExchange: Shutdown lets a request in flight
// on a loop finish, answers it with Connection: close and then returns.
func TestEvReviewShutdownWaitsForExchange(t *testing.T) {
	onEngines(t, func(t *testing.T, engine string) {
		got, release := make(chan struct{}, 1), make(chan struct{})
		addr := rawUpstream(t, func(c net.Conn, br *bufio.Reader) {
			if _, err := readHead(br); err != nil {
				return
			}
			got <- struct{}{}
			<-release
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ndone")
		})
		gw := startGateway(t, oneRoute(1, "http://"+addr, store.Route{Paths: []string{"/"}}), Options{Engine: engine})
		s := evServer(t, gw)
		cc := confDial(t, gw.addr)
		if err := cc.write(confGet("/w")); err != nil {
			t.Fatal(err)
		}
		recv(t, got, "the upstream to get the request")
		shut := make(chan error, 1)
		go func() { shut <- gw.Shutdown(context.Background()) }()
		waitfor.Condition(t, waitTimeout, "Shutdown to close the listener", s.draining.Load)
		close(release)
		resp, body, err := cc.read("GET")
		if err != nil || resp.StatusCode != 200 || body != "done" || !resp.Close {
			t.Fatalf("answer during Shutdown: %v %q %v", resp, body, err)
		}
		cc.expectClosed(t)
		if err := recv(t, shut, "Shutdown"); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
}
