//go:build linux

package dataplane

import (
	"crypto/tls"
	"net"
	"syscall"
)

// giveBack returns c, a connection an event loop handed over for one
// request (a body the loop does not take in, a response too large to
// buffer), to the loops now that it waits for its next request, and
// reports whether it did; false leaves c as it was, served by goroutines.
// A TLS connection goes with its *tls.Conn, after its handshake too (see
// evtls_linux.go). It gives nothing back that holds bytes read ahead, or
// that an HTTP/2 server owns. The caller forgets c when it returns true.
func (c *h1ServerConn) giveBack() bool {
	if c.br.Buffered() > 0 || c.lr.hasByte || c.bw.Buffered() > 0 || c.ctx.Err() != nil {
		return false
	}
	e, ok := c.srv.loopEngine().(*evEngine)
	if !ok {
		return false
	}
	switch nc := c.nc.(type) {
	case *replayConn:
		return len(nc.pending) == 0 && c.giveBackFD(e, nc.TCPConn, nil)
	case *evTLSConn:
		return len(nc.pending) == 0 && c.giveBackTLS(e, nc.Conn, nc.tr)
	case *tls.Conn: // just after its handshake
		tr, ok := c.raw.(*evTLSTransport)
		return ok && c.giveBackTLS(e, nc, tr)
	}
	return false
}

// giveBackTLS gives back a TLS connection: the loop goes on with tc, its
// transport switched to the loop's descriptor.
func (c *h1ServerConn) giveBackTLS(e *evEngine, tc *tls.Conn, tr *evTLSTransport) bool {
	if tr.conn == nil || len(tr.sealed) > 0 {
		return false
	}
	return c.giveBackFD(e, tr.conn, &evTLS{conn: tc, tr: tr, state: c.tlsState})
}

// giveBackFD gives the loops a duplicate of tc's descriptor, with sec for
// a TLS connection, and closes tc.
func (c *h1ServerConn) giveBackFD(e *evEngine, tc *net.TCPConn, sec *evTLS) bool {
	fd, err := dupSocket(tc)
	if err != nil {
		return false
	}
	if sec != nil {
		sec.tr.toLoop(fd) // before the loop can see it
	}
	if !e.takeBack(evIncoming{fd: fd, remote: c.remote, kept: c.state.Load() != connNew, tls: sec}) {
		if sec != nil {
			sec.tr.toConn(tc, nil)
		}
		syscall.Close(fd)
		return false
	}
	_ = tc.Close() // the duplicate, now the loop's, keeps the connection open
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
