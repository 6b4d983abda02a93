//go:build linux

package dataplane

import (
	"log/slog"
	"net"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/tollgate/tollgate/store"
)

// blackhole returns the address of a loopback listener that never
// accepts and whose accept queue is full, so that a new connection
// attempt hangs (its SYN is dropped) until the dialer gives up. It skips
// the test when the kernel answers anyway.
func blackhole(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := (&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: sa.(*syscall.SockaddrInet4).Port}).String()
	// Fill the accept queue (backlog 0 holds one or two connections).
	for i := 0; ; i++ {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			break // the queue is full: SYNs are dropped now
		}
		t.Cleanup(func() { c.Close() })
		if i == 8 {
			t.Skip("the kernel keeps accepting connections to a full listen queue")
		}
	}
	return addr
}

// TestConnectTimeout: a target that never completes the TCP handshake is
// given up after the service's connect_timeout, per attempt, and the
// client gets the gateway's 504, long before the service's total timeout.
func TestConnectTimeout(t *testing.T) {
	addr := blackhole(t)
	cfg := oneRoute(1, "http://"+addr, store.Route{Paths: []string{"/"}})
	cfg.Services[0].ConnectTimeout = store.Duration(100 * time.Millisecond)
	cfg.Services[0].Timeout = store.Duration(30 * time.Second)
	tg := startGateway(t, cfg, Options{})
	start := time.Now()
	resp, body := tg.get(t, "/x")
	took := time.Since(start)
	// A connect that timed out is the upstream being slow (504), not
	// refusing (502), on every engine.
	checkGatewayError(t, resp, body, http.StatusGatewayTimeout, "upstream_timeout")
	if took < 100*time.Millisecond {
		t.Errorf("answered after %v, before the connect timeout: did the dial fail for another reason?", took)
	}
	if took > 5*time.Second {
		t.Errorf("took %v: the connect timeout (100ms per attempt) was not applied", took)
	}
	rec := tg.logs.waitLog(t, func(r map[string]slog.Value) bool { return r["path"].String() == "/x" })
	t.Logf("took %v, status %d, log error %v", took, resp.StatusCode, rec["error"])
}
