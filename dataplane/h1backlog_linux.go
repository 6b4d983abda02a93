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
		for {
			fd, _, err := syscall.Accept4(int(lfd), syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC)
			if err == syscall.EINTR || err == syscall.ECONNABORTED {
				continue
			}
			if err != nil {
				return // EAGAIN: the queue is empty
			}
			if tc, err := fileConn(fd); err == nil {
				_ = tc.SetNoDelay(true)
				conns = append(conns, tc)
			}
		}
	})
	return conns
}
