package dataplane

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// h1Server serves the gateway on a plain-TCP listener. It speaks HTTP/1.x
// itself: one goroutine per connection runs the whole exchange, request
// after request, with pooled buffers and no per-request goroutines. That is
// where the data plane's throughput comes from: net/http's server costs
// about a third more CPU per request on this path (see README, make bench).
//
// Connections that open with the HTTP/2 preface (h2c with prior knowledge,
// as gRPC clients do) are handed to a net/http server, which speaks
// HTTP/2, as are TLS connections that negotiate h2 (ServeTLS). Under the
// epoll engine the event loops serve both kinds of listener, TLS ones
// after a handshake on a goroutine (evtls_linux.go).
type h1Server struct {
	g   *Gateway
	ln  net.Listener
	tls *tls.Config // nil for plain TCP

	h2    *http.Server  // h2c, or TLS connections that negotiated h2
	h2ln  *connListener // feeds h2
	h2err chan error    // h2.Serve's result

	engine loopEngine // the event loops serving ln, under mu; nil: goroutines
	// slots is the goroutine engine's MaxConns limit over ln, under mu;
	// nil without one.
	slots *slotListener
	// acceptDone is closed when no goroutine accepts from ln any more:
	// serve returned, or the loops took over. Shutdown waits for it, so
	// that a connection the accept loop holds is registered before
	// Shutdown counts the connections left.
	acceptDone chan struct{}

	mu       sync.Mutex
	conns    map[*h1ServerConn]struct{}
	shutting atomic.Bool // no connection is accepted any more
	// draining trails shutting: it is set once the listener is closed,
	// and from then on every answer closes its connection and idle
	// connections are closed. A client told to reconnect before then
	// could connect in the instant before the listener closes, and the
	// kernel would reset it.
	draining atomic.Bool
	// incoming counts connections an event loop accepted and gave to
	// another loop that has not opened them yet; they count against
	// Options.MaxConns.
	incoming atomic.Int32
	// h2open counts the TLS connections an event loop accepted that
	// negotiated h2 and are open: the net/http server serves them, and
	// they count against Options.MaxConns. (Under the goroutine engine
	// the listener's slots count them.)
	h2open atomic.Int32
	done   chan struct{} // closed when the last connection is gone after shutdown began
}

// Serve answers requests on ln until Shutdown, and then returns
// http.ErrServerClosed. It speaks HTTP/1.1 and, for gRPC clients, HTTP/2
// with prior knowledge (h2c). It may be called for several listeners.
func (g *Gateway) Serve(ln net.Listener) error {
	s := newH1Server(g, ln)
	s.h2.Protocols = new(http.Protocols)
	s.h2.Protocols.SetHTTP1(true)
	s.h2.Protocols.SetUnencryptedHTTP2(true)
	return s.run("tls", false)
}

// newH1Server returns a server for ln whose HTTP/2 hand-off server the
// caller configures.
func newH1Server(g *Gateway, ln net.Listener) *h1Server {
	return &h1Server{g: g, ln: ln, conns: map[*h1ServerConn]struct{}{}, h2err: make(chan error, 1),
		h2: g.newServer(), h2ln: newConnListener(ln.Addr()), acceptDone: make(chan struct{})}
}

// run registers the server for Shutdown, starts the hand-off server and
// serves until the listener closes.
func (s *h1Server) run(tlsKey string, tlsValue bool) error {
	if !s.g.track(s, s.ln) {
		return http.ErrServerClosed
	}
	go func() { s.h2err <- s.h2.Serve(s.h2ln) }()
	if s.g.opts.Engine == EngineEpoll {
		e, err := startLoops(s, s.ln)
		if err == nil {
			s.mu.Lock()
			s.engine = e
			shutting := s.shutting.Load()
			s.mu.Unlock()
			if shutting { // Shutdown ran before the engine was there to stop
				e.stopAccepting()
			}
			close(s.acceptDone)
			s.g.log.Info("data plane listening", "addr", s.ln.Addr().String(), tlsKey, tlsValue, "engine", EngineEpoll, "node_id", s.g.opts.NodeID)
			e.wait()
			return http.ErrServerClosed
		}
		s.g.log.Warn("event loops unavailable; serving with goroutines", "err", err)
	}
	defer close(s.acceptDone)
	ln := s.ln
	if max := s.g.opts.MaxConns; max > 0 {
		s.mu.Lock()
		s.slots = newSlotListener(ln, max) // Shutdown closes s.ln under it
		if s.shutting.Load() {
			s.slots.stopWaiting()
		}
		ln = s.slots
		s.mu.Unlock()
	}
	s.g.log.Info("data plane listening", "addr", s.ln.Addr().String(), tlsKey, tlsValue, "node_id", s.g.opts.NodeID)
	return s.serve(ln)
}

// loopEngine is the event-loop engine serving a listener
// (evloop_linux.go).
type loopEngine interface {
	stopAccepting() // close the listener; the loops end with their last connection
	closeIdle()     // close the connections waiting for a request
	closeAll()      // close every connection now
	wait()          // return once every loop ended
}

// serve accepts connections from ln (s.ln, or a limit over it) until the
// listener fails or closes.
func (s *h1Server) serve(ln net.Listener) error {
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.shutting.Load() {
				return http.ErrServerClosed
			}
			var temp interface{ Temporary() bool }
			if errors.As(err, &temp) && temp.Temporary() { // out of file descriptors and the like
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.g.log.Warn("accept failed; retrying", "err", err, "in", backoff)
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		s.open(nc)
	}
}

// serveQueued serves the clients waiting in the listener's queue, which
// closing the listener would reset, as Shutdown begins (the goroutine
// engine; the loops do the same in drainBacklog).
func (s *h1Server) serveQueued() {
	for _, nc := range acceptQueued(s.ln) {
		s.open(nc)
	}
}

// open serves nc on a goroutine of its own, or closes it once Shutdown
// has seen every connection end.
func (s *h1Server) open(nc net.Conn) {
	c := newH1ServerConn(s, nc)
	if !s.track(c) {
		_ = nc.Close()
		return
	}
	go c.serve()
}

// openToLoop serves nc, a connection of a TLS listener an event loop
// accepted, on a goroutine for its handshake; giveBack then returns it to
// the loops, unless it negotiated h2.
func (s *h1Server) openToLoop(nc net.Conn) {
	c := newH1ServerConn(s, nc)
	c.toLoop = true
	if !s.track(c) {
		_ = nc.Close()
		return
	}
	go c.serve()
}

// track registers a connection that was accepted. It does so during
// Shutdown too, which then waits for the connection's request (answered
// with Connection: close): the client connected before the listener
// closed. It refuses once Shutdown has seen every connection end.
func (s *h1Server) track(c *h1ServerConn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done != nil {
		select {
		case <-s.done:
			return false
		default:
		}
	}
	s.conns[c] = struct{}{}
	return true
}

// atCapacity reports whether Options.MaxConns connections are open.
func (s *h1Server) atCapacity() bool {
	max := s.g.opts.MaxConns
	if max <= 0 {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)+int(s.incoming.Load())+int(s.h2open.Load()) >= max
}

// remove forgets c and, during shutdown, reports the last one gone.
func (s *h1Server) remove(c *h1ServerConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
	if len(s.conns) == 0 && s.done != nil {
		select {
		case <-s.done:
		default:
			close(s.done)
		}
	}
}

// adopt serves nc, a connection an event loop handed over, in place of
// old, the loop's record of it.
// It is registered even during Shutdown, which waits for it as it waited
// for old: the request it carries is answered (with Connection: close).
// kept says nc is between two requests of a kept connection (its last
// answer was streamed): it is idle, not new, so it gets IdleTimeout and
// Shutdown closes it at once, not after h1NewConnGrace. toLoop says the
// loop handed nc over for its request (or answer) alone, not for its
// route: it goes back to the loops once idle.
func (s *h1Server) adopt(nc net.Conn, old *h1ServerConn, kept, toLoop bool) {
	c := newH1ServerConn(s, nc)
	c.toLoop = toLoop
	if t, ok := nc.(interface{ tlsConnState() *tls.ConnectionState }); ok {
		c.tlsState = t.tlsConnState() // no second handshake
	}
	if kept {
		c.kept = true
		c.state.Store(connIdle)
	}
	s.mu.Lock()
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	old.state.Store(connClosed)
	s.remove(old)
	go c.serve()
}

// handOffH2 gives a connection that opened with the HTTP/2 preface to the
// net/http server; br holds the bytes already read from it.
func (s *h1Server) handOffH2(nc net.Conn, br *bufio.Reader) bool {
	return s.h2ln.push(&prefixConn{Conn: nc, r: br})
}

// handshake completes the TLS handshake of a new connection within
// ReadHeaderTimeout. A connection that negotiated HTTP/2 is handed to the
// net/http server (which needs the *tls.Conn itself): handed is true and
// the caller forgets it.
func (s *h1Server) handshake(nc net.Conn) (conn *tls.Conn, handed bool, err error) {
	tc := tls.Server(nc, s.tls)
	_ = tc.SetDeadline(time.Now().Add(s.g.opts.ReadHeaderTimeout))
	if err := tc.Handshake(); err != nil {
		s.g.log.Debug("TLS handshake failed", "remote", nc.RemoteAddr().String(), "err", err)
		return nil, false, err
	}
	_ = tc.SetDeadline(time.Time{})
	if tc.ConnectionState().NegotiatedProtocol == "h2" {
		if c, ok := nc.(interface{ countOpen(*atomic.Int32) }); ok {
			c.countOpen(&s.h2open) // accepted by a loop: counts against MaxConns until closed
		}
		if !s.h2ln.push(tc) {
			return nil, false, net.ErrClosed // shutting down: close it
		}
		return tc, true, nil
	}
	return tc, false, nil
}

// Shutdown stops accepting, closes idle connections as they become idle,
// and waits for the others to finish their request; then it shuts the
// HTTP/2 server down (GOAWAY, and its streams finish). Hijacked (upgraded)
// connections are not waited for, as with net/http. If ctx ends first it
// returns ctx's error; the caller then calls Close.
func (s *h1Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.shutting.Store(true)
	engine := s.engine
	s.mu.Unlock()
	if engine == nil {
		s.serveQueued() // then clients that connect are refused, not reset
	}
	_ = s.ln.Close()
	if engine != nil {
		engine.stopAccepting() // the loops take in their queued clients first
	} else if err := s.waitAcceptLoop(ctx); err != nil {
		return err
	}
	s.draining.Store(true) // no listener left to reconnect into
	if engine = s.loopEngine(); engine != nil {
		engine.closeIdle()
	}
	s.mu.Lock()
	s.done = make(chan struct{})
	if len(s.conns) == 0 {
		close(s.done)
	}
	s.mu.Unlock()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		s.closeIdle()
		select {
		case <-s.done:
			// Only now: a connection accepted before the listener closed
			// may still turn out to speak HTTP/2 (ALPN, or the h2c
			// preface), and is handed over through h2ln.
			_ = s.h2ln.Close()
			return errors.Join(s.h2.Shutdown(ctx), s.h2result())
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// waitAcceptLoop stops the accept loop waiting for a MaxConns slot and
// waits for it to return, having registered what it accepted.
func (s *h1Server) waitAcceptLoop(ctx context.Context) error {
	s.mu.Lock()
	if s.slots != nil {
		s.slots.stopWaiting()
	}
	s.mu.Unlock()
	select {
	case <-s.acceptDone:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// loopEngine is the event-loop engine, or nil.
func (s *h1Server) loopEngine() loopEngine {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.engine
}

// h2result is the h2c server's Serve result, ignoring the normal close
// (ErrServerClosed, or ErrClosed when Shutdown closed h2ln first).
func (s *h1Server) h2result() error {
	if err := <-s.h2err; !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
		return err
	}
	return nil
}

// closeIdle closes the connections waiting for a next request.
func (s *h1Server) closeIdle() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.closeIfIdle()
	}
}

// Close closes the listener and every connection at once.
func (s *h1Server) Close() error {
	s.mu.Lock()
	s.shutting.Store(true)
	s.draining.Store(true)
	engine := s.engine
	if s.slots != nil {
		s.slots.stopWaiting()
	}
	s.mu.Unlock()
	err := s.ln.Close()
	if engine != nil {
		engine.closeAll()
	}
	_ = s.h2ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.closeConn()
	}
	s.mu.Unlock()
	return errors.Join(err, s.h2.Close())
}

// connListener is a net.Listener fed connections by push: it gives h2c
// connections, recognised by h1Server, to a net/http server.
type connListener struct {
	addr   net.Addr
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func newConnListener(addr net.Addr) *connListener {
	return &connListener{addr: addr, conns: make(chan net.Conn), closed: make(chan struct{})}
}

// push hands nc to Accept; false (nc not taken) once the listener closed.
func (l *connListener) push(nc net.Conn) bool {
	select {
	case l.conns <- nc:
		return true
	case <-l.closed:
		return false
	}
}

// Accept waits for a pushed connection.
func (l *connListener) Accept() (net.Conn, error) {
	select {
	case nc := <-l.conns:
		return nc, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

// Close makes Accept and push fail from now on.
func (l *connListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

// Addr is the address of the real listener.
func (l *connListener) Addr() net.Addr { return l.addr }

// prefixConn is a connection whose first bytes were already read into r.
type prefixConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *prefixConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// slotListener is netutil.LimitListener for the goroutine server: at most
// max connections accepted and not yet closed. Its TCP connections are
// *net.TCPConn underneath, so CloseWrite (for a lingering close) and
// SyscallConn (for the disconnect watch) still work; LimitListener's
// connections hide both.
type slotListener struct {
	net.Listener
	slots    chan struct{}
	stop     chan struct{} // closed by stopWaiting
	stopOnce sync.Once
}

func newSlotListener(ln net.Listener, max int) *slotListener {
	return &slotListener{Listener: ln, slots: make(chan struct{}, max), stop: make(chan struct{})}
}

// stopWaiting makes Accept fail with net.ErrClosed instead of waiting
// for a slot, which a hijacked connection may hold for long.
func (l *slotListener) stopWaiting() { l.stopOnce.Do(func() { close(l.stop) }) }

// Accept waits for a free slot, then for a connection.
func (l *slotListener) Accept() (net.Conn, error) {
	select {
	case l.slots <- struct{}{}:
	case <-l.stop:
		return nil, net.ErrClosed
	}
	nc, err := l.Listener.Accept()
	if err != nil {
		<-l.slots
		return nil, err
	}
	release := sync.OnceFunc(func() { <-l.slots })
	if tc, ok := nc.(*net.TCPConn); ok {
		return &slotTCPConn{TCPConn: tc, release: release}, nil
	}
	return &slotConn{Conn: nc, release: release}, nil
}

// slotTCPConn gives its slot back when closed.
type slotTCPConn struct {
	*net.TCPConn
	release func()
}

func (c *slotTCPConn) Close() error {
	defer c.release()
	return c.TCPConn.Close()
}

// slotConn is slotTCPConn for a connection of another kind.
type slotConn struct {
	net.Conn
	release func()
}

func (c *slotConn) Close() error {
	defer c.release()
	return c.Conn.Close()
}
