//go:build linux

package dataplane

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"syscall"
	"time"
	"unsafe"
)

// evMaxResponse is the most of a response a loop buffers: one that is not
// whole within it is streamed by a goroutine (see escalate).
const evMaxResponse = 64 << 10

// evExchange is one request a loop proxies: proxy and exchange.send of the
// goroutine path, as a state machine driven by the upstream connection's
// events.
type evExchange struct {
	c       *evClient
	rc      *RequestContext
	w       *h1ResponseWriter
	up      *upstream
	target  url.URL // the upstream URL, without host (see targetURL)
	key     uint64
	tried   uint64
	attempt int
	t       *target     // the target of the current attempt
	u       *evUpstream // its connection; nil while waiting to retry
	start   time.Time
	timeout time.Time // up.timeout after start: the end of every attempt
	fresh   bool      // a stale pooled connection failed: the next one is new
	byName  bool      // the attempt's target was dialled by its name (dialByName)
	done    bool
	slot    bool // holds a breaker slot of up (acquire)
	mirror  bool // the route's copy waits for the upstream to take the body (bodySent)
	pending bool // holds a count in t.inflight

	// The response head of the current attempt, once it arrived: resp,
	// the framing of its body, and the length of the head in u.in.
	resp    *http.Response
	framing framing
	headLen int
	headAt  time.Time
	// relay: the client's answer may be the upstream's head relayed
	// (h1relay.go): an HTTP/1.1 request other than HEAD, not closing.
	relay bool
}

// evStreamAfter is how long a loop waits for the rest of a body once the
// head came, before it streams the body from a goroutine (at the next
// deadline scan after it).
const evStreamAfter = 20 * time.Millisecond

// upstreamScratch is a loop's reusable state for upstream messages.
type upstreamScratch struct {
	br      *bufio.Reader // decodes chunked bodies from a buffer
	body    bytes.Reader
	decoded []byte
	head    []byte
	trailed http.Response // takes the trailer section of a chunked body (dechunk)
}

// evBody is a response body the loop has whole.
type evBody struct{ *bytes.Reader }

func (evBody) Close() error { return nil }

// evTrailedBody is a chunked response body the loop has whole, with the
// trailer fields that came after it. They join resp.Trailer when the body
// is read to its end, as the goroutine path's bodyReader adds them: until
// then resp.Trailer holds the fields the upstream announced, the ones
// respond announces in turn.
type evTrailedBody struct {
	r       *bytes.Reader
	resp    *http.Response
	trailer http.Header // nil once added
}

func (b *evTrailedBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err == io.EOF && b.trailer != nil {
		if b.resp.Trailer == nil {
			b.resp.Trailer = make(http.Header, len(b.trailer))
		}
		maps.Copy(b.resp.Trailer, b.trailer)
		b.trailer = nil
	}
	return n, err
}

func (*evTrailedBody) Close() error { return nil }

// bodyOf returns the body of resp, whole in body, with the trailer
// fields read after it (nil: none).
func (s *upstreamScratch) bodyOf(resp *http.Response, body []byte, trailer http.Header) io.ReadCloser {
	s.body.Reset(body)
	if trailer == nil {
		return evBody{&s.body}
	}
	return &evTrailedBody{r: &s.body, resp: resp, trailer: trailer}
}

// bindRoute makes rc a request on route, for the policies, the access
// log and the route's metrics.
func bindRoute(rc *RequestContext, route evRoute, req *http.Request) {
	rc.route, rc.path = route.cr, req.URL.Path
	if route.snap.metrics != nil {
		rc.metrics = route.snap.metrics[rc.route.order]
	}
}

// startExchange proxies req on route, as Gateway.proxy does.
func (l *evLoop) startExchange(c *evClient, req *http.Request, route evRoute) {
	w := &c.conn.w
	w.reset(c.conn, req)
	rc := l.g.begin(w, req)
	bindRoute(rc, route, req)
	if !runInline(rc, rc.route.chain) { // a policy answered
		l.counts.served.Add(1)
		c.finish(l, endRequest(l.g, rc, w))
		return
	}
	rc.spans.start(rc, maxSpanSteps, UpstreamStep)
	up := rc.route.service
	if !up.acquire() {
		rc.fail(fmt.Errorf("service %s: %w", up.name, errCircuitOpen))
		rc.spans.end(rc, maxSpanSteps)
		l.counts.served.Add(1)
		c.finish(l, endRequest(l.g, rc, w))
		return
	}
	x := &evExchange{c: c, rc: rc, w: w, up: up, start: l.now, timeout: l.now.Add(up.timeout), slot: true,
		relay: req.ProtoAtLeast(1, 1) && !req.Close && req.Method != http.MethodHead}
	if len(c.body) == 0 {
		l.g.mirrorHeld(rc, nil)
	} else {
		x.mirror = rc.route.mirror != nil // copied once an upstream took it, as the tee does
	}
	rc.fillTargetURL(&x.target, up)
	if up.hashed {
		x.key = up.hash.key(rc)
	}
	c.ex = x
	x.next(l)
}

// next starts the next attempt on the next target.
func (x *evExchange) next(l *evLoop) {
	t, err := x.up.nextTarget(x.key, &x.tried)
	if err != nil {
		x.fail(l, err)
		return
	}
	x.attempt++
	x.t, x.byName = t, false
	x.rc.upstream, x.rc.attempts = t.addr, x.attempt
	t.inflight.Add(1)
	x.pending = true
	x.send(l)
}

// send writes the request on a connection to the current target.
func (x *evExchange) send(l *evLoop) {
	u, err := l.upstreamConn(x.t.dialAddr(), x.up.connectTimeout, x.fresh, len(x.c.body) > 0)
	if err != nil {
		x.attemptFailed(l, err)
		return
	}
	x.sendOn(l, u)
}

// sendOn writes the request on u.
func (x *evExchange) sendOn(l *evLoop, u *evUpstream) {
	x.u, u.ex = u, x
	var err error
	body := x.c.body
	u.out.buf, err = appendOutboundHead(u.out.buf, x.rc, &x.target, x.t.addr, int64(len(body)))
	if err != nil {
		x.attemptFailed(l, err)
		return
	}
	u.out.buf = append(u.out.buf, body...)
	if u.connecting {
		u.deadline = earliest(x.timeout, u.deadline)
		return
	}
	u.deadline = x.timeout // until the request is written (see written)
	u.flush(l)
	u.update(l)
}

// written starts the attempt's read timeout once u took the whole
// request: it bounds the wait for the response from then on, as h1Client
// and http.Transport's ResponseHeaderTimeout do. The time the upstream
// takes to take the request in is bounded by the service's timeout alone.
func (x *evExchange) written(l *evLoop, u *evUpstream) {
	u.deadline = earliest(x.timeout, l.now.Add(x.up.readTimeout))
}

// bodySent starts the route's copy of a request with a body once an
// upstream connection took the whole request: the goroutine path's copy
// is fed by the primary's reads, and a body never read is not copied.
func (x *evExchange) bodySent(l *evLoop) {
	if x.mirror {
		x.mirror = false
		l.g.mirrorHeld(x.rc, x.c.body)
	}
}

// received parses what u holds of the response: it completes the
// exchange when the response is whole and waits otherwise. A body that is
// not whole by the next deadline scan is streamed by a goroutine (see
// evUpstream.expire).
func (x *evExchange) received(l *evLoop, u *evUpstream, eof bool) {
	if x.resp == nil && x.relay && x.relayed(l, u) {
		return
	}
	if x.resp == nil && !x.head(l, u, eof) {
		return
	}
	resp, f, end := x.resp, x.framing, x.headLen
	buf := u.in[end:u.n]
	var body []byte
	var trailer http.Header
	used := 0
	switch {
	case f.empty():
	case f.chunked:
		var err error
		body, trailer, used, err = l.up.dechunk(buf)
		if err == io.ErrUnexpectedEOF {
			x.waitBody(l, u, eof)
			return
		}
		if err != nil {
			x.attemptFailed(l, fmt.Errorf("%w: %w", errUpstreamAborted, err))
			return
		}
	case f.toClose:
		if !eof {
			x.waitBody(l, u, eof)
			return
		}
		body, used = buf, len(buf)
	default:
		if int64(len(buf)) < f.length {
			x.waitBody(l, u, eof)
			return
		}
		body, used = buf[:f.length], int(f.length)
	}
	x.complete(l, u, resp, l.up.bodyOf(resp, body, trailer), end+used, !resp.Close && !f.toClose)
}

// head parses the response head in u, skipping interim 1xx answers, and
// reports whether the final one is there.
func (x *evExchange) head(l *evLoop, u *evUpstream, eof bool) bool {
	for interim := 0; ; interim++ {
		if interim > h1Max1xx {
			x.attemptFailed(l, fmt.Errorf("more than %d interim 1xx responses", h1Max1xx))
			return false
		}
		end := headEnd(u.in[:u.n])
		if end < 0 {
			if eof || u.n >= h1MaxHeaderBytes {
				x.attemptFailed(l, fmt.Errorf("reading the upstream response head: %w", io.ErrUnexpectedEOF))
			}
			return false
		}
		resp, f, err := parseResponseHead(string(u.in[:end]), x.rc.Request)
		if err != nil {
			x.attemptFailed(l, fmt.Errorf("malformed upstream response: %w", err))
			return false
		}
		if resp.StatusCode == http.StatusSwitchingProtocols {
			x.attemptFailed(l, errors.New("unexpected 101 Switching Protocols"))
			return false
		}
		if resp.StatusCode >= 200 {
			x.resp, x.framing, x.headLen, x.headAt = resp, f, end, l.now
			return true
		}
		u.consume(end) // an interim 1xx answer
	}
}

// waitBody waits for more of the body, growing the buffer for it; a body
// too large for the buffer is streamed at once, and one the upstream cut
// off fails the attempt.
func (x *evExchange) waitBody(l *evLoop, u *evUpstream, eof bool) {
	f, end := x.framing, x.headLen
	switch {
	case eof:
		x.attemptFailed(l, fmt.Errorf("%w: %w", errUpstreamAborted, io.ErrUnexpectedEOF))
	case f.length > 0 && int64(end)+f.length <= evMaxResponse:
		u.reserve(end + int(f.length))
	case u.n < evMaxResponse:
		u.reserve(min(2*len(u.in), evMaxResponse))
	default:
		x.escalate(l, u)
	}
}

// complete answers the client with resp and body, whose message takes
// the first used bytes of u, and gives u back to the pool when keep.
func (x *evExchange) complete(l *evLoop, u *evUpstream, resp *http.Response, body io.ReadCloser, used int, keep bool) {
	x.up.observe(x.t, resp.StatusCode)
	resp.Body = body
	l.g.respond(x.rc, resp, idleTimer{})
	x.succeed(l, u, used, keep)
}

// relayed answers with the upstream's response relayed (h1relay.go) when
// it is whole in u and simple enough, and reports whether it did.
func (x *evExchange) relayed(l *evLoop, u *evUpstream) bool {
	end := headEnd(u.in[:u.n])
	if end < 0 || l.s.draining.Load() || x.rc.Writer != &x.rc.rw || len(x.w.header) > 1 && !relayableFields(x.w.header) {
		return false // not whole yet, a policy wraps the writer (response transforms), or set fields the relay leaves to it
	}
	// The head is read in place, not copied: scanResponseHead and
	// appendRelayedHead keep nothing of it, and u.in does not change
	// before they return.
	head := unsafe.String(&u.in[0], end)
	rh, ok := scanResponseHead(head)
	if !ok || int64(u.n-end) < rh.length {
		return false
	}
	out, n := x.c.respOut(), int(rh.length)
	out.buf = appendRelayedHead(out.buf, head, &rh, x.rc.RequestID, x.w.header)
	out.buf = append(out.buf, u.in[end:end+n]...)
	x.w.relayed(rh.status, rh.length)
	x.rc.rw.status, x.rc.rw.bytes, x.rc.complete = rh.status, rh.length, true
	x.up.observe(x.t, rh.status)
	x.succeed(l, u, end+n, !rh.close)
	return true
}

// succeed ends a successful attempt: u gives up the used bytes of the
// response and goes back to the pool when keep, and the request ends.
func (x *evExchange) succeed(l *evLoop, u *evUpstream, used int, keep bool) {
	u.consume(used)
	x.u, u.ex, x.resp = nil, nil, nil
	if keep && u.n == 0 && !u.out.pending() { // not with unsent request bytes
		u.out.buf, u.out.off = u.out.buf[:0], 0
		if cap(u.out.buf) > evClientBuffer { // grown for a body: not kept while idle
			u.out.buf = nil
		}
		l.putIdle(u)
	} else {
		u.close(l)
	}
	x.dropInflight()
	x.end(l)
}

// end finishes the request after its answer is written: the breaker slot,
// the upstream time, the log, and on to the client's next request.
func (x *evExchange) end(l *evLoop) {
	x.done = true
	x.releaseSlot()
	x.rc.timeUpstream(x.start)
	x.rc.spans.end(x.rc, maxSpanSteps)
	l.counts.served.Add(1)
	c := x.c
	c.finish(l, endRequest(l.g, x.rc, x.w))
	if !c.closed {
		c.resume(l)
	}
}

// fail answers the client with the gateway error err maps to.
func (x *evExchange) fail(l *evLoop, err error) {
	x.rc.fail(err)
	x.end(l)
}

// attemptFailed ends the current attempt: a pooled connection that turns
// out closed is replaced once, as h1Client does; otherwise the attempt is
// retried as the service allows, or the request fails.
func (x *evExchange) attemptFailed(l *evLoop, err error) {
	u := x.u
	stale := u != nil && u.reused && !u.answered && isStaleConnErr(err)
	answered := x.resp != nil // a response that breaks off is not retried
	x.resp = nil
	if u != nil {
		x.u, u.ex = nil, nil
		u.close(l)
	}
	if stale && !x.fresh && len(x.c.body) == 0 { // as h1Client, which cannot replay a body
		x.fresh = true
		x.send(l)
		return
	}
	var ce *connectError
	if errors.As(err, &ce) && !x.byName && x.t.named() && l.now.Before(x.timeout) {
		x.byName = true
		x.dialByName(l)
		return
	}
	x.fresh = false
	t := x.t
	x.dropInflight()
	x.up.observe(t, 0)
	if l.now.After(x.timeout) {
		x.fail(l, fmt.Errorf("proxy to %s: %w: %w", t.addr, errUpstreamTimeout, err))
		return
	}
	if answered || x.attempt >= x.up.retry.attempts || !retryable(context.Background(), x.rc.Request, err) {
		x.fail(l, fmt.Errorf("proxy to %s: %w", t.addr, err))
		return
	}
	wait := min(x.up.retry.wait(x.attempt), x.timeout.Sub(l.now)) // the timeout bounds the backoff too
	if wait <= 0 {
		x.next(l)
		return
	}
	time.AfterFunc(wait, func() {
		l.post(func() {
			if !x.done {
				l.now = time.Now()
				x.retryAfterWait(l, t, err)
			}
		})
	})
}

// retryAfterWait starts the next attempt after a backoff, unless the
// service's timeout ran out meanwhile.
func (x *evExchange) retryAfterWait(l *evLoop, t *target, err error) {
	if l.now.After(x.timeout) {
		x.fail(l, fmt.Errorf("proxy to %s: %w: %w", t.addr, errUpstreamTimeout, err))
		return
	}
	x.next(l)
}

// dialByName connects to the current target by its name, off the loop,
// as the goroutine path's dialer does on every new connection (a fresh
// lookup, then each address in turn), once the address the loop keeps
// for it failed: the name moved, or has addresses the loop did not try.
// The address that answered is the one the loops dial from then on.
func (x *evExchange) dialByName(l *evLoop) {
	t, timeout := x.t, min(x.up.connectTimeout, x.timeout.Sub(l.now))
	go func() {
		fd, addr := -1, ""
		nc, err := (&net.Dialer{Timeout: timeout, Resolver: x.up.resolver}).Dial("tcp", t.addr)
		if err == nil {
			addr = nc.RemoteAddr().String()
			fd, err = dupSocket(nc.(*net.TCPConn))
			nc.Close()
		}
		if err == nil {
			t.resolved.Store(&addr)
		}
		posted := l.post(func() {
			l.now = time.Now()
			switch {
			case x.done:
				if fd >= 0 {
					syscall.Close(fd)
				}
			case err != nil:
				x.attemptFailed(l, &connectError{fmt.Errorf("connect to %s: %w", t.addr, err)})
			default:
				u, err := l.openUpstream(fd, addr)
				if err != nil {
					x.attemptFailed(l, err)
					return
				}
				x.sendOn(l, u)
			}
		})
		if !posted && fd >= 0 {
			syscall.Close(fd)
		}
	}()
}

// timedOut fails the current attempt when its connect or read timeout, or
// the service's timeout, passed.
func (x *evExchange) timedOut(l *evLoop, connecting bool) {
	err := errUpstreamTimeout
	if connecting {
		err = &connectError{fmt.Errorf("connect to %s: %w", x.t.addr, errUpstreamTimeout)}
	}
	x.attemptFailed(l, err)
}

// clientGone abandons the exchange of a client that went away (499).
func (x *evExchange) clientGone(l *evLoop) {
	if x.done {
		return
	}
	if u := x.u; u != nil {
		x.u, u.ex = nil, nil
		u.close(l)
	}
	x.dropInflight() // the client's leaving says nothing about the target
	x.done = true
	x.rc.fail(errClientGone)
	x.releaseSlot()
	x.rc.timeUpstream(x.start)
	x.c.ex = nil
	endRequest(l.g, x.rc, x.w)
}

// releaseSlot gives the breaker slot back, once.
func (x *evExchange) releaseSlot() {
	if x.slot {
		x.slot = false
		x.up.release()
	}
}

// dropInflight ends the current attempt's count in t.inflight, once.
func (x *evExchange) dropInflight() {
	if x.pending {
		x.pending = false
		x.t.inflight.Add(-1)
	}
}

// abandon ends an exchange that a panic interrupted: what it holds is
// given back and its upstream connection closed; nothing is logged.
func (x *evExchange) abandon(l *evLoop) {
	x.done = true
	if u := x.u; u != nil {
		x.u, u.ex = nil, nil
		u.close(l)
	}
	x.dropInflight()
	x.releaseSlot()
}

func earliest(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// dechunk decodes the chunked body at the start of buf, and returns it
// with the fields of its trailer section (nil: none). The trailer is kept
// apart from the response's announced one (see evTrailedBody). It fails
// with io.ErrUnexpectedEOF while the body is not whole.
func (s *upstreamScratch) dechunk(buf []byte) (body []byte, trailer http.Header, used int, err error) {
	src := bytes.NewReader(buf)
	if s.br == nil {
		s.br = bufio.NewReaderSize(src, 4096)
	} else {
		s.br.Reset(src)
	}
	s.trailed.Trailer = nil
	r := newBodyReader(s.br, framing{length: -1, chunked: true}, &s.trailed, &s.head)
	s.decoded = s.decoded[:0]
	for {
		if len(s.decoded) == cap(s.decoded) {
			s.decoded = append(s.decoded, 0)[:len(s.decoded)]
		}
		n, err := r.Read(s.decoded[len(s.decoded):cap(s.decoded)])
		s.decoded = s.decoded[:len(s.decoded)+n]
		if err == io.EOF {
			trailer, s.trailed.Trailer = s.trailed.Trailer, nil // the caller's now
			return s.decoded, trailer, len(buf) - src.Len() - s.br.Buffered(), nil
		}
		if err != nil {
			return nil, nil, 0, err
		}
	}
}
