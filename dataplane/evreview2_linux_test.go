//go:build linux

package dataplane

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/store"
)

// Review tests of the epoll engine, second round (against 6caaad7). Each
// "Regression" comment names what the test found at 6caaad7 (since fixed);
// most run on both
// engines with the goroutine server as the reference.

// Regression (h1relay.go:59-63 scanResponseHead): an empty Content-Length field
// followed by one with a value is relayed, with the second value; the
// general path (contentLength, h1read.go:150-161) refuses the head (502),
// since the fields disagree.
// Regression (h1relay.go:66-67, 131-133): a Date field that Connection lists is
// dropped by the relay, which then adds no Date of its own (hasDate is
// set); the general path removes it too and the writer adds the gateway's.
func TestEvReview2RelayHeadAgainstGeneral(t *testing.T) {
	for _, head := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: \r\nContent-Length: 2\r\n\r\n",
		"HTTP/1.1 200 OK\r\nConnection: Date\r\nDate: Mon, 01 Jan 2024 00:00:00 GMT\r\nContent-Length: 2\r\n\r\n",
	} {
		t.Run("", func(t *testing.T) { relayAgainstGeneral(t, head, nil) })
	}
}

// fixedUpstream answers every request with raw.
func fixedUpstream(t *testing.T, raw string) string {
	return rawUpstream(t, func(c net.Conn, br *bufio.Reader) {
		for {
			if _, err := readHead(br); err != nil {
				return
			}
			if _, err := io.WriteString(c, raw); err != nil {
				return
			}
		}
	})
}

// The two relay bugs above, end to end: the epoll engine answers 200 to
// a head with disagreeing Content-Length fields (the goroutine server:
// 502), and sends no Date when Connection lists the upstream's.
func TestEvReview2RelayEndToEnd(t *testing.T) {
	onEngines(t, func(t *testing.T, engine string) {
		t.Run("empty then valued Content-Length", func(t *testing.T) {
			addr := fixedUpstream(t, "HTTP/1.1 200 OK\r\nContent-Length: \r\nContent-Length: 2\r\n\r\nok")
			gw := startGateway(t, oneRoute(1, "http://"+addr, store.Route{Paths: []string{"/"}}), Options{Engine: engine})
			cc := confDial(t, gw.addr)
			resp, body := cc.do(t, "GET", confGet("/cl"))
			if resp.StatusCode != http.StatusBadGateway {
				t.Errorf("status %d body %q, want 502 (the Content-Length fields disagree)", resp.StatusCode, body)
			}
		})
		t.Run("Connection lists Date", func(t *testing.T) {
			addr := fixedUpstream(t, "HTTP/1.1 200 OK\r\nConnection: Date\r\nDate: Mon, 01 Jan 2024 00:00:00 GMT\r\nContent-Length: 2\r\n\r\nok")
			gw := startGateway(t, oneRoute(1, "http://"+addr, store.Route{Paths: []string{"/"}}), Options{Engine: engine})
			cc := confDial(t, gw.addr)
			resp, body := cc.do(t, "GET", confGet("/date"))
			if resp.StatusCode != 200 || body != "ok" {
				t.Fatalf("%d %q", resp.StatusCode, body)
			}
			if d := resp.Header.Values("Date"); len(d) != 1 || d[0] == "Mon, 01 Jan 2024 00:00:00 GMT" {
				t.Errorf("Date %q, want the gateway's own", d)
			}
		})
	})
}

// streamUpstream answers /stream with a chunked head and a first chunk,
// then, once release is closed or the gateway shuts the connection, the
// rest; any other request gets "ok". gone reports whether the gateway
// closed the upstream connection of the stream before it was released.
func streamUpstream(t *testing.T) (addr string, release chan struct{}, gone chan bool) {
	release, gone = make(chan struct{}), make(chan bool, 1)
	addr = rawUpstream(t, func(c net.Conn, br *bufio.Reader) {
		for {
			head, err := readHead(br)
			if err != nil {
				return
			}
			if !strings.HasPrefix(head, "GET /stream ") {
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
				continue
			}
			io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n")
			closed := make(chan struct{})
			go func() {
				var b [1]byte
				_ = c.SetReadDeadline(time.Time{})
				if _, err := c.Read(b[:]); err != nil {
					close(closed)
				}
			}()
			select {
			case <-release:
				gone <- false
			case <-closed:
				gone <- true
				return
			}
			io.WriteString(c, "4\r\nrest\r\n0\r\n\r\n")
			return // one response per connection: the read above is pending
		}
	})
	return addr, release, gone
}

// Regression (evescalate_linux.go:106-125 watchClient): while a response is
// streamed, the watch reads the client to its end; a client that pipelined
// its next request and then shut its write side (a half-close, as
// `nc -N` does) is taken as gone: the stream is cut off (its upstream
// closed) and the pipelined request never answered. The goroutine
// server's watch (h1watch.go:61-79) stops at the first byte of a next
// request, so the response completes and the pipelined request is
// answered.
func TestEvReview2StreamPipelinedHalfClose(t *testing.T) {
	onEngines(t, func(t *testing.T, engine string) {
		addr, release, gone := streamUpstream(t)
		gw := startGateway(t, oneRoute(1, "http://"+addr, store.Route{Paths: []string{"/"}}), Options{Engine: engine})
		cc := confDial(t, gw.addr)
		resp := readStreamStart(t, cc)
		if err := cc.write(confGet("/next")); err != nil {
			t.Fatal(err)
		}
		if err := cc.c.(*net.TCPConn).CloseWrite(); err != nil {
			t.Fatal(err)
		}
		// The goroutine server never drops the upstream here; give the
		// epoll engine's watch a bounded time to do it before releasing.
		select {
		case <-time.After(time.Second):
			close(release)
		case <-gone:
			t.Fatal("the gateway closed the stream's upstream connection: a pipelined request and a half-close were taken as the client gone")
		}
		rest, err := io.ReadAll(resp.Body)
		if err != nil || string(rest) != "rest" {
			t.Fatalf("rest of the streamed body %q %v", rest, err)
		}
		r2, body, err := cc.read("GET")
		if err != nil || r2.StatusCode != 200 || body != "ok" {
			t.Fatalf("pipelined request: %v %q %v", r2, body, err)
		}
	})
}

// Regression (evescalate_linux.go:106-125 watchClient): the stream's client watch
// reads whatever the client sends, for as long as the body streams, and
// keeps it all in s.watched: a client can make the gateway buffer an
// unbounded amount while a slow download runs. Here the client gets 48
// MiB through, more than the loopback socket buffers can hold (about 36
// MiB at most with this machine's tcp_rmem/tcp_wmem), so the rest is in
// the gateway's memory. The goroutine server's watch reads one byte and
// leaves the rest in the socket (TCP flow control stops the client); on
// it the write times out.
func TestEvReview2StreamWatchBuffersUnbounded(t *testing.T) {
	onEngines(t, func(t *testing.T, engine string) {
		addr, release, _ := streamUpstream(t)
		gw := startGateway(t, oneRoute(1, "http://"+addr, store.Route{Paths: []string{"/"}}), Options{Engine: engine})
		cc := confDial(t, gw.addr)
		readStreamStart(t, cc)
		defer close(release) // the stream ends, and with it the request
		const total = 48 << 20
		_ = cc.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
		n, _ := cc.c.Write(make([]byte, total))
		if n == total {
			t.Errorf("the gateway took all %d MiB the client sent while its response streamed (buffered in memory)", n>>20)
		}
	})
}

// panicPolicy is an InlinePolicy whose Before panics for /panic.
type panicPolicy struct{}

func (p panicPolicy) Wrap(next Handler) Handler {
	return func(rc *RequestContext) {
		if p.Before(rc) {
			next(rc)
		}
	}
}

func (panicPolicy) Before(rc *RequestContext) bool {
	if rc.Request.URL.Path == "/panic" {
		panic("policy bug")
	}
	return true
}

// Regression (evexchange_linux.go:78-84 startExchange, evloop_linux.go:242-263
// run): nothing on the loop recovers a panic. With 6caaad7 the auth and
// rate-limit policies (JWT parsing of untrusted tokens included) run on
// the loops: a panic in any InlinePolicy.Before (or in respond, or the
// relay) takes the whole process down. The goroutine server recovers it
// (h1serverconn.go:242-250): the connection is closed, the gateway goes
// on. Run in a child process, since the failure is the process dying.
func TestEvReview2PolicyPanicKillsProcess(t *testing.T) {
	if engine := os.Getenv("EVREVIEW2_PANIC_ENGINE"); engine != "" {
		up := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
		gw := startGateway(t, oneRoute(1, up.URL, store.Route{Paths: []string{"/"}}), Options{Engine: engine,
			Policies: func(*store.Config, *store.Route) ([]Policy, error) { return []Policy{panicPolicy{}}, nil }})
		cc := confDial(t, gw.addr)
		if err := cc.write(confGet("/panic")); err != nil {
			t.Fatal(err)
		}
		if _, _, err := cc.read("GET"); err == nil {
			t.Error("a panicking policy's request was answered")
		}
		if resp, body := gw.get(t, "/fine"); resp.StatusCode != 200 || string(body) != "ok" {
			t.Errorf("after the panic: %d %q", resp.StatusCode, body)
		}
		return
	}
	onEngines(t, func(t *testing.T, engine string) {
		inChildProcess(t, "TestEvReview2PolicyPanicKillsProcess", "EVREVIEW2_PANIC_ENGINE="+engine,
			"the gateway process failed after a policy panicked")
	})
}

// inChildProcess runs the test named name again in a child process with
// env (KEY=value) added, for a test whose failure is the process dying;
// it fails t with the head of the child's output if the child fails.
func inChildProcess(t *testing.T, name, env, what string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+name+"$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), env)
	out, err := cmd.CombinedOutput()
	if err != nil {
		lines := strings.Split(string(out), "\n")
		t.Errorf("%s (%v):\n%s", what, err, strings.Join(lines[:min(len(lines), 12)], "\n"))
	}
}

// Regression (h1server.go:84-87 run, aca5579): with Options.MaxConns the
// goroutine server accepts through netutil.LimitListener, whose
// connections hide *net.TCPConn's CloseWrite; h1ServerConn.close
// (h1serverconn.go:379-385) then lingers without shutting its write side,
// so a client refused with 400 sees the end of the connection only after
// h1Linger (500 ms) of draining instead of at once. Without MaxConns, and
// on the epoll engine (whose handed-over connections are *net.TCPConn),
// the FIN follows the answer.
func TestEvReview2MaxConnsLingerWithoutCloseWrite(t *testing.T) {
	for _, maxConns := range []int{0, 16} {
		t.Run(fmt.Sprint("MaxConns=", maxConns), func(t *testing.T) {
			up := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
			gw := startGateway(t, oneRoute(1, up.URL, store.Route{Paths: []string{"/"}}), Options{Engine: EngineGoroutine, MaxConns: maxConns})
			cc := confDial(t, gw.addr)
			if err := cc.write("GET / HTTP/1.1\r\nHost: tollgate.test\r\nBad Header: x\r\n\r\n"); err != nil {
				t.Fatal(err)
			}
			resp, _, err := cc.read("GET")
			if err != nil || resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("%v %v", resp, err)
			}
			_ = cc.c.SetReadDeadline(time.Now().Add(h1Linger / 2))
			if _, err := cc.br.ReadByte(); err != io.EOF {
				t.Errorf("after the 400: %v, want EOF at once (the write side shut before lingering)", err)
			}
		})
	}
}
