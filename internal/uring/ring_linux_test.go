//go:build linux

package uring

import (
	"errors"
	"runtime"
	"syscall"
	"testing"
)

func socketPair(t *testing.T) (int, int) {
	t.Helper()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fds[0]); syscall.Close(fds[1]) })
	return fds[0], fds[1]
}

// newRing sets up a ring for the test, on the test's goroutine locked to
// its thread (a ring takes one issuer).
func newRing(t *testing.T, entries uint32) *Ring {
	t.Helper()
	runtime.LockOSThread()
	t.Cleanup(runtime.UnlockOSThread)
	r, err := New(entries)
	if errors.Is(err, syscall.ENOSYS) || errors.Is(err, syscall.EPERM) {
		t.Skip(err) // no io_uring here (an old kernel, a seccomp profile, io_uring_disabled)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r
}

// submit submits what r holds and returns the results by user data.
func submit(t *testing.T, r *Ring) map[uint64]int32 {
	t.Helper()
	comps, err := r.Submit(nil)
	if err != nil {
		t.Fatal(err)
	}
	got := map[uint64]int32{}
	for _, c := range comps {
		got[c.UserData] = c.Res
	}
	return got
}

// TestNonBlockingOperations: a send, a receive with data waiting and a
// receive with none all complete within the one Submit, the last with
// EAGAIN.
func TestNonBlockingOperations(t *testing.T) {
	r := newRing(t, 8)
	a, b := socketPair(t)
	_, c := socketPair(t)
	r.Send(a, []byte("hello"), 1)
	got := submit(t, r)
	if got[1] != 5 {
		t.Fatalf("send: %d, want 5", got[1])
	}
	buf := make([]byte, 16)
	empty := make([]byte, 16)
	r.Recv(b, buf, 2)
	r.Recv(c, empty, 3)
	got = submit(t, r)
	if got[2] != 5 || string(buf[:5]) != "hello" {
		t.Fatalf("recv: %d %q", got[2], buf[:5])
	}
	if got[3] != -int32(syscall.EAGAIN) {
		t.Fatalf("recv with nothing to read: %d, want -EAGAIN", got[3])
	}
}

// TestSendToFullSocket: a send to a socket whose buffer is full fails at
// once with EAGAIN, or sends part of its bytes: it never waits.
func TestSendToFullSocket(t *testing.T) {
	r := newRing(t, 8)
	a, _ := socketPair(t)
	big := make([]byte, 1<<20)
	for { // fill a's buffer
		if _, err := syscall.Write(a, big); err != nil {
			break
		}
	}
	r.Send(a, big, 7)
	got := submit(t, r)
	if res, ok := got[7]; !ok || res != -int32(syscall.EAGAIN) && (res < 0 || res >= int32(len(big))) {
		t.Fatalf("send to a full socket: %d (reported %v), want -EAGAIN or a short count", res, ok)
	}
}

// TestManySubmissions: more operations than the ring has entries go in
// turns, each Submit reporting its own.
func TestManySubmissions(t *testing.T) {
	r := newRing(t, 4)
	a, b := socketPair(t)
	total := 0
	for round := 0; round < 50; round++ {
		for r.Space() > 0 {
			r.Send(a, []byte("x"), uint64(total))
			total++
		}
		got := submit(t, r)
		if len(got) != 4 {
			t.Fatalf("round %d: %d completions, want 4", round, len(got))
		}
	}
	buf := make([]byte, 1000)
	n, _ := syscall.Read(b, buf)
	if n != total {
		t.Fatalf("read %d bytes, sent %d", n, total)
	}
}
