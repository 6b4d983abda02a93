//go:build linux

package dataplane

import (
	"fmt"
	"net"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/uring"
	"github.com/tollgate/tollgate/store"
)

// ringAvailable reports whether this kernel gives the process io_uring,
// as a loop would set it up.
func ringAvailable(t *testing.T) bool {
	t.Helper()
	ok := make(chan bool)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		r, err := uring.New(evRingSize)
		if err == nil {
			r.Close()
		}
		ok <- err == nil
	}()
	return <-ok
}

// loopsHaveRings reports, per loop of gw, whether it sends through a ring.
func loopsHaveRings(t *testing.T, gw *testGateway) []bool {
	t.Helper()
	var rings []bool
	for _, l := range reviewLoops(evServer(t, gw)) {
		onLoop(t, l, func() { rings = append(rings, l.ring != nil) })
	}
	if len(rings) == 0 {
		t.Fatal("no event loops")
	}
	return rings
}

// TestRingCarriesTheLoopsSends: where the kernel has io_uring, every loop
// sends through a ring unless Options.DisableIOURing; either way requests
// on kept-alive connections are answered in order.
func TestRingCarriesTheLoopsSends(t *testing.T) {
	if !ringAvailable(t) {
		t.Skip("io_uring is not available here")
	}
	if os.Getenv("TOLLGATE_TEST_ENGINE") == "epoll-sendto" {
		t.Skip("this run disables io_uring")
	}
	upstream := newTextEcho(t)
	for _, disable := range []bool{false, true} {
		t.Run(fmt.Sprintf("disabled=%v", disable), func(t *testing.T) {
			gw := startEpoll(t, oneRoute(1, upstream, store.Route{Paths: []string{"/"}}), Options{DisableIOURing: disable})
			for i, has := range loopsHaveRings(t, gw) {
				if has == disable {
					t.Errorf("loop %d: ring %v with DisableIOURing %v", i, has, disable)
				}
			}
			conns := make([]*confConn, 4)
			for i := range conns {
				conns[i] = confDial(t, gw.addr)
			}
			for round := range 25 {
				answerEach(t, conns, round)
			}
			if served, _, _ := gw.loopCounts(); served < 100 {
				t.Errorf("%d requests served on the loops, want 100", served)
			}
		})
	}
}

// TestRingSlowReaderGetsEveryResponse: answers larger than the client's
// socket can take at once (the ring's send is short, the loop goes on
// with sendto and EPOLLOUT) arrive whole and in order, pipelined, and the
// connection then serves through the ring again.
func TestRingSlowReaderGetsEveryResponse(t *testing.T) {
	gw := startEpoll(t, oneRoute(1, bigUpstream(t), store.Route{Paths: []string{"/"}}), Options{})
	s := evServer(t, gw)
	cc := slowReader(t, gw.addr)
	shrinkSendBuffer(t, s, cc)
	if err := cc.write(confGet("/big/1") + confGet("/big/2") + confGet("/big/3")); err != nil {
		t.Fatal(err)
	}
	_ = cc.c.SetReadDeadline(time.Now().Add(waitTimeout))
	for i := 1; i <= 3; i++ {
		resp, body, err := cc.read("GET")
		if err != nil || resp.StatusCode != 200 || body != evBigBody {
			t.Fatalf("answer %d: %v, %d of %d bytes", i, err, len(body), len(evBigBody))
		}
	}
	local := cc.c.LocalAddr().String()
	blocked := true
	loopClient(t, s, local, func(c *evClient) { blocked = c.out.blocked || c.out.pending() })
	if blocked {
		t.Errorf("the connection still waits on EPOLLOUT with every answer read")
	}
}

// TestRingClientsVanishingMidAnswer: clients that reset their connection
// while their answer is being sent cost the loop nothing but those
// connections: it goes on serving.
func TestRingClientsVanishingMidAnswer(t *testing.T) {
	gw := startEpoll(t, oneRoute(1, bigUpstream(t), store.Route{Paths: []string{"/"}}), Options{})
	for range 20 {
		cc := confDial(t, gw.addr)
		if err := cc.write(confGet("/big")); err != nil {
			t.Fatal(err)
		}
		_ = cc.c.SetReadDeadline(time.Now().Add(waitTimeout))
		if _, err := cc.br.Peek(1); err != nil { // the answer started
			t.Fatal(err)
		}
		_ = cc.c.(*net.TCPConn).SetLinger(0)
		cc.c.Close() // a reset, with most of the answer unsent
	}
	resp, body := gw.get(t, "/after")
	if resp.StatusCode != 200 || string(body) != evBigBody {
		t.Fatalf("after the resets: %d, %d bytes", resp.StatusCode, len(body))
	}
}

// answerEach sends a GET on every connection, then checks each answer:
// the loops serve the sends of one pass together.
func answerEach(t *testing.T, conns []*confConn, round int) {
	t.Helper()
	for i, cc := range conns {
		if err := cc.write(confGet(fmt.Sprintf("/c%d/r%d", i, round))); err != nil {
			t.Fatal(err)
		}
	}
	for i, cc := range conns {
		want := fmt.Sprintf("GET /c%d/r%d ", i, round)
		resp, body, err := cc.read("GET")
		if err != nil || resp.StatusCode != 200 || body != want {
			t.Fatalf("conn %d round %d: %v %q, want %q", i, round, err, body, want)
		}
	}
}
