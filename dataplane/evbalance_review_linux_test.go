//go:build linux

package dataplane

import (
	"sync"
	"testing"

	"github.com/tollgate/tollgate/internal/waitfor"
	"github.com/tollgate/tollgate/store"
)

// Review tests of the balancing of accepted connections over the loops
// (fab3940: assign, deliver).

// blockLoop holds l in a posted task until release is called (at the
// latest when the test ends), so that it neither accepts nor opens the
// connections delivered to it meanwhile.
func blockLoop(t *testing.T, l *evLoop) (release func()) {
	t.Helper()
	gate := make(chan struct{})
	running := make(chan struct{})
	if !l.post(func() { close(running); <-gate }) {
		t.Fatal("the loop has ended")
	}
	recv(t, running, "the loop to block")
	var once sync.Once
	release = func() { once.Do(func() { close(gate) }) }
	t.Cleanup(release) // before startGateway's Shutdown
	return release
}

// loopClients is l.clients, read on l's goroutine.
func loopClients(t *testing.T, l *evLoop) int {
	t.Helper()
	n := 0
	onLoop(t, l, func() { n = l.clients })
	return n
}

// deliverToBlockedLoop makes loops[0] open one connection and then accept
// a second, which goes to loops[1] (fewer clients) while loops[1] is
// blocked: the second connection is accepted and delivered, not opened.
func deliverToBlockedLoop(t *testing.T, gw *testGateway, s *h1Server) (a, b *evLoop, release func(), first, second *confConn) {
	t.Helper()
	loops := reviewLoops(s)
	if len(loops) != 2 {
		t.Fatalf("%d loops, want 2", len(loops))
	}
	a, b = loops[0], loops[1]
	release = blockLoop(t, b)
	first = confDial(t, gw.addr)
	waitfor.Condition(t, waitTimeout, "loop a to open the first connection", func() bool { return loopClients(t, a) == 1 })
	second = confDial(t, gw.addr)
	waitfor.Condition(t, waitTimeout, "loop a to give the second connection to loop b", func() bool { return b.load.Load() == 1 })
	return a, b, release, first, second
}

// Regression (evloop_linux.go accept/assign): accept checks MaxConns with
// atCapacity, which counts the connections registered in s.conns; a
// connection given to another loop is registered only when that loop
// opens it (runTasks -> openClient -> s.add, which does not check the
// limit). Until then the accepting loop goes on accepting: here MaxConns
// is 2, loop a holds one connection and has delivered one to loop b, and
// it accepts and opens a third; three connections are then served. The
// goroutine engine's slotListener never holds more than MaxConns.
func TestEvBalanceReviewMaxConnsExceeded(t *testing.T) {
	gw := startEpoll(t, oneRoute(1, newTextEcho(t), store.Route{Paths: []string{"/"}}), Options{EventLoops: 2, MaxConns: 2})
	s := evServer(t, gw)
	a, b, release, _, _ := deliverToBlockedLoop(t, gw, s)
	confDial(t, gw.addr) // one over MaxConns: must wait in the backlog
	waitfor.Condition(t, waitTimeout, "loop a to stop accepting at MaxConns", func() bool {
		full := false
		onLoop(t, a, func() { full = a.full })
		return full
	})
	release()
	waitfor.Condition(t, waitTimeout, "loop b to open the connection given to it", func() bool { return loopClients(t, b) >= 1 })
	// One more pass of each: whatever was accepted is open by now.
	onLoop(t, a, func() {})
	onLoop(t, b, func() {})
	if n, clients := connCount(s), loopClients(t, a)+loopClients(t, b); n > 2 || clients > 2 {
		t.Errorf("%d connections registered, %d open on the loops, with MaxConns 2", n, clients)
	}
}

// Regression (evloop_linux.go assign, runTasks; evclient_linux.go
// openClient): a connection accepted before Shutdown began, and given to a
// loop that opens it only after, is refused by s.add (shutting) and
// closed with its request unread: the client gets a reset. The goroutine
// server (and the loops before fab3940, which opened a connection where
// they accepted it) registers a connection when it is accepted and
// answers its request during Shutdown (h1NewConnGrace), with Connection:
// close (see TestEvReviewShutdownDropsHandedOverRequest).
func TestEvBalanceReviewShutdownDropsDeliveredConn(t *testing.T) {
	gw := startEpoll(t, oneRoute(1, newTextEcho(t), store.Route{Paths: []string{"/"}}), Options{EventLoops: 2})
	s := evServer(t, gw)
	_, _, release, first, second := deliverToBlockedLoop(t, gw, s)
	if err := second.write(confGet("/late")); err != nil {
		t.Fatal(err)
	}
	shut := startShutdown(t, gw.Gateway, s)
	release()
	resp, body, err := second.read("GET")
	if err != nil {
		t.Errorf("no answer to a request on a connection accepted before Shutdown: %v", err)
	} else if resp.StatusCode != 200 || body != "GET /late " {
		t.Errorf("%d %q, want 200 %q", resp.StatusCode, body, "GET /late ")
	} else if !resp.Close { // answered before the listener closed: closed once idle
		second.expectClosed(t)
	}
	first.c.Close() // Shutdown need not wait out the first one's grace
	if err := recv(t, shut, "Shutdown"); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}
