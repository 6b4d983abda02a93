//go:build linux

package dataplane

import (
	"fmt"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/uring"
	"github.com/tollgate/tollgate/store"
)

// onFreshThread runs f on a goroutine locked to its thread, which exits
// with it (the runtime then ends the thread), and returns f's thread id.
func onFreshThread(f func()) int {
	tid := make(chan int)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		f()
		tid <- syscall.Gettid()
	}()
	return <-tid
}

// TestReviewRingAcrossThreads: a ring set up on a thread that then ends
// is used, one Submit at a time, from several other threads (each of
// which ends after its Submit), and every operation completes within its
// Submit with the right result.
func TestReviewRingAcrossThreads(t *testing.T) {
	if !ringAvailable(t) {
		t.Skip("io_uring is not available here")
	}
	var r *uring.Ring
	var err error
	setup := onFreshThread(func() { r, err = uring.New(8) })
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fds[0])
	defer syscall.Close(fds[1])
	tids := map[int]bool{setup: true}
	for i := range 50 {
		msg := []byte(fmt.Sprintf("msg-%03d", i))
		buf := make([]byte, 16)
		empty := make([]byte, 16)
		var comps []uring.Completion
		var serr error
		tids[onFreshThread(func() {
			r.Send(fds[0], msg, 1)
			comps, serr = r.Submit(nil)
			if serr == nil {
				r.Recv(fds[1], buf, 2)
				r.Recv(fds[0], empty, 3) // nothing to read
				comps, serr = r.Submit(comps)
			}
		})] = true
		if serr != nil {
			t.Fatalf("round %d: %v", i, serr)
		}
		got := map[uint64]int32{}
		for _, c := range comps {
			got[c.UserData] = c.Res
		}
		if len(comps) != 3 || got[1] != int32(len(msg)) || got[2] != int32(len(msg)) ||
			string(buf[:len(msg)]) != string(msg) || got[3] != -int32(syscall.EAGAIN) {
			t.Fatalf("round %d: completions %v, read %q", i, comps, buf)
		}
	}
	if len(tids) < 10 {
		t.Errorf("the ring was used from only %d threads", len(tids))
	}
}

// TestReviewLoopsMoveBetweenThreads: while threads of the process end
// (goroutines exiting locked), the loops go on serving kept-alive
// connections through their rings, from more than one thread each.
func TestReviewLoopsMoveBetweenThreads(t *testing.T) {
	if !ringAvailable(t) {
		t.Skip("io_uring is not available here")
	}
	gw := startEpoll(t, oneRoute(1, newTextEcho(t), store.Route{Paths: []string{"/"}}), Options{})
	loops := reviewLoops(evServer(t, gw))
	conns := make([]*confConn, 4)
	for i := range conns {
		conns[i] = confDial(t, gw.addr)
	}
	tids := make([]map[int]bool, len(loops))
	for i := range tids {
		tids[i] = map[int]bool{}
	}
	deadline := time.Now().Add(waitTimeout)
	for round := 0; ; round++ {
		onFreshThread(func() {}) // one thread fewer for the runtime
		answerEach(t, conns, round)
		moved := true
		for i, l := range loops {
			onLoop(t, l, func() {
				tids[i][syscall.Gettid()] = true
				if l.ring == nil && !gw.opts.DisableIOURing {
					t.Errorf("loop %d lost its ring", i)
				}
			})
			moved = moved && len(tids[i]) > 1
		}
		if t.Failed() {
			return
		}
		if moved && round >= 200 {
			for i := range tids {
				t.Logf("loop %d ran on %d threads in %d rounds", i, len(tids[i]), round+1)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Logf("the loops did not all change threads: %v (not a failure of the code under review)", tids)
			return
		}
	}
}
