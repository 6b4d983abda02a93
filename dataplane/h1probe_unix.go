//go:build linux || darwin || freebsd || netbsd || openbsd

package dataplane

import (
	"net"
	"syscall"
)

// connProbe checks without blocking whether the server closed an idle
// connection (or sent bytes nobody asked for), with a MSG_PEEK read.
type connProbe struct {
	raw syscall.RawConn // nil if the connection has no file descriptor
	fn  func(fd uintptr) bool
	ok  bool
	buf [1]byte
}

func (p *connProbe) init(c net.Conn) {
	if sc, ok := c.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			p.raw = raw
			p.fn = p.peek
		}
	}
}

// alive reports whether the connection is still open with nothing to read.
func (p *connProbe) alive() bool {
	if p.raw == nil {
		return true
	}
	p.ok = false
	if err := p.raw.Read(p.fn); err != nil {
		return false
	}
	return p.ok
}

// peek is the probe's one non-blocking read: only "would block" means
// the connection is idle and open.
func (p *connProbe) peek(fd uintptr) bool {
	_, _, err := syscall.Recvfrom(int(fd), p.buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	p.ok = err == syscall.EAGAIN || err == syscall.EWOULDBLOCK
	return true
}
