package dataplane

import (
	"context"
	"errors"
	"math"
	"net"
	"net/http"
	"strings"
	"time"
)

// Limits of what the h1Client sends itself; anything else goes through
// its fallback http.Transport.
const (
	// h1MaxBody is the largest request body written synchronously. A
	// larger one, or one of unknown length, may need to stream while the
	// upstream already answers, which needs a second goroutine.
	h1MaxBody = 64 << 10
	// h1ProbeAfter is the idle time after which a pooled connection is
	// checked before a request without a body is sent on it (requests
	// with a body always check: they cannot be retried on a fresh one).
	h1ProbeAfter = time.Second
	// h1EarlyResponseWait bounds the look for a response after writing
	// the request failed: the server may have answered and closed early.
	h1EarlyResponseWait = 50 * time.Millisecond
)

// h1Client is a synchronous HTTP/1.1 client for plain-http upstreams: the
// whole exchange runs in the caller's goroutine, on keep-alive
// connections pooled per target address. Requests it does not handle
// (upgrades, trailers, bodies of unknown length or over h1MaxBody) go
// through fallback, which shares the dialer settings.
type h1Client struct {
	dialer      net.Dialer
	readTimeout time.Duration // bounds the wait for the response headers; 0: none
	pool        h1Pool
	fallback    *http.Transport
}

var _ http.RoundTripper = (*h1Client)(nil)

// newH1Client returns a client that dials within connectTimeout and keeps
// up to maxIdle idle connections per target for idleTimeout.
func newH1Client(fallback *http.Transport, connectTimeout, readTimeout, idleTimeout time.Duration, maxIdle int) *h1Client {
	return &h1Client{
		dialer:      net.Dialer{Timeout: connectTimeout, KeepAlive: 30 * time.Second},
		readTimeout: readTimeout,
		pool:        h1Pool{maxIdle: maxIdle, idleTimeout: idleTimeout},
		fallback:    fallback,
	}
}

// CloseIdleConnections closes the idle connections of the client and of
// its fallback.
func (c *h1Client) CloseIdleConnections() {
	c.pool.closeIdle()
	c.fallback.CloseIdleConnections()
}

// RoundTrip implements http.RoundTripper. A request that fails on a
// reused connection before any byte of the answer arrived (the server
// closed it while idle) is sent once more on a fresh connection when its
// body can be sent again.
func (c *h1Client) RoundTrip(req *http.Request) (*http.Response, error) {
	length, ok := h1BodyLength(req)
	if !ok {
		return c.fallback.RoundTrip(req)
	}
	if req.URL.Host == "" {
		closeBody(req)
		return nil, errors.New("h1 client: no host in request URL")
	}
	addr := hostPort(req.URL.Host)
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	for retried := false; ; retried = true {
		pc, err := c.conn(req.Context(), addr, length > 0)
		if err != nil {
			closeBody(req)
			return nil, err
		}
		resp, stale, err := c.try(pc, req, host, length)
		if err == nil || retried || !stale {
			closeBody(req) // sent whole, or never to be sent
			return resp, err
		}
		if req, ok = rewind(req, length); !ok {
			closeBody(req)
			return nil, err
		}
	}
}

// h1BodyLength returns the length of the body the h1Client would write
// for req (0: none), and false if the fallback must send req.
func h1BodyLength(req *http.Request) (int64, bool) {
	if req.URL == nil || req.URL.Scheme != "http" || len(req.Header["Upgrade"]) > 0 || len(req.Trailer) > 0 {
		return 0, false
	}
	if req.Body == nil || req.Body == http.NoBody {
		return 0, true
	}
	if req.ContentLength <= 0 || req.ContentLength > h1MaxBody {
		return 0, false
	}
	return req.ContentLength, true
}

// rewind returns req ready to be sent again: as it is without a body,
// with a fresh body from GetBody, or false if the body is spent.
func rewind(req *http.Request, length int64) (*http.Request, bool) {
	if length == 0 {
		return req, true
	}
	if req.GetBody == nil {
		return req, false
	}
	body, err := req.GetBody()
	if err != nil {
		return req, false
	}
	again := *req
	again.Body = body
	return &again, true
}

// hostPort is host with the default port of http if it has none.
func hostPort(host string) string {
	if i := strings.LastIndexByte(host, ':'); i >= 0 && i > strings.LastIndexByte(host, ']') {
		return host
	}
	return net.JoinHostPort(strings.Trim(host, "[]"), "80")
}

// conn returns a pooled connection to addr that looks alive, or dials a
// new one.
func (c *h1Client) conn(ctx context.Context, addr string, hasBody bool) (*h1Conn, error) {
	for {
		pc, idleFor := c.pool.get(addr)
		if pc == nil {
			return dialH1(ctx, &c.dialer, addr)
		}
		if (hasBody || idleFor > h1ProbeAfter) && !pc.alive() {
			pc.close()
			continue
		}
		return pc, nil
	}
}

// try sends req on pc and reads the response head. The request's
// context aborts blocked reads and writes, until the body is done with.
// stale reports a failure that a fresh connection might not have.
func (c *h1Client) try(pc *h1Conn, req *http.Request, host string, length int64) (resp *http.Response, stale bool, err error) {
	ctx := req.Context()
	var stop func() bool
	if ctx.Done() != nil {
		stop = context.AfterFunc(ctx, pc.abortFn)
	}
	resp, f, answered, err := c.send(ctx, pc, req, host, length)
	if err != nil {
		if stop != nil {
			stop()
		}
		pc.close()
		if ctx.Err() != nil {
			return nil, false, context.Cause(ctx)
		}
		stale = pc.reused && !answered && !isRequestErr(err) && isStaleConnErr(err)
		return nil, stale, err
	}
	keep := !resp.Close && !req.Close
	if f.empty() {
		resp.Body = http.NoBody
		c.release(pc, keep, stop, false)
		return resp, false, nil
	}
	b := &h1Body{c: c, pc: pc, ctx: ctx, stop: stop, keep: keep && !f.toClose}
	b.src = newBodyReader(pc.br, f, resp, &pc.head)
	resp.Body = b
	return resp, false, nil
}

// send writes req and reads the response head and its framing. answered
// reports that a byte of the response arrived. If writing fails, a
// response the server sent before closing is still returned, for a
// connection not to keep.
func (c *h1Client) send(ctx context.Context, pc *h1Conn, req *http.Request, host string, length int64) (resp *http.Response, f framing, answered bool, err error) {
	werr := pc.writeRequest(req, host, length)
	if werr != nil {
		if isRequestErr(werr) {
			return nil, noBody, false, werr
		}
		pc.setReadDeadline(ctx, time.Now().Add(h1EarlyResponseWait))
	} else if c.readTimeout > 0 {
		pc.setReadDeadline(ctx, time.Now().Add(c.readTimeout))
	}
	pc.limit = h1MaxHeaderBytes
	defer func() { pc.limit = math.MaxInt64 }()
	if _, err := pc.br.Peek(1); err != nil {
		if werr != nil {
			return nil, noBody, false, werr
		}
		return nil, noBody, false, err
	}
	if resp, f, err = pc.readResponse(req); err != nil {
		return nil, noBody, true, err
	}
	if werr != nil {
		resp.Close = true
	}
	pc.setReadDeadline(ctx, time.Time{})
	return resp, f, true, nil
}

// setReadDeadline sets the read deadline unless the request's context
// ended, whose abort must not be undone.
func (pc *h1Conn) setReadDeadline(ctx context.Context, t time.Time) {
	_ = pc.nc.SetReadDeadline(t)
	if ctx.Err() != nil {
		pc.abort()
	}
}
