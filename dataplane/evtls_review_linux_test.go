//go:build linux

package dataplane

import (
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/waitfor"
)

// TestEpollTLSMaxConnsCountsH2: with MaxConns 1, an open HTTP/2 TLS
// connection holds the one slot (as netutil.LimitListener did before the
// change): a second client must not be served while it is open.
func TestEpollTLSMaxConnsCountsH2(t *testing.T) {
	_, addr, roots, _ := startEpollTLS(t, Options{MaxConns: 1})
	c := tlsClient(t, &tls.Config{RootCAs: roots, ServerName: "a.test"})
	c.Timeout = waitTimeout
	resp, err := c.Get("https://" + addr + "/h2")
	if err != nil {
		t.Fatal(err)
	}
	io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.ProtoMajor != 2 {
		t.Fatalf("%s, want HTTP/2", resp.Proto)
	}
	// The h2 connection stays open in c's pool. A second client:
	raw, err := net.DialTimeout("tcp", addr, waitTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	tc := tls.Client(raw, &tls.Config{RootCAs: roots, ServerName: "a.test", NextProtos: []string{"http/1.1"}})
	_ = tc.SetDeadline(time.Now().Add(time.Second))
	if err := tc.Handshake(); err == nil {
		if _, err := io.WriteString(tc, "GET /second HTTP/1.1\r\nHost: a.test\r\n\r\n"); err == nil {
			b := make([]byte, 64)
			if n, err := tc.Read(b); err == nil {
				t.Fatalf("second connection served while MaxConns=1 and an h2 connection is open: %q", b[:n])
			}
		}
	}
}

// tlsEvServer is gw's TLS h1Server once its loops run.
func tlsEvServer(t *testing.T, gw *testGateway) *h1Server {
	t.Helper()
	return evServerWhere(t, gw, "the TLS listener served by loops", func(hs *h1Server) bool { return hs.tls != nil })
}

// TestEpollTLSCloseIdleRacingGiveBack: Shutdown's closeIdle reaching the
// goroutine server's record of a TLS connection while giveBack hands it to
// a loop (after toLoop, before the record is removed) closes the
// *tls.Conn the loop now owns: the loop goes on serving it, but every
// answer is dropped (tls.Conn.Write fails with net.ErrClosed, ignored by
// seal), the client gets a bare close_notify.
func TestEpollTLSCloseIdleRacingGiveBack(t *testing.T) {
	calls := 0
	atHook, proceed := make(chan struct{}, 1), make(chan struct{})
	hook := func() {
		calls++         // the giving-back goroutines are sequential for one client
		if calls != 2 { // the first is the give-back after the handshake
			return
		}
		atHook <- struct{}{}
		<-proceed
	}
	testHookTakeBack.Store(&hook)
	t.Cleanup(func() { testHookTakeBack.Store(nil) })
	gw, addr, roots, _ := startEpollTLS(t, Options{})
	s := tlsEvServer(t, gw)
	cc := tlsConfDial(t, addr, roots, []string{"http/1.1"})
	if resp, body := cc.do(t, "GET", confGet("/a")); resp.StatusCode != 200 || body != "GET /a  https" {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
	large := strings.Repeat("l", evMaxBody+1)
	if resp, body := cc.do(t, "POST", confPost("/c", large)); resp.StatusCode != 200 || body != "POST /c "+large+" https" {
		t.Fatalf("%d %.40q", resp.StatusCode, body)
	}
	select {
	case <-atHook:
	case <-time.After(waitTimeout):
		t.Fatal("no give-back after the hand-over")
	}
	s.closeIdle() // what Shutdown's first pass does, had it begun just now
	close(proceed)
	waitfor.Condition(t, waitTimeout, "the connection taken back", func() bool { return gw.LoopStats().TakenBack >= 2 })
	// Either outcome would be fine: the connection closed, or served.
	if err := cc.write(confGet("/after")); err != nil {
		t.Logf("write: %v (closed: fine)", err)
		return
	}
	resp, body, err := cc.read("GET")
	if err != nil {
		gw.logs.waitLog(t, func(r map[string]slog.Value) bool {
			return r["path"].String() == "/after" && r["status"].Int64() == 200
		})
		t.Fatalf("request after the racing closeIdle: no answer (%v), yet the loop kept the connection open and served the request", err)
	}
	t.Logf("%d %q", resp.StatusCode, body)
}
