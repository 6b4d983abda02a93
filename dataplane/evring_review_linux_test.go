//go:build linux

package dataplane

import (
	"errors"
	"log/slog"
	"net"
	"os"
	"reflect"
	"syscall"
	"testing"

	"github.com/tollgate/tollgate/store"
)

// Review tests of the io_uring send path (evring_linux.go,
// internal/uring).

// ringLoop starts an epoll gateway with one loop sending through a ring
// (skipping where there is none) and returns it with its loop.
func ringLoop(t *testing.T, cfg *store.Config, opts Options) (*testGateway, *h1Server, *evLoop) {
	t.Helper()
	if os.Getenv("TOLLGATE_TEST_ENGINE") == "epoll-sendto" || !ringAvailable(t) {
		t.Skip("no io_uring in this run")
	}
	opts.EventLoops = 1
	gw := startEpoll(t, cfg, opts)
	s := evServer(t, gw)
	loops := reviewLoops(s)
	if len(loops) != 1 {
		t.Fatalf("%d loops, want 1", len(loops))
	}
	return gw, s, loops[0]
}

// ringFD is the descriptor of l's ring (internal/uring keeps it
// unexported).
func ringFD(l *evLoop) int {
	return int(reflect.ValueOf(l.ring).Elem().FieldByName("fd").Int())
}

// Regression (evring_linux.go submitRing, internal/uring Submit): when
// io_uring_enter failed (ENOMEM/EAGAIN/EBUSY are transient),
// submitRing marks every queued send failed (EIO) and forgets them
// (ringOps cleared), but (1) it does not put the sockets on l.sent, so
// afterSend never runs: the client neither gets its answer nor is closed,
// and no EPOLLOUT is registered (update saw queued > 0); and (2) Submit
// returns without touching the SQ: the entries stay queued in the ring,
// Ring.queued and keep are not reset. The next successful Submit sends the
// stale entries again, with user data that indexes the new ringOps (the
// wrong socket gets their result; an index past the end panics in
// drainRing, outside any recover). Here the ring's descriptor is made to
// fail once, then restored: the answer to /a1 reached the client twice.
// Now the loop drops a ring that failed and sends with sendto.
func TestRingReviewSubmitFailureResendsStaleSends(t *testing.T) {
	gw, _, l := ringLoop(t, oneRoute(1, newTextEcho(t), store.Route{Paths: []string{"/api"}}), Options{})
	cc := confDial(t, gw.addr)
	if resp, body := cc.do(t, "GET", confGet("/warm")); resp.StatusCode != 404 {
		t.Fatalf("warm-up: %d %q", resp.StatusCode, body)
	}
	// Make io_uring_enter fail: another file at the ring's number.
	var fd, saved int
	onLoop(t, l, func() {
		fd = ringFD(l)
		var err error
		if saved, err = syscall.Dup(fd); err != nil {
			t.Error(err)
			return
		}
		null, err := syscall.Open("/dev/null", syscall.O_RDWR|syscall.O_CLOEXEC, 0)
		if err != nil {
			t.Error(err)
			return
		}
		_ = syscall.Dup3(null, fd, syscall.O_CLOEXEC)
		syscall.Close(null)
	})
	restored := false
	restore := func() {
		if !restored {
			restored = true
			onLoop(t, l, func() { _ = syscall.Dup3(saved, fd, syscall.O_CLOEXEC); syscall.Close(saved) })
		}
	}
	defer restore()
	if err := cc.write(confGet("/a1")); err != nil {
		t.Fatal(err)
	}
	gw.logs.waitLog(t, func(r map[string]slog.Value) bool { return r["path"].String() == "/a1" })
	onLoop(t, l, func() {}) // the pass that answered /a1 has ended
	onLoop(t, l, func() {})
	// The failed submission left the client with its answer unsent and no
	// way on: no EPOLLOUT, no afterSend.
	local := cc.c.LocalAddr().String()
	loopClient(t, evServer(t, gw), local, func(c *evClient) {
		if !c.closed && c.out.pending() && c.out.queued == 0 && c.events&syscall.EPOLLOUT == 0 {
			t.Errorf("after the failed submission the client holds %d unsent bytes (failed=%v) with no EPOLLOUT: it hangs",
				len(c.out.buf)-c.out.off, c.out.failed)
		}
	})
	restore()
	if err := cc.write(confGet("/a2")); err != nil {
		return // the connection was closed: fine
	}
	ids := map[string]int{}
	for i := 0; i < 2; i++ { // the answers to /a1 and /a2
		resp, _, err := cc.read("GET")
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Errorf("the connection hangs: %v", err)
			}
			break
		}
		id := resp.Header.Get(headerRequestID)
		ids[id]++
		if ids[id] > 1 {
			t.Errorf("the answer with request id %s reached the client %d times", id, ids[id])
		}
	}
}
