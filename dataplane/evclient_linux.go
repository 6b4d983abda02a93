//go:build linux

package dataplane

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/http"
	"syscall"
	"time"
)

// evClientBuffer is the first size of a client connection's read buffer;
// it grows, up to the header limit, for a head that does not fit, and to
// hold a request's head and body whole.
const evClientBuffer = 4096

// evMaxBody is the largest request body a loop takes in whole before it
// proxies the request; a larger one, or one framed otherwise than by
// Content-Length, is streamed by the goroutine server.
const evMaxBody = 16 << 10

// evBodyWait is how long a loop waits for the rest of a request body
// once its head came, before it hands the connection to the goroutine
// server, which streams it (at the next deadline scan after it).
const evBodyWait = 20 * time.Millisecond

// evClient is a client connection served by a loop.
type evClient struct {
	fd         int
	in         []byte // bytes read and not yet consumed: in[:n]
	n          int
	out        evOutput
	conn       *h1ServerConn // its response writer, state and place in the server's set
	ex         *evExchange   // the request in flight; nil between requests
	req        parsedRequest // the request being served, reused for the next one
	body       []byte        // its body, if it has one; reused for the next one
	bodyReader bytes.Reader  // reads body, as req.Body
	bodyBy     time.Time     // when a body whose head came must be whole; zero: none awaited
	deadline   time.Time     // for the next request's head; zero during an exchange
	closing    bool          // close once out is written
	events     uint32        // the events registered
	closed     bool
	tls        *evTLS // nil for plain HTTP (evtls_linux.go)
}

// evOutput collects what the response writer writes; the loop sends it.
type evOutput struct {
	buf []byte
	off int // bytes of buf already sent

	// Sends through the loop's ring (evring_linux.go):
	queued  int           // bytes from off in a send queued on the ring
	blocked bool          // the socket's buffer filled: sendto and EPOLLOUT until all is sent
	failed  syscall.Errno // a queued send failed; afterSend acts on it
}

func (o *evOutput) Write(p []byte) (int, error) {
	o.buf = append(o.buf, p...)
	return len(p), nil
}

func (o *evOutput) pending() bool { return o.off < len(o.buf) }

const evClientEvents = syscall.EPOLLIN | syscall.EPOLLRDHUP

// openClient starts serving an accepted connection, or with kept one the
// goroutine server gave back between two requests (idle: it gets
// IdleTimeout, and Shutdown closes it at once). A new connection of a TLS
// listener goes to its handshake first (openTLS); one with in.tls is back
// from it, or from the goroutine server.
func (l *evLoop) openClient(in evIncoming) {
	fd, kept := in.fd, in.kept
	if l.closedAll { // delivered after Server.Close closed the loop's clients
		syscall.Close(fd)
		l.load.Add(-1)
		return
	}
	if l.s.tls != nil && in.tls == nil {
		l.openTLS(fd)
		return
	}
	c := &evClient{fd: fd, in: make([]byte, evClientBuffer), tls: in.tls}
	conn := &h1ServerConn{srv: l.s, remote: in.remote, accepted: l.now, kept: kept}
	conn.state.Store(connNew)
	if kept {
		conn.state.Store(connIdle)
	}
	if c.tls != nil {
		conn.tlsState = c.tls.state
	}
	conn.bw = bufio.NewWriterSize(c.respOut(), 4096)
	closeRaw := func() { l.post(func() { c.closeIfIdle(l) }) }
	conn.closeRaw.Store(&closeRaw)
	c.conn = conn
	if !l.s.track(conn) {
		syscall.Close(fd)
		l.load.Add(-1)
		return
	}
	if err := l.add(fd, evClientEvents); err != nil {
		syscall.Close(fd)
		l.s.remove(conn)
		l.load.Add(-1)
		return
	}
	l.sockets.set(fd, c)
	c.events = evClientEvents
	l.clients++
	c.deadline = l.now.Add(l.g.opts.ReadHeaderTimeout)
	if kept {
		c.deadline = l.now.Add(l.g.opts.IdleTimeout)
	}
	if c.tls != nil { // crypto/tls may hold the next request already
		c.tls.more = true
		c.update(l)
	}
}

func (c *evClient) ready(l *evLoop, events uint32) {
	if events&syscall.EPOLLOUT != 0 {
		c.flush(l)
		c.serve(l)
	}
	if !c.closed && events&(syscall.EPOLLIN|syscall.EPOLLRDHUP|syscall.EPOLLHUP|syscall.EPOLLERR) != 0 {
		c.read(l)
	}
	c.update(l)
}

// update registers the events the connection waits for: input while
// there is room for it, and output while some is pending. A TLS client's
// input that crypto/tls holds is read first (pump).
func (c *evClient) update(l *evLoop) {
	c.pump(l)
	if c.closed {
		return
	}
	ev := uint32(syscall.EPOLLRDHUP)
	if c.wantsInput() {
		ev |= syscall.EPOLLIN
	}
	if c.out.pending() && c.out.queued == 0 {
		ev |= syscall.EPOLLOUT
	}
	if ev != c.events {
		c.events = ev
		l.modify(c.fd, ev)
	}
}

// wantsInput reports whether the loop reads the client: while there is
// room for input, or between requests (read grows the buffer).
func (c *evClient) wantsInput() bool {
	return c.n < len(c.in) || (c.ex == nil && !c.out.pending())
}

// read takes what the client sent and serves the requests it completes.
func (c *evClient) read(l *evLoop) {
	if c.n == len(c.in) {
		if c.ex != nil || c.out.pending() {
			// Pipelined bytes wait for their turn; a hang-up now is
			// taken as the client gone.
			if c.events&syscall.EPOLLIN == 0 {
				c.gone(l)
			}
			return
		}
		c.grow(l)
		if c.closed {
			return
		}
	}
	m, err := c.recv(c.in[c.n:])
	if err == syscall.EAGAIN {
		return
	}
	if err != nil || m == 0 {
		c.gone(l)
		return
	}
	first := c.n == 0 && c.ex == nil
	c.n += m
	if first && !c.activate(l) { // the first byte of a request
		return
	}
	c.serve(l)
}

// activate marks the connection busy with a request whose first byte came,
// for Shutdown, and gives the head ReadHeaderTimeout from now; false (and
// the connection closed) when Shutdown closed it while idle.
func (c *evClient) activate(l *evLoop) bool {
	state := &c.conn.state
	if state.Load() != connActive && !state.CompareAndSwap(connNew, connActive) && !state.CompareAndSwap(connIdle, connActive) {
		c.close(l)
		return false
	}
	c.deadline = l.now.Add(l.g.opts.ReadHeaderTimeout)
	return true
}

// grow makes room for a head that does not fit, or hands the connection
// over when the head is over the limit (the goroutine server answers 431).
func (c *evClient) grow(l *evLoop) {
	limit := serverHeaderLimit(l.g.opts.MaxHeaderBytes) + h1ReadSlack
	if len(c.in) >= limit {
		c.handOff(l, true)
		return
	}
	bigger := make([]byte, min(2*len(c.in), limit))
	copy(bigger, c.in[:c.n])
	c.in = bigger
}

// gone handles the client's end of the connection: a request in flight
// is abandoned (499), anything else is just closed.
func (c *evClient) gone(l *evLoop) {
	switch {
	case c.ex != nil:
		c.ex.clientGone(l)
	case !c.bodyBy.IsZero():
		c.bodyGone(l)
	default:
		c.close(l)
	}
}

// bodyGone logs the request whose body the loop was waiting for when the
// client left as 499 on its route, as the goroutine server logs a client
// that leaves mid-body, and closes the connection.
func (c *evClient) bodyGone(l *evLoop) {
	c.bodyBy = time.Time{}
	req, _, ok := parseRequestInto(c.in[:c.n], serverHeaderLimit(l.g.opts.MaxHeaderBytes), &c.req, true)
	if ok {
		w := &c.conn.w
		w.reset(c.conn, req)
		rc := l.g.begin(w, req)
		if route, ok := l.routeOf(req); ok && route.cr != nil {
			bindRoute(rc, route, req)
		}
		rc.fail(errClientGone)
		endRequest(l.g, rc, w)
	}
	c.close(l)
}

// serve answers the requests buffered whole, one at a time, in order.
func (c *evClient) serve(l *evLoop) {
	for c.ex == nil && !c.out.pending() && !c.closing && !c.closed && c.n > 0 {
		limit := serverHeaderLimit(l.g.opts.MaxHeaderBytes)
		req, end, ok := parseRequestInto(c.in[:c.n], limit, &c.req, true)
		if !ok && headEnd(c.in[:c.n]) < 0 && c.n <= limit && c.in[0] != '\r' && c.in[0] != '\n' {
			return // the head is not whole yet
		}
		if !c.activate(l) {
			return
		}
		if ok && req.ContentLength > 0 && (req.ContentLength > evMaxBody || len(req.Header["Expect"]) > 0) {
			ok = false // streamed, or answered 100 Continue, by the goroutine server
		}
		var route evRoute
		if ok {
			route, ok = l.routeOf(req)
		}
		if !ok {
			c.handOff(l, !route.routeBound) // the goroutine server serves (or refuses) it
			return
		}
		if req.ContentLength > 0 && !c.bodyArrived(l, end, int(req.ContentLength)) {
			return // routed again when the rest comes
		}
		c.takeBody(req, end)
		c.deadline = time.Time{}
		req.RemoteAddr = c.conn.remote
		req.TLS = c.conn.tlsState
		if route.err != nil {
			c.answerNow(l, req, route)
		} else {
			l.startExchange(c, req, route)
		}
	}
}

func (c *evClient) consume(n int) {
	c.n = copy(c.in, c.in[n:c.n])
}

// bodyArrived reports whether the body of length bytes after the head of
// end bytes is whole in the buffer. Until it is, the buffer grows to hold
// it, and the rest has evBodyWait to come (see expire).
func (c *evClient) bodyArrived(l *evLoop, end, length int) bool {
	need := end + length
	if c.n >= need {
		c.bodyBy = time.Time{}
		return true
	}
	if len(c.in) < need {
		bigger := make([]byte, need)
		copy(bigger, c.in[:c.n])
		c.in = bigger
	}
	if c.bodyBy.IsZero() {
		c.bodyBy = l.now.Add(evBodyWait)
	}
	c.deadline = c.bodyBy
	return false
}

// takeBody moves the request's head and body out of the buffer: the body
// to c.body, which req.Body reads, for the exchange to send (and send
// again on a retry). A buffer grown for the message shrinks back.
func (c *evClient) takeBody(req *http.Request, end int) {
	length := int(req.ContentLength)
	c.body = append(c.body[:0], c.in[end:end+length]...)
	c.consume(end + length)
	if length > 0 {
		c.bodyReader.Reset(c.body)
		req.Body = evBody{&c.bodyReader}
	}
	if len(c.in) > evClientBuffer && c.n <= evClientBuffer/2 {
		c.in = append(make([]byte, 0, evClientBuffer), c.in[:c.n]...)[:evClientBuffer]
	}
}

// answerNow answers a request that goes nowhere upstream (no route, no
// config, headers over the limit) with the gateway's error.
func (c *evClient) answerNow(l *evLoop, req *http.Request, route evRoute) {
	w := &c.conn.w
	w.reset(c.conn, req)
	rc := l.g.begin(w, req)
	rc.fail(route.err)
	l.counts.served.Add(1)
	c.finish(l, endRequest(l.g, rc, w))
}

// endRequest logs and counts the request and completes its response; it
// reports whether the connection may be kept.
func endRequest(g *Gateway, rc *RequestContext, w *h1ResponseWriter) bool {
	func() {
		defer func() {
			if v := recover(); v != nil {
				if v != http.ErrAbortHandler {
					panic(v)
				}
				w.aborted = true
			}
		}()
		g.end(rc)
	}()
	return w.finish()
}

// finish sends a response the writer completed, or starts to, and closes
// the connection after it if it may not be kept. The caller serves the
// next request.
func (c *evClient) finish(l *evLoop, keep bool) {
	c.ex = nil
	c.bodyReader.Reset(nil)
	if cap(c.body) > evClientBuffer { // a large body's buffer is not kept
		c.body = nil
	}
	if !keep { // a kept one is idle now: Shutdown closes it once draining
		c.closing = true
	} else {
		c.conn.state.Store(connIdle)
		c.deadline = time.Time{} // set when the answer is sent
	}
	c.flush(l)
}

// resume serves the requests that waited for an exchange to end.
//
// It runs inside another socket's event (the upstream's answer, a
// deadline's scan, a retry task), so a panic while serving the next
// request (a policy's, say) is recovered here and ends this client's
// connection, as dispatch does for the client's own event: left to the
// caller it would end the upstream instead and leave the client hanging,
// or, from the scan, end the process.
func (c *evClient) resume(l *evLoop) {
	defer func() {
		if v := recover(); v != nil {
			l.logPanic(v)
			l.abandon(c)
		}
	}()
	c.serve(l)
	c.update(l)
}

// flush writes what the writer produced, or queues it on the loop's
// ring; what the socket does not take waits for EPOLLOUT (see update).
func (c *evClient) flush(l *evLoop) {
	if c.out.queued > 0 {
		return // afterSend goes on
	}
	if err := c.seal(); err != nil {
		c.gone(l)
		return
	}
	for c.out.pending() {
		queued, err := l.writeNext(c, c.fd, &c.out)
		if queued || err == syscall.EAGAIN {
			return
		}
		if err != nil {
			c.gone(l)
			return
		}
	}
	c.out.buf, c.out.off, c.out.blocked = c.out.buf[:0], 0, false
	switch {
	case c.closing:
		c.close(l)
	case c.ex == nil && c.n == 0:
		c.deadline = l.now.Add(l.g.opts.IdleTimeout) // for the next request
	case c.ex == nil:
		c.deadline = l.now.Add(l.g.opts.ReadHeaderTimeout) // its first bytes are here
	}
}

func (c *evClient) sendResult(res int32) { c.out.sendResult(res) }

// afterSend goes on from a send through the ring as ready does from
// EPOLLOUT: the rest of the output, then the next request.
func (c *evClient) afterSend(l *evLoop) {
	if c.closed {
		return
	}
	if c.out.failed != 0 {
		c.out.failed = 0
		c.gone(l)
		return
	}
	c.flush(l)
	c.serve(l)
	c.update(l)
}

// expire closes a connection whose next request did not come in time,
// and hands over one whose request body is slow to come.
func (c *evClient) expire(l *evLoop, now time.Time) {
	switch {
	case c.ex != nil || c.deadline.IsZero() || !now.After(c.deadline):
	case !c.bodyBy.IsZero():
		c.bodyBy = time.Time{}
		c.handOff(l, true)
	default:
		c.close(l)
	}
}

// closeIfIdle is Shutdown's request to close the connection if it waits
// for a request.
//
// A request may have arrived that the loop has not read yet: closing then
// would make the kernel answer it with a reset. It is served instead (its
// answer says Connection: close during Shutdown).
func (c *evClient) closeIfIdle(l *evLoop) {
	switch {
	case c.closed || c.ex != nil:
	case c.out.pending():
		c.closing = true // once the answer is sent
	case c.n == 0 && (inputWaiting(c.fd) || c.tls != nil && c.tls.more):
		c.conn.state.CompareAndSwap(connClosed, connIdle) // Shutdown marked it
		c.read(l)
	default:
		c.close(l)
	}
}

// close ends the connection.
func (c *evClient) close(l *evLoop) {
	if c.closed {
		return
	}
	c.closed = true
	if c.ex != nil {
		c.ex.clientGone(l)
	}
	l.settle(&c.out)
	c.closeNotify()
	l.forget(c.fd)
	syscall.Close(c.fd)
	l.clients--
	l.load.Add(-1)
	c.conn.state.Store(connClosed)
	l.s.remove(c.conn)
}

// closeIdleClients closes the connections waiting for a request, for
// Shutdown.
func (l *evLoop) closeIdleClients() {
	l.sockets.each(func(s evSocket) {
		if c, ok := s.(*evClient); ok && c.conn.state.Load() == connIdle {
			c.closeIfIdle(l)
		}
	})
}

// handOff gives the connection, with the bytes read from it, to the
// goroutine server. With toLoop, the request alone is the reason (its
// body, say), and the goroutine server gives the connection back once it
// is idle again (giveBack); otherwise it serves it from then on (the
// route's next requests would come back anyway).
func (c *evClient) handOff(l *evLoop, toLoop bool) {
	nc, err := c.detach(l)
	if err != nil {
		l.g.log.Warn("event loop: handing a connection over failed", "err", err)
		return
	}
	l.counts.handedOff.Add(1)
	pending := append([]byte(nil), c.in[:c.n]...)
	l.s.adopt(c.goroutineConn(nc, pending), c.conn, false, toLoop)
}

// detach takes the connection out of the loop as a *net.TCPConn; on
// failure it is closed.
func (c *evClient) detach(l *evLoop) (*net.TCPConn, error) {
	l.settle(&c.out)
	c.closed = true
	l.forget(c.fd)
	l.clients--
	l.load.Add(-1)
	nc, err := fileConn(c.fd)
	if err != nil {
		c.conn.state.Store(connClosed)
		l.s.remove(c.conn)
		return nil, err
	}
	return nc, nil
}

// evRoute is where a request the loop serves goes: to cr, or, with err
// set, to the gateway's error answer.
type evRoute struct {
	snap *snapshot
	cr   *compiledRoute
	err  error
	// routeBound, when routeOf declines, says the route (its policies
	// or service) is why, not the request.
	routeBound bool
}

// routeOf decides whether the loop serves req itself, and where it goes;
// false hands the connection to the goroutine server. The loop serves a
// request without a body or with one it holds whole (see evMaxBody),
// within the body limit, without upgrade or Expect, on a route whose chain is
// inline policies only (see InlinePolicy), to a
// plain-HTTP service (a target's name is dialled off the loop until its
// background lookup answered: resolve.go, dialByName); and the gateway's own
// answers for no config, no route and oversized headers.
func (l *evLoop) routeOf(req *http.Request) (evRoute, bool) {
	if len(req.Header["Upgrade"]) > 0 || len(req.Header["Expect"]) > 0 || checkRequestHost(req) != nil {
		return evRoute{}, false
	}
	snap := l.g.snap.Load()
	if snap == nil {
		return evRoute{err: errNoConfig}, true
	}
	if n := headerSize(req); n > l.g.opts.MaxHeaderBytes {
		return evRoute{snap: snap, err: fmt.Errorf("%w: %d bytes, the limit is %d", errHeaderTooLarge, n, l.g.opts.MaxHeaderBytes)}, true
	}
	cr := snap.router.route(req)
	if cr == nil {
		return evRoute{snap: snap, err: errNoRoute}, true
	}
	if !bodyWithinLimit(req, cr, l.g.opts.MaxRequestBodyBytes) {
		return evRoute{}, false // the goroutine server answers 413
	}
	up := cr.service
	if !inlineChain(cr.chain) || up.scheme != "http" || up.h2c {
		return evRoute{routeBound: true}, false
	}
	return evRoute{snap: snap, cr: cr}, true
}

// bodyWithinLimit reports whether req's body is within the route's
// limit, or else the gateway's (see Gateway.limitBody).
func bodyWithinLimit(req *http.Request, cr *compiledRoute, gatewayLimit int64) bool {
	limit := gatewayLimit
	if cr.maxBody > 0 {
		limit = cr.maxBody
	}
	return limit <= 0 || req.ContentLength <= limit
}

// inlineChain reports whether every policy of chain is an InlinePolicy.
func inlineChain(chain []Policy) bool {
	for _, p := range chain {
		if _, ok := p.(InlinePolicy); !ok {
			return false
		}
		if maybe, ok := p.(interface{ Inline() bool }); ok && !maybe.Inline() {
			return false
		}
	}
	return true
}

// replayConn is a connection whose first bytes were read already.
type replayConn struct {
	*net.TCPConn
	pending []byte
}

func (c *replayConn) Read(p []byte) (int, error) {
	if n, ok := takePending(&c.pending, p); ok {
		return n, nil
	}
	return c.TCPConn.Read(p)
}

// takePending copies into p what is left of *pending, bytes read from a
// connection before its reader took it over, and reports false when
// nothing is left.
func takePending(pending *[]byte, p []byte) (int, bool) {
	if len(*pending) == 0 {
		return 0, false
	}
	n := copy(p, *pending)
	*pending = (*pending)[n:]
	return n, true
}
