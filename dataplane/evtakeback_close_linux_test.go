//go:build linux

package dataplane

import (
	"sync"
	"testing"

	"github.com/tollgate/tollgate/internal/waitfor"
	"github.com/tollgate/tollgate/store"
)

// holdLoops posts to every loop a task that waits until resume is
// called; running has a channel per loop, closed when its task runs. The
// tasks posted meanwhile run after it, together.
func holdLoops(t *testing.T, loops []*evLoop) (running []chan struct{}, resume func()) {
	t.Helper()
	gate := make(chan struct{})
	resume = sync.OnceFunc(func() { close(gate) })
	t.Cleanup(resume)
	for i, l := range loops {
		ch := make(chan struct{})
		if !l.post(func() { close(ch); <-gate }) {
			t.Fatalf("loop %d ended", i)
		}
		running = append(running, ch)
	}
	return running, resume
}

// recvAll waits for every channel of chs to be closed.
func recvAll(t *testing.T, chs []chan struct{}, what string) {
	t.Helper()
	for _, ch := range chs {
		recv(t, ch, what)
	}
}

// TestEpollCloseClosesConnectionGivenBackLate: a connection the goroutine
// server gives back to the loops (giveBack) as Server.Close runs, which
// takeBack saw before Close set shutting but delivers after the loop ran
// Close's closeAll, is closed, not opened: the loop would otherwise keep
// it open after Close, serve requests on it, and hold Serve until the idle
// timeout.
func TestEpollCloseClosesConnectionGivenBackLate(t *testing.T) {
	atHook, proceed := make(chan struct{}, 1), make(chan struct{})
	hook := func() {
		select {
		case atHook <- struct{}{}:
		default:
		}
		<-proceed
	}
	testHookTakeBack.Store(&hook)
	t.Cleanup(func() { testHookTakeBack.Store(nil) })
	gw := startEpoll(t, oneRoute(1, newTextEcho(t), store.Route{Paths: []string{"/"}}), Options{})
	deliver := sync.OnceFunc(func() { close(proceed) })
	t.Cleanup(deliver) // before the gateway's Shutdown
	s := evServer(t, gw)
	loops := reviewLoops(s)
	cc := confDial(t, gw.addr)
	if resp, body := cc.do(t, "POST", confChunkedPost("/a", "hello")); resp.StatusCode != 200 || body != "POST /a hello" {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
	recv(t, atHook, "the connection, handed over for its body, to be given back")

	// The loops run Close's closeAll, and live on, before the delivery.
	held, resume := holdLoops(t, loops)
	recvAll(t, held, "the loops to be held")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	afterClose, resumeAfterClose := holdLoops(t, loops)
	resume()
	recvAll(t, afterClose, "the loops to run closeAll")
	deliver()
	waitfor.Condition(t, waitTimeout, "the connection delivered to a loop", func() bool {
		return gw.LoopStats().TakenBack == 1
	})
	resumeAfterClose()

	if err := cc.write(confGet("/late")); err == nil {
		cc.expectClosed(t)
	}
	for i, l := range loops {
		recv(t, l.exited, "the loop to end")
		if n := l.load.Load(); n != 0 {
			t.Errorf("loop %d: load %d after Close, want 0", i, n)
		}
	}
	if n := s.incoming.Load(); n != 0 {
		t.Errorf("%d connections incoming after Close, want 0", n)
	}
}
