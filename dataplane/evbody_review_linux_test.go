//go:build linux

package dataplane

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/tollgate/tollgate/internal/waitfor"
	"github.com/tollgate/tollgate/store"
)

// readReqBody reads the body of a request whose head is head, by its
// Content-Length.
func readReqBody(br *bufio.Reader, head string) (string, error) {
	n := 0
	for _, line := range strings.Split(head, "\r\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok && textproto.CanonicalMIMEHeaderKey(strings.TrimSpace(k)) == "Content-Length" {
			n, _ = strconv.Atoi(strings.TrimSpace(v))
		}
	}
	b := make([]byte, n)
	_, err := io.ReadFull(br, b)
	return string(b), err
}

// peekEOF reports whether fd has its peer's close waiting to be read.
func peekEOF(fd int) bool {
	var b [1]byte
	n, _, errno := syscall.RawSyscall6(syscall.SYS_RECVFROM, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), 1,
		syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
	return errno == 0 && n == 0
}

// TestEvBodyStalePooledConn: the upstream closes an idle pooled
// connection (its keep-alive timeout) just as a POST arrives. h1Client
// probes a pooled connection before it sends a body on it ("requests
// with a body always check: they cannot be retried on a fresh one") and
// dials a fresh one: 200. So must the loop (upstreamConn's probe):
// without it, the POST failed on the dead connection and, having a body
// and not being idempotent, was neither replayed nor retried: 502.
//
// The race is made deterministic by holding the loop in a task while the
// request and then the upstream's close arrive: the loop then sees both
// in one epoll_wait, the client's first.
func TestEvBodyStalePooledConn(t *testing.T) {
	onEngines(t, func(t *testing.T, engine string) {
		closeFirst, firstClosed := make(chan struct{}), make(chan struct{})
		var conns atomic.Int32
		addr := rawUpstream(t, func(c net.Conn, br *bufio.Reader) {
			first := conns.Add(1) == 1
			for {
				head, err := readHead(br)
				if err != nil {
					return
				}
				body, err := readReqBody(br, head)
				if err != nil {
					return
				}
				fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
				if first {
					select { // the upstream's idle timeout
					case <-closeFirst:
					case <-time.After(waitTimeout):
					}
					c.Close()
					close(firstClosed)
					return
				}
			}
		})
		gw := startGateway(t, oneRoute(1, "http://"+addr, store.Route{Paths: []string{"/"}}), Options{Engine: engine})
		cc := confDial(t, gw.addr)
		if resp, body := cc.do(t, "POST", confPost("/a", "one")); resp.StatusCode != 200 || body != "one" {
			t.Fatalf("first POST: %d %q", resp.StatusCode, body)
		}
		release := make(chan struct{})
		defer func() {
			select {
			case <-release:
			default:
				close(release)
			}
		}()
		if engine == EngineEpoll {
			// Hold the client's loop, with the client's and the pooled
			// upstream connection's descriptors.
			var held *evLoop
			clientFD, upFD := -1, -1
			for _, l := range reviewLoops(evServer(t, gw)) {
				onLoop(t, l, func() {
					for _, sock := range l.sockets {
						if c, ok := sock.(*evClient); ok && c.conn.remote == cc.c.LocalAddr().String() {
							held, clientFD = l, c.fd
							if list := l.idle[addr]; len(list) == 1 {
								upFD = list[0].fd
							}
						}
					}
				})
			}
			if held == nil || upFD < 0 {
				t.Fatalf("no loop holds the client with one pooled upstream connection (fd %d)", upFD)
			}
			blocked := make(chan struct{})
			held.post(func() {
				close(blocked)
				select {
				case <-release:
				case <-time.After(waitTimeout):
				}
			})
			recv(t, blocked, "the loop to be held")
			if err := cc.write(confPost("/b", "two")); err != nil {
				t.Fatal(err)
			}
			waitfor.Condition(t, waitTimeout, "the POST waiting on the loop's socket", func() bool { return inputWaiting(clientFD) })
			close(closeFirst)
			waitfor.Condition(t, waitTimeout, "the upstream's close at the pooled connection", func() bool { return peekEOF(upFD) })
			close(release)
		} else {
			close(closeFirst)
			recv(t, firstClosed, "the upstream's first connection closed")
			if err := cc.write(confPost("/b", "two")); err != nil {
				t.Fatal(err)
			}
		}
		resp, body, err := cc.read("POST")
		if err != nil || resp.StatusCode != 200 || body != "two" {
			status := 0
			if resp != nil {
				status = resp.StatusCode
			}
			t.Fatalf("a POST on a pooled connection the upstream just closed: %d %q %v, want 200 \"two\"", status, body, err)
		}
	})
}

// smallRcvbufUpstream is rawUpstream on a listener whose connections
// have a small receive buffer: a request body the handler does not read
// stays mostly in the gateway.
func smallRcvbufUpstream(t *testing.T, serve func(c net.Conn)) string {
	t.Helper()
	lc := net.ListenConfig{Control: smallRcvbuf}
	ln, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); serve(c) }()
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return ln.Addr().String()
}

// TestEvBodyEscalateKeepsUnsentBody: an upstream that answers (a streamed
// body) before it reads the request body, as a full-duplex service does.
// The goroutine server's h1Client writes the whole request, and the
// upstream gets all of it. The loop escalates the exchange once the
// response head is evStreamAfter old; what it had not yet written of the
// request (u.out, blocked on the upstream's window) must go with the
// stream (evStream.upOut): left behind, the upstream never got the rest
// of the body.
func TestEvBodyEscalateKeepsUnsentBody(t *testing.T) {
	onEngines(t, func(t *testing.T, engine string) {
		proceed := make(chan struct{})
		addr := smallRcvbufUpstream(t, func(c net.Conn) {
			br := bufio.NewReaderSize(c, 16) // reads little more than the head
			for {
				head, err := readHead(br)
				if err != nil {
					return
				}
				if !strings.HasPrefix(head, "POST ") {
					io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
					continue
				}
				io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
				select {
				case <-proceed:
				case <-time.After(waitTimeout):
				}
				_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
				body, _ := readReqBody(br, head)
				got := fmt.Sprintf(" got %d", len(strings.TrimRight(body, "\x00")))
				fmt.Fprintf(c, "%x\r\n%s\r\n0\r\n\r\n", len(got), got)
				return
			}
		})
		gw := startGateway(t, oneRoute(1, "http://"+addr, store.Route{Paths: []string{"/"}}), Options{Engine: engine})
		cc := confDial(t, gw.addr)
		if resp, body := cc.do(t, "GET", confGet("/warm")); resp.StatusCode != 200 || body != "ok" {
			t.Fatalf("warm-up: %d %q", resp.StatusCode, body)
		}
		if engine == EngineEpoll {
			// The pooled connection gets a fixed, small send buffer (as
			// on a host with a small tcp_wmem), so that the kernel does
			// not take the whole request at once.
			set := false
			for _, l := range reviewLoops(evServer(t, gw)) {
				onLoop(t, l, func() {
					for _, u := range l.idle[addr] {
						set = syscall.SetsockoptInt(u.fd, syscall.SOL_SOCKET, syscall.SO_SNDBUF, 4096) == nil
					}
				})
			}
			if !set {
				t.Fatal("no pooled upstream connection")
			}
		}
		if err := cc.write(confPost("/up", strings.Repeat("b", evMaxBody))); err != nil {
			t.Fatal(err)
		}
		if engine == EngineEpoll {
			waitfor.Condition(t, waitTimeout, "the exchange escalated", func() bool {
				_, _, streamed := gw.loopCounts()
				return streamed == 1
			})
		}
		close(proceed)
		resp, body, err := cc.read("POST")
		if err != nil || resp.StatusCode != 200 || body != fmt.Sprintf("hello got %d", evMaxBody) {
			t.Fatalf("%v %v %q, want the upstream to get all %d bytes of the body", resp, err, body, evMaxBody)
		}
	})
}
