package dataplane

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tollgate/tollgate/store"
)

// TestReadTimeoutStartsOnceRequestIsWritten: the read timeout bounds
// the wait for the response from when the request is written whole, on
// every engine, as store.Service.ReadTimeout says, h1Client does and
// http.Transport's ResponseHeaderTimeout does: the time the upstream
// takes to take the request in is not counted. (The event loops started
// it when they began to write, so an upstream slow to read a request
// larger than the sockets' buffers got a 504 although it answered at
// once.)
//
// "Written whole" means taken by the gateway's socket, whose send buffer
// may still hold megabytes that the upstream drains through its small
// receive window once released: the read timeout is long enough for that
// on a loaded machine (500 ms failed once, under the race detector at a
// load average of 10), and the release comes after it.
func TestReadTimeoutStartsOnceRequestIsWritten(t *testing.T) {
	const readTimeout = 2 * time.Second
	release := make(chan struct{})
	time.AfterFunc(readTimeout+500*time.Millisecond, func() { close(release) }) // after the read timeout
	resp, body := stalledWrite(t, readTimeout, waitTimeout, release)
	if resp.StatusCode != 200 || body != "ok" {
		t.Fatalf("%d %q, want the upstream's 200: it answered as soon as it had the request", resp.StatusCode, body)
	}
}

// TestStalledRequestWriteEndsAtServiceTimeout: a request the upstream
// never takes in is still bounded, by the service's timeout, on every
// engine: the gateway answers 504.
func TestStalledRequestWriteEndsAtServiceTimeout(t *testing.T) {
	resp, body := stalledWrite(t, 200*time.Millisecond, time.Second, nil) // never released
	checkGatewayError(t, resp, []byte(body), http.StatusGatewayTimeout, "upstream_timeout")
}

// stalledWrite proxies a request that the gateway cannot finish writing
// before the upstream starts reading it, once release is closed (nil:
// never), to an upstream that then reads it at once and answers 200 "ok",
// and returns the gateway's answer. The upstream's receive buffer is pinned
// small and the request's head is larger than the gateway's send buffer
// can grow to (tcp_wmem's maximum). The service has readTimeout and
// timeout.
func stalledWrite(t *testing.T, readTimeout, timeout time.Duration, release <-chan struct{}) (*http.Response, string) {
	t.Helper()
	size := sendBufferMax(t) + 1<<20
	stop := make(chan struct{})
	addr := smallBufferUpstream(t, func(c net.Conn, br *bufio.Reader) {
		select {
		case <-release:
		case <-stop:
			return
		}
		if err := discardHead(br); err == nil {
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	})
	t.Cleanup(func() { close(stop) }) // before the upstream's cleanup waits for serve
	cfg := oneRoute(1, "http://"+addr, store.Route{Paths: []string{"/"}})
	cfg.Services[0].ReadTimeout = store.Duration(readTimeout)
	cfg.Services[0].Timeout = store.Duration(timeout)
	gw := startGateway(t, cfg, Options{MaxHeaderBytes: 2 * size})
	c := confDial(t, gw.addr)
	go c.write("GET /big HTTP/1.1\r\nHost: tollgate.test\r\nX-Big: " + strings.Repeat("a", size) + "\r\n\r\n")
	resp, body, err := c.read("GET")
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

// sendBufferMax is the most a TCP socket's send buffer grows to by
// itself (the third value of net.ipv4.tcp_wmem).
func sendBufferMax(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/sys/net/ipv4/tcp_wmem")
	if err != nil {
		t.Skipf("no tcp_wmem: %v", err)
	}
	f := strings.Fields(string(b))
	n, err := strconv.Atoi(f[len(f)-1])
	if err != nil {
		t.Fatalf("tcp_wmem %q: %v", b, err)
	}
	return n
}

// smallBufferUpstream is rawUpstream on a listener whose connections
// have a receive buffer of a few KiB (fixed, not grown by the kernel).
func smallBufferUpstream(t *testing.T, serve func(c net.Conn, br *bufio.Reader)) string {
	t.Helper()
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
		if err != nil {
			return err
		}
		return serr
	}}
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return serveRaw(t, ln, serve)
}

// discardHead reads a request head up to the blank line, however long
// its lines.
func discardHead(br *bufio.Reader) error {
	lineStart := true
	for {
		line, err := br.ReadSlice('\n')
		if err != nil && err != bufio.ErrBufferFull {
			return err
		}
		if lineStart && string(line) == "\r\n" {
			return nil
		}
		lineStart = err == nil
	}
}
