//go:build linux

package dataplane

import (
	"syscall"
)

// giveBack returns c, a connection an event loop handed over for one
// request (a body the loop does not take in, a response too large to
// buffer), to the loops now that it waits for its next request, and
// reports whether it did; false leaves c as it was, served by goroutines.
// It gives nothing back that holds bytes read ahead, or that a TLS or
// HTTP/2 server owns. The caller forgets c when it returns true.
func (c *h1ServerConn) giveBack() bool {
	rc, ok := c.nc.(*replayConn)
	if !ok || len(rc.pending) > 0 || c.br.Buffered() > 0 || c.lr.hasByte || c.bw.Buffered() > 0 || c.ctx.Err() != nil {
		return false
	}
	e, ok := c.srv.loopEngine().(*evEngine)
	if !ok {
		return false
	}
	fd, err := dupSocket(rc.TCPConn)
	if err != nil {
		return false
	}
	if !e.takeBack(fd, c.remote) {
		syscall.Close(fd)
		return false
	}
	_ = rc.TCPConn.Close() // the duplicate, now the loop's, keeps the connection open
	c.releaseBuffers()
	return true
}

// dupSocket duplicates tc's descriptor, close-on-exec; it shares tc's
// socket and its non-blocking mode.
func dupSocket(tc interface {
	SyscallConn() (syscall.RawConn, error)
}) (int, error) {
	raw, err := tc.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd, dupErr := -1, error(nil)
	err = raw.Control(func(s uintptr) {
		r, _, errno := syscall.Syscall(syscall.SYS_FCNTL, s, syscall.F_DUPFD_CLOEXEC, 0)
		if errno != 0 {
			dupErr = errno
			return
		}
		fd = int(r)
	})
	if err != nil {
		return -1, err
	}
	return fd, dupErr
}
