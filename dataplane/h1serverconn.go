package dataplane

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Connection states, for Shutdown: idle connections are closed at once,
// active ones when their request is done.
const (
	connNew int32 = iota // accepted, no request yet (TLS handshake included)
	connActive
	connIdle
	connClosed
)

// h1NewConnGrace is how long Shutdown leaves a new connection alone: it
// is likely to carry a request soon (net/http's figure).
const h1NewConnGrace = 5 * time.Second

// h1DrainLimit is how much of a request body the server reads and discards
// after the handler, to keep the connection; beyond it the connection is
// closed instead (as net/http does).
const h1DrainLimit = 256 << 10

// A connection closed while its client may still be sending (a refused
// body) is first read for up to h1Linger, or h1LingerBytes, so the kernel
// does not answer unread input with a reset that can destroy the response
// before the client read it (net/http's figures).
const (
	h1Linger      = 500 * time.Millisecond
	h1LingerBytes = 256 << 10
)

// h1ReadSlack is read beyond the header limit: bufio reads ahead into the
// body, and those bytes must not count as headers (net/http's figure).
const h1ReadSlack = 4096

var h1BufPool = sync.Pool{New: func() any { return new(h1Buffers) }}

// h1Buffers are the per-connection buffers, pooled between connections.
type h1Buffers struct {
	br *bufio.Reader
	bw *bufio.Writer
}

// h1ServerConn is one client connection of an h1Server.
type h1ServerConn struct {
	srv      *h1Server
	raw      net.Conn // as accepted; what Shutdown and Close close
	nc       net.Conn // what the server reads and writes: raw, or TLS over it
	remote   string
	tlsState *tls.ConnectionState // nil on a plain connection
	kept     bool                 // adopted between two requests: no first-request checks
	toLoop   bool                 // adopted for one request: given back to the loops once idle (giveBack)
	state    atomic.Int32
	accepted time.Time
	lr       limitedReader
	bufs     *h1Buffers
	br       *bufio.Reader
	bw       *bufio.Writer
	w        h1ResponseWriter
	// continueMu orders a 100 Continue, written by whoever reads the
	// request body first, before the response header; headerStarted
	// (under it) says the header was written and no 100 may follow.
	continueMu    sync.Mutex
	headerStarted bool
	linger        bool // the client may still be sending: see lingerClose
	// ctx is the context of every request on the connection; it is
	// cancelled when the client is seen to be gone (see watch.go).
	ctx    context.Context
	cancel context.CancelCauseFunc
	watch  disconnectWatch
	// closeRaw, when set, closes the connection in place of raw.Close: an
	// event loop, or a goroutine streaming its answer, owns it
	// (evclient_linux.go, evescalate_linux.go).
	closeRaw atomic.Pointer[func()]
}

func newH1ServerConn(s *h1Server, nc net.Conn) *h1ServerConn {
	c := &h1ServerConn{srv: s, raw: nc, nc: nc, remote: nc.RemoteAddr().String(), accepted: time.Now()}
	c.state.Store(connNew)
	if u, ok := nc.(interface{ underlyingTCP() *net.TCPConn }); ok {
		// A TLS connection that moves between the goroutines and the
		// loops (evtls_linux.go): Shutdown and Close close the TCP
		// connection under it, never the *tls.Conn or its transport, which
		// a loop may own already when the record is closed in the instant
		// the connection is given back to it.
		tc := u.underlyingTCP()
		closeTCP := func() { _ = tc.Close() }
		c.closeRaw.Store(&closeTCP)
	}
	return c
}

// serve runs the connection's requests one after another until the
// connection is closed or may not be kept.
func (c *h1ServerConn) serve() {
	hijacked := false
	defer func() {
		if !hijacked {
			c.close()
			c.releaseBuffers()
		}
		c.watch.close()
		if c.cancel != nil {
			c.cancel(nil)
		}
		c.srv.remove(c)
	}()
	if c.srv.tls != nil && c.tlsState == nil { // not one a loop handed over
		tc, handed, err := c.srv.handshake(c.nc)
		if err != nil || handed {
			hijacked = handed
			return
		}
		c.nc = tc
		state := tc.ConnectionState()
		c.tlsState = &state
	}
	c.lr = limitedReader{r: c.nc, n: -1}
	c.bufs = h1BufPool.Get().(*h1Buffers)
	if c.bufs.br == nil {
		c.bufs.br, c.bufs.bw = bufio.NewReaderSize(&c.lr, 4096), bufio.NewWriterSize(c.nc, 4096)
	} else {
		c.bufs.br.Reset(&c.lr)
		c.bufs.bw.Reset(c.nc)
	}
	c.br, c.bw = c.bufs.br, c.bufs.bw
	c.ctx, c.cancel = context.WithCancelCause(context.Background())
	c.watch.init(c)
	if !c.kept {
		if c.toLoop && c.tlsState != nil && c.giveBack() { // a loop serves it after its handshake
			hijacked = true
			return
		}
		// A new connection gets ReadHeaderTimeout for its first request
		// line, not IdleTimeout: a silent client must not hold it for long.
		_ = c.nc.SetReadDeadline(time.Now().Add(c.srv.g.opts.ReadHeaderTimeout))
		if h2, err := c.isH2(); err != nil {
			return
		} else if h2 && c.srv.tls == nil {
			hijacked = c.srv.handOffH2(c.nc, c.br) // the buffers go with it
			c.bufs = nil
			return
		}
	}
	for {
		if c.toLoop && c.giveBack() {
			hijacked = true // the loop's now
			return
		}
		keep, gone := c.serveOne()
		if gone {
			hijacked = true
			return
		}
		if !keep { // a kept one is idle now: Shutdown closes it once draining
			return
		}
	}
}

// isH2 reports whether the connection opens with the HTTP/2 preface
// ("PRI * HTTP/2.0"), which no HTTP/1 request can start with.
func (c *h1ServerConn) isH2() (bool, error) {
	b, err := c.br.Peek(3)
	if err == nil && !c.state.CompareAndSwap(connNew, connActive) {
		err = net.ErrClosed
	}
	if err != nil {
		return false, err
	}
	return string(b) == "PRI", nil
}

// waitRequest waits, within the idle timeout, for the first byte of the
// next request, and marks the connection active. It fails if Shutdown
// closed the connection while idle.
func (c *h1ServerConn) waitRequest() error {
	if c.br.Buffered() == 0 {
		_ = c.nc.SetReadDeadline(time.Now().Add(c.srv.g.opts.IdleTimeout))
		if _, err := c.br.Peek(1); err != nil {
			return err
		}
	}
	if !c.state.CompareAndSwap(connIdle, connActive) {
		return net.ErrClosed
	}
	return nil
}

// closeIfIdle closes the connection if it is waiting for a next request,
// or has been waiting for its first one for longer than h1NewConnGrace.
func (c *h1ServerConn) closeIfIdle() {
	idle := c.state.CompareAndSwap(connIdle, connClosed)
	if !idle && time.Since(c.accepted) > h1NewConnGrace {
		idle = c.state.CompareAndSwap(connNew, connClosed)
	}
	if idle {
		c.closeConn()
	}
}

// closeConn closes the connection from another goroutine (Shutdown, Close).
func (c *h1ServerConn) closeConn() {
	if f := c.closeRaw.Load(); f != nil {
		(*f)()
		return
	}
	_ = c.raw.Close()
}

// serveOne reads one request and answers it. keep reports whether the
// connection may carry another request; gone, that the handler took it
// over (Hijack).
func (c *h1ServerConn) serveOne() (keep, gone bool) {
	if c.state.Load() != connActive {
		if err := c.waitRequest(); err != nil {
			return false, false
		}
	}
	req, err := c.readRequest()
	if err != nil {
		c.refuse(err)
		return false, false
	}
	w := &c.w
	w.reset(c, req)
	c.continueMu.Lock()
	c.headerStarted = false
	c.continueMu.Unlock()
	c.handle(w, req)
	if w.hijacked {
		return false, true
	}
	keep = w.finish()
	if b, ok := req.Body.(*h1RequestBody); ok {
		keep = b.closeAndDrain(keep) && keep
		c.linger = !b.eof.Load()
	}
	keep = keep && c.ctx.Err() == nil
	if keep { // a connection about to close (and linger) stays active for Shutdown
		c.state.Store(connIdle)
	}
	return keep, false
}

// handle runs the gateway on req. A panic ends the connection with
// nothing more sent (see h1ResponseWriter.finish): silently for
// http.ErrAbortHandler (the gateway aborting a truncated response),
// logged with its stack otherwise.
func (c *h1ServerConn) handle(w *h1ResponseWriter, req *http.Request) {
	defer func() {
		if v := recover(); v != nil {
			w.aborted = true
			if v != http.ErrAbortHandler {
				c.srv.g.log.Error("panic serving request", "remote", c.remote, "panic", v, "stack", string(debug.Stack()))
			}
		}
	}()
	c.watch.begin()
	defer c.watch.stop()
	if req.Body == http.NoBody {
		c.watch.arm()
	}
	c.srv.g.ServeHTTP(w, req)
}

// readRequest reads the next request's head within ReadHeaderTimeout and
// MaxHeaderBytes, and checks what net/http's server checks beyond
// http.ReadRequest. A request without a body whose head is already
// buffered whole (most of them) is parsed without http.ReadRequest.
func (c *h1ServerConn) readRequest() (*http.Request, error) {
	opts := &c.srv.g.opts
	limit := serverHeaderLimit(opts.MaxHeaderBytes)
	req, ok := readBufferedRequest(c.br, limit)
	if ok {
		_ = c.nc.SetReadDeadline(time.Time{}) // waitRequest's idle deadline
	} else {
		var err error
		if req, err = c.readRequestSlow(limit); err != nil {
			return nil, err
		}
	}
	if err := checkRequest(req); err != nil {
		return nil, err
	}
	req.RemoteAddr = c.remote
	req.TLS = c.tlsState
	if req.Body != http.NoBody {
		req.Body = &h1RequestBody{src: req.Body, c: c, expect: expectsContinue(req)}
	}
	return req.WithContext(c.ctx), nil
}

// readRequestSlow reads a request with http.ReadRequest, within
// ReadHeaderTimeout and limit bytes of head.
func (c *h1ServerConn) readRequestSlow(limit int) (*http.Request, error) {
	_ = c.nc.SetReadDeadline(time.Now().Add(c.srv.g.opts.ReadHeaderTimeout))
	c.lr.n = int64(limit) + h1ReadSlack
	req, err := http.ReadRequest(c.br)
	hitLimit := c.lr.n == 0
	c.lr.n = -1
	_ = c.nc.SetReadDeadline(time.Time{})
	switch {
	case err != nil && hitLimit:
		return nil, errHeaderTooLarge
	case err != nil:
		return nil, fmt.Errorf("%w: %w", errBadRequest, err)
	}
	return req, nil
}

// checkRequest refuses what net/http's server refuses after parsing: not
// HTTP/1, a missing or invalid Host, bad header fields, and an Expect
// other than 100-continue.
func checkRequest(req *http.Request) error {
	if err := checkRequestHost(req); err != nil {
		return err
	}
	for k, vv := range req.Header {
		if !validToken(k) {
			return fmt.Errorf("%w: invalid header name %q", errBadRequest, k)
		}
		for _, v := range vv {
			if !validFieldValue(v) {
				return fmt.Errorf("%w: invalid value of header %q", errBadRequest, k)
			}
		}
	}
	if e := req.Header.Get("Expect"); e != "" && !strings.EqualFold(e, "100-continue") {
		return errExpectation
	}
	return nil
}

// checkRequestHost is the part of checkRequest that parseBufferedRequest
// leaves to it: the protocol and the Host. The parser has checked every
// field name and value already.
func checkRequestHost(req *http.Request) error {
	if req.ProtoMajor != 1 {
		return fmt.Errorf("%w: unsupported protocol %s", errBadRequest, req.Proto)
	}
	// http.ReadRequest moved the Host header (or the authority of an
	// absolute-form target) to req.Host, and refused repeated ones.
	switch {
	case req.Host == "" && req.ProtoAtLeast(1, 1) && req.Method != http.MethodConnect:
		return fmt.Errorf("%w: missing Host header", errBadRequest)
	case !validHost(req.Host):
		return fmt.Errorf("%w: malformed Host header", errBadRequest)
	}
	return nil
}

// validHost reports whether h can be a Host header: no control bytes,
// spaces or characters that cannot appear in an authority.
func validHost(h string) bool {
	for i := 0; i < len(h); i++ {
		switch b := h[i]; {
		case b <= ' ' || b == 0x7f, b == '/', b == '?', b == '#', b == '\\', b == '"', b == '<', b == '>':
			return false
		}
	}
	return true
}

// expectsContinue reports whether the client waits for 100 Continue
// before sending the body.
func expectsContinue(req *http.Request) bool {
	return req.ProtoAtLeast(1, 1) && strings.EqualFold(req.Header.Get("Expect"), "100-continue")
}

// refuse answers a request that could not be read with a gateway error, if
// the client is still there, and the connection is then closed.
func (c *h1ServerConn) refuse(err error) {
	var e gatewayError
	switch {
	case errors.Is(err, errHeaderTooLarge):
		e = classify(err)
	case errors.Is(err, errExpectation):
		e = gatewayError{http.StatusExpectationFailed, "expectation_failed", err.Error()}
	case errors.Is(err, errBadRequest):
		e = gatewayError{http.StatusBadRequest, "bad_request", err.Error()}
	default: // timeout, EOF or reset: nobody to answer
		return
	}
	c.linger = true // the rest of the request may be on its way
	w := &c.w
	w.reset(c, nil)
	w.closeAfter = true
	writeError(w, e, c.srv.g.ids.id(""))
	w.finish()
}

// close closes the connection, lingering first when the client may still
// be sending: the write side is shut where the connection allows it, and
// what arrives is read and dropped, up to h1Linger or h1LingerBytes.
func (c *h1ServerConn) close() {
	if c.linger {
		if cw, ok := c.nc.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		}
		_ = c.nc.SetReadDeadline(time.Now().Add(h1Linger))
		_, _ = io.CopyN(io.Discard, c.nc, h1LingerBytes)
	}
	_ = c.nc.Close()
}

// releaseBuffers returns the connection's buffers to the pool.
func (c *h1ServerConn) releaseBuffers() {
	if c.bufs == nil {
		return
	}
	c.bufs.br.Reset(nil)
	c.bufs.bw.Reset(nil)
	h1BufPool.Put(c.bufs)
	c.bufs = nil
}

// limitedReader reads from r, failing with io.EOF after n bytes while n is
// not negative; it also replays a byte the disconnect watch read ahead.
type limitedReader struct {
	r       io.Reader
	n       int64
	pending [1]byte
	hasByte bool
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if l.n == 0 {
		return 0, io.EOF
	}
	if l.hasByte {
		p[0], l.hasByte = l.pending[0], false
		l.consume(1)
		return 1, nil
	}
	if l.n > 0 && int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.consume(n)
	return n, err
}

func (l *limitedReader) consume(n int) {
	if l.n > 0 {
		l.n -= int64(n)
	}
}

// h1RequestBody is a request body read from the connection. The proxy's
// transport may read it from another goroutine, even after the handler
// returned, so its state is behind mu, and the connection closes it (later
// reads fail without touching the connection) before draining it. It
// sends 100 Continue on the first read when the client waits for it, and
// arms the disconnect watch once the body has been read to its end.
type h1RequestBody struct {
	mu        sync.Mutex
	src       io.ReadCloser
	c         *h1ServerConn
	expect    bool // the client waits for 100 Continue
	closed    bool
	continued atomic.Bool  // 100 Continue was sent, or the client sent the body anyway
	eof       atomic.Bool  // read to its end
	read      atomic.Int64 // bytes read so far
}

func (b *h1RequestBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.closed:
		return 0, http.ErrBodyReadAfterClose
	case b.eof.Load():
		return 0, io.EOF
	}
	if b.expect && !b.continued.Load() {
		b.continued.Store(true)
		if err := b.c.w.writeContinue(); err != nil {
			return 0, err
		}
	}
	n, err := b.src.Read(p)
	b.read.Add(int64(n))
	if errors.Is(err, io.EOF) {
		b.eof.Store(true)
		b.c.watch.arm()
	}
	return n, err
}

// Close does nothing: the server closes and drains the body itself once
// the handler has returned (see h1ServerConn.drain).
func (b *h1RequestBody) Close() error { return nil }

// unreadFits reports, without waiting for a read under way, whether what
// is left of the body can be drained to keep the connection: the body is
// read, or its remaining declared length is within the drain limit and
// the client is not waiting for a 100 Continue it never got.
func (b *h1RequestBody) unreadFits(declared int64) bool {
	switch {
	case b.eof.Load():
		return true
	case b.expect && !b.continued.Load():
		return false
	case declared < 0:
		return false // chunked: the rest is of unknown length
	}
	return declared-b.read.Load() <= h1DrainLimit
}

// closeAndDrain closes the body to other readers (a transport still
// reading it gets an error and never touches the connection again) and,
// if drain is set, reads and discards what is left, up to the drain
// limit. It reports whether the connection can be kept.
func (b *h1RequestBody) closeAndDrain(drain bool) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	if b.eof.Load() || !drain {
		return b.eof.Load()
	}
	if b.expect && !b.continued.Load() {
		return false // the client never sent the body: it waits for 100
	}
	n, err := io.CopyN(io.Discard, b.src, h1DrainLimit+1)
	return errors.Is(err, io.EOF) && n <= h1DrainLimit
}
