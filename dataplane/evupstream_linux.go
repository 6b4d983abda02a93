//go:build linux

package dataplane

import (
	"fmt"
	"net/netip"
	"slices"
	"syscall"
	"time"
)

// evUpstreamBuffer is the first size of an upstream connection's read
// buffer; it grows up to evMaxResponse for a larger response.
const evUpstreamBuffer = 8192

// evUpstream is a keep-alive connection from a loop to a target.
type evUpstream struct {
	fd         int
	addr       string
	in         []byte
	n          int
	out        evOutput
	ex         *evExchange // the exchange using it; nil while idle
	connecting bool
	reused     bool      // served an exchange before
	answered   bool      // a byte of the current response arrived
	sentAt     time.Time // when the loop last wrote request bytes (evPoll)
	deadline   time.Time
	idleSince  time.Time
	events     uint32
	closed     bool
}

// upstreamConn returns an idle connection to addr, or connects a new one.
// With probe (a request with a body, which is not replayed on a fresh
// connection), an idle one is taken only if it is still open with
// nothing to read, as h1Client checks: the upstream may have closed it
// since the loop last looked at its events.
func (l *evLoop) upstreamConn(addr string, connectTimeout time.Duration, fresh, probe bool) (*evUpstream, error) {
	for list := l.idle[addr]; len(list) > 0 && !fresh; list = l.idle[addr] {
		u := list[len(list)-1]
		l.idle[addr] = list[:len(list)-1]
		if probe && !idleOpen(u.fd) {
			u.close(l)
			continue
		}
		u.reused, u.answered = true, false
		return u, nil
	}
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return nil, &connectError{err}
	}
	fd, err := dialNonblocking(ap)
	if err != nil && err != syscall.EINPROGRESS {
		if fd >= 0 {
			syscall.Close(fd)
		}
		return nil, &connectError{fmt.Errorf("connect to %s: %w", addr, err)}
	}
	u := &evUpstream{fd: fd, addr: addr, in: make([]byte, evUpstreamBuffer), connecting: err == syscall.EINPROGRESS}
	u.events = syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLOUT
	if err := l.add(fd, u.events); err != nil {
		syscall.Close(fd)
		return nil, &connectError{err}
	}
	l.sockets.set(fd, u)
	if u.connecting {
		u.deadline = l.now.Add(connectTimeout)
	}
	return u, nil
}

// openUpstream registers fd, a connected socket to addr, as a new
// upstream connection of the loop.
func (l *evLoop) openUpstream(fd int, addr string) (*evUpstream, error) {
	u := &evUpstream{fd: fd, addr: addr, in: make([]byte, evUpstreamBuffer)}
	u.events = syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLOUT
	if err := l.add(fd, u.events); err != nil {
		syscall.Close(fd)
		return nil, &connectError{err}
	}
	l.sockets.set(fd, u)
	return u, nil
}

// dialNonblocking starts a TCP connection to ap.
func dialNonblocking(ap netip.AddrPort) (int, error) {
	family := syscall.AF_INET
	var sa syscall.Sockaddr = &syscall.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().Unmap().As4()}
	if !ap.Addr().Unmap().Is4() {
		family = syscall.AF_INET6
		sa = &syscall.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()}
	}
	fd, err := syscall.Socket(family, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	_ = syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1)
	return fd, syscall.Connect(fd, sa)
}

// putIdle keeps u for the next request to its target, within the pool's
// bound.
func (l *evLoop) putIdle(u *evUpstream) {
	list := l.idle[u.addr]
	if len(list) >= l.g.opts.MaxIdleConnsPerHost || l.lfd < 0 {
		u.close(l)
		return
	}
	u.idleSince, u.deadline = l.now, time.Time{}
	l.idle[u.addr] = append(list, u)
}

func (u *evUpstream) ready(l *evLoop, events uint32) {
	if u.connecting && events&(syscall.EPOLLOUT|syscall.EPOLLERR|syscall.EPOLLHUP) != 0 {
		u.connected(l)
		if u.closed {
			return
		}
	}
	if events&syscall.EPOLLOUT != 0 {
		u.flush(l)
	}
	if !u.closed && events&(syscall.EPOLLIN|syscall.EPOLLRDHUP|syscall.EPOLLHUP|syscall.EPOLLERR) != 0 {
		u.read(l)
	}
	u.update(l)
}

// connected finishes a connect: the request waiting in out goes, or the
// attempt fails.
func (u *evUpstream) connected(l *evLoop) {
	u.connecting = false
	soErr, err := syscall.GetsockoptInt(u.fd, syscall.SOL_SOCKET, syscall.SO_ERROR)
	if err == nil && soErr != 0 {
		err = syscall.Errno(soErr)
	}
	if err != nil {
		if x := u.ex; x != nil {
			x.attemptFailed(l, &connectError{fmt.Errorf("connect to %s: %w", u.addr, err)})
		} else {
			u.close(l)
		}
		return
	}
	if x := u.ex; x != nil {
		u.deadline = x.timeout // until the request is written (see evExchange.written)
	}
}

// read takes what the target sent. An idle connection that becomes
// readable was closed, or sent what nobody asked for: it is closed.
func (u *evUpstream) read(l *evLoop) {
	x := u.ex
	if x == nil {
		u.close(l)
		return
	}
	if u.n == len(u.in) {
		u.reserve(2 * len(u.in))
	}
	m, err := rawRead(u.fd, u.in[u.n:])
	if err == syscall.EAGAIN {
		return
	}
	if err != nil {
		x.attemptFailed(l, fmt.Errorf("reading from %s: %w", u.addr, err))
		return
	}
	if m > 0 {
		if !u.answered && !u.sentAt.IsZero() {
			l.poll.answered(u.addr, l.now.Sub(u.sentAt))
			u.sentAt = time.Time{} // one answer time per write: not again after a 1xx
		}
		u.n += m
		u.answered = true
		u.deadline = earliest(x.timeout, l.now.Add(x.up.readTimeout))
	}
	x.received(l, u, m == 0)
}

// reserve grows the read buffer to hold n bytes.
func (u *evUpstream) reserve(n int) {
	if n > len(u.in) {
		u.in = slices.Grow(u.in[:u.n], n-u.n)[:n]
	}
}

func (u *evUpstream) consume(n int) {
	u.n = copy(u.in, u.in[n:u.n])
	u.answered = u.n > 0
}

// flush writes the pending request, or queues it on the loop's ring.
func (u *evUpstream) flush(l *evLoop) {
	if u.out.queued > 0 {
		return // afterSend goes on
	}
	if u.out.pending() && !u.connecting && u.ex != nil {
		u.sentAt = l.now
		l.poll.sent(l.now, u.addr)
	}
	for u.out.pending() && !u.connecting {
		queued, err := l.writeNext(u, u.fd, &u.out)
		if queued || err == syscall.EAGAIN {
			return
		}
		if err != nil {
			u.writeFailed(l, err)
			return
		}
	}
	if !u.out.pending() {
		written := len(u.out.buf) > 0 // the request's last bytes went just now
		u.out.buf, u.out.off, u.out.blocked = u.out.buf[:0], 0, false
		if x := u.ex; x != nil {
			if written {
				x.written(l, u)
			}
			x.bodySent(l)
		}
	}
}

// writeFailed fails the exchange whose request could not be written.
func (u *evUpstream) writeFailed(l *evLoop, err error) {
	if x := u.ex; x != nil {
		x.attemptFailed(l, fmt.Errorf("writing to %s: %w", u.addr, err))
	} else {
		u.close(l)
	}
}

func (u *evUpstream) sendResult(res int32) { u.out.sendResult(res) }

// afterSend goes on from a send through the ring: the rest of the
// request, or its failure.
func (u *evUpstream) afterSend(l *evLoop) {
	if u.closed {
		return
	}
	if err := u.out.failed; err != 0 {
		u.out.failed = 0
		u.writeFailed(l, err)
		return
	}
	u.flush(l)
	u.update(l)
}

// update registers EPOLLOUT only while connecting or a write is pending.
func (u *evUpstream) update(l *evLoop) {
	if u.closed {
		return
	}
	ev := uint32(syscall.EPOLLIN | syscall.EPOLLRDHUP)
	if u.connecting || u.out.pending() && u.out.queued == 0 {
		ev |= syscall.EPOLLOUT
	}
	if ev != u.events {
		u.events = ev
		l.modify(u.fd, ev)
	}
}

// expire streams a response whose head came and whose body is still
// not whole, times out the exchange waiting on u, or closes u when it was
// idle for longer than the upstream idle timeout.
func (u *evUpstream) expire(l *evLoop, now time.Time) {
	switch {
	case u.ex != nil && u.ex.resp != nil && now.Sub(u.ex.headAt) >= evStreamAfter:
		u.ex.escalate(l, u)
	case u.ex != nil && !u.deadline.IsZero() && now.After(u.deadline):
		u.ex.timedOut(l, u.connecting)
	case u.ex == nil && !u.idleSince.IsZero() && now.Sub(u.idleSince) > l.g.opts.UpstreamIdleTimeout:
		u.close(l)
	}
}

// close closes u and takes it out of the pool.
func (u *evUpstream) close(l *evLoop) {
	if u.closed {
		return
	}
	u.closed = true
	if list := l.idle[u.addr]; len(list) > 0 {
		if i := slices.Index(list, u); i >= 0 {
			l.idle[u.addr] = slices.Delete(list, i, i+1)
		}
	}
	l.settle(&u.out)
	l.forget(u.fd)
	syscall.Close(u.fd)
}
