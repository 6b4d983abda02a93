package dataplane

import (
	"net"
	"syscall"
)

// acceptQueued accepts, without waiting, every connection waiting in the
// queue of ln, a TCP listener; it returns none for another kind. Closing
// a listener resets the clients still in its queue, which had connected;
// the goroutine server takes them in first (h1Server.serveQueued).
func acceptQueued(ln net.Listener) []net.Conn {
	tl, ok := ln.(*net.TCPListener) // a Unix listener's clients would not pass fileConn
	if !ok {
		return nil
	}
	rc, err := tl.SyscallConn()
	if err != nil {
		return nil
	}
	var conns []net.Conn
	_ = rc.Control(func(lfd uintptr) {
		acceptWaiting(int(lfd), func(fd int, _ syscall.Sockaddr) {
			if tc, err := fileConn(fd); err == nil {
				conns = append(conns, tc)
			}
		})
	})
	return conns
}

// acceptWaiting accepts, without waiting, each connection in the queue of
// the listening socket lfd, non-blocking, close-on-exec and with
// TCP_NODELAY, and gives it to open; it returns once the queue is empty
// (or accept fails for another reason than a signal or a client that left
// first).
func acceptWaiting(lfd int, open func(fd int, sa syscall.Sockaddr)) {
	for {
		fd, sa, err := syscall.Accept4(lfd, syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC)
		if err == syscall.EINTR || err == syscall.ECONNABORTED {
			continue
		}
		if err != nil {
			return // EAGAIN: the queue is empty
		}
		_ = syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1)
		open(fd, sa)
	}
}
