//go:build linux

package dataplane

import (
	"errors"
	"os"
	"syscall"
	"time"
)

// An idle loop parks in the Go scheduler instead of blocking in
// epoll_wait. A goroutine blocked in a system call keeps its P, and the
// runtime's monitor thread takes back a P that stayed 10 ms in one; each
// time it does, the monitor goes back to waking every 20 µs for a while.
// An idle gateway's loops, each waiting out its deadline scan
// (evScanEvery) in epoll_wait, so made the monitor wake about 900 times a
// second and cost 2.3 % of a core (perf stat: nanosleep and futex calls of
// an idle agent). A loop whose last wait ended with nothing to do waits
// the next time through the netpoller, on a duplicate of its epoll
// descriptor, which gives its P back; with every P idle the monitor
// sleeps. The duplicate is registered with the netpoller only for that
// wait, so that a busy loop's events never wake the netpoller too.

// park waits like epoll_wait with a timeout of evScanEvery, parked in the
// netpoller, and returns the events ready. Where the netpoller cannot
// take the descriptor, it blocks in epoll_wait after all.
func (l *evLoop) park(events []syscall.EpollEvent) (int, error) {
	fd, err := syscall.Dup(l.epfd)
	if err != nil {
		return l.block(events)
	}
	syscall.CloseOnExec(fd)
	f := os.NewFile(uintptr(fd), "epoll") // registered with the netpoller: the descriptor is non-blocking
	defer f.Close()
	rc, err := f.SyscallConn()
	if err != nil || f.SetReadDeadline(time.Now().Add(evScanEvery)) != nil {
		return l.block(events) // not pollable
	}
	l.counts.parked.Add(1)
	n := 0
	err = rc.Read(func(uintptr) bool {
		n = pollNow(l.epfd, events)
		return n > 0
	})
	if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
		l.g.log.Warn("event loop: parked wait failed", "err", err)
	}
	return n, nil
}

// block waits in epoll_wait for evScanEvery at most.
func (l *evLoop) block(events []syscall.EpollEvent) (int, error) {
	return syscall.EpollWait(l.epfd, events, int(evScanEvery/time.Millisecond))
}
