//go:build linux

package dataplane

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// HTTP/1.1 over TLS on the event loops.
//
// The handshake runs on a goroutine (h1ServerConn.serve, as without the
// loops: SNI, ALPN, its deadline), over an evTLSTransport. A connection
// that did not negotiate h2 is then given to a loop (giveBack) with its
// *tls.Conn, and the loop serves it as a plain one, with crypto/tls
// decrypting what it reads and encrypting what it sends. That works
// without blocking because crypto/tls keeps a record it read in part and
// stays usable when its connection's Read fails with a temporary
// net.Error (that is how read deadlines are resumable): the transport's
// Read is a non-blocking recvfrom that fails that way on EAGAIN. Its
// Write only collects the records, which the loop sends as it sends
// anything (flush), so it never fails: crypto/tls's write errors are
// sticky. A connection the loop hands over goes on with the same
// *tls.Conn, its transport switched back to blocking I/O on a
// *net.TCPConn.

// evTLS is the TLS state of a client connection a loop serves.
type evTLS struct {
	conn  *tls.Conn
	tr    *evTLSTransport
	state *tls.ConnectionState // req.TLS of its requests
	// plain collects what the response writer writes; flush seals it
	// into records, one tls.Conn.Write for the whole of it.
	plain evOutput
	// more says conn may hold input the loop has not taken (a record
	// read whole, decrypted or not): epoll says nothing of it, so the
	// loop reads again without waiting for an event (see pump).
	more bool
}

// errWouldBlock is the transport's read failing on EAGAIN. crypto/tls
// keeps the connection usable after it because it is a temporary
// net.Error (conn.go, readRecordOrCCS); it must reach crypto/tls as is,
// not wrapped.
var errWouldBlock net.Error = wouldBlockError{}

type wouldBlockError struct{}

func (wouldBlockError) Error() string   { return "tls transport: no input yet" }
func (wouldBlockError) Timeout() bool   { return true }
func (wouldBlockError) Temporary() bool { return true }

// evTLSTransport is the connection under a *tls.Conn that moves between
// the goroutine server and a loop. With conn set (goroutine mode) it is
// conn; otherwise (loop mode) it reads fd without blocking and collects
// what it is written in sealed, for the loop to send. The switch between
// the two happens-before the other side's use (the loop's delivery
// queue, or the hand-over's goroutine start).
type evTLSTransport struct {
	conn          *net.TCPConn
	fd            int
	local, remote net.Addr
	// sealed is, in loop mode, the records crypto/tls wrote; in goroutine
	// mode, records the loop had not sent yet, written before anything
	// else.
	sealed []byte
	// uncount, when set, takes the connection out of a count of open ones
	// (countOpen); it runs once, at the first Close.
	uncount func()
}

func newEvTLSTransport(tc *net.TCPConn) *evTLSTransport {
	return &evTLSTransport{conn: tc, fd: -1, local: tc.LocalAddr(), remote: tc.RemoteAddr()}
}

// toLoop switches the transport to the loop's descriptor fd.
func (t *evTLSTransport) toLoop(fd int) {
	t.conn, t.fd = nil, fd
}

// toConn switches the transport to blocking I/O on tc; unsent are
// records the loop had not sent, which go first.
func (t *evTLSTransport) toConn(tc *net.TCPConn, unsent []byte) {
	t.sealed = append(append([]byte(nil), unsent...), t.sealed...)
	t.conn, t.fd = tc, -1
}

func (t *evTLSTransport) Read(p []byte) (int, error) {
	if t.conn != nil {
		return t.conn.Read(p)
	}
	n, err := rawRead(t.fd, p)
	switch {
	case err == syscall.EAGAIN:
		return 0, errWouldBlock
	case err != nil:
		return 0, &net.OpError{Op: "read", Net: "tcp", Source: t.local, Addr: t.remote, Err: err}
	case n == 0 && len(p) > 0:
		return 0, io.EOF
	}
	return n, nil
}

func (t *evTLSTransport) Write(p []byte) (int, error) {
	if t.conn == nil {
		t.sealed = append(t.sealed, p...)
		return len(p), nil
	}
	if err := t.writeSealed(); err != nil {
		return 0, err
	}
	return t.conn.Write(p)
}

// writeSealed writes, in goroutine mode, the records the loop left.
func (t *evTLSTransport) writeSealed() error {
	if len(t.sealed) == 0 {
		return nil
	}
	_, err := t.conn.Write(t.sealed)
	t.sealed = nil
	if err != nil {
		return fmt.Errorf("tls transport: %w", err)
	}
	return nil
}

// Close closes the goroutine side's connection; in loop mode the loop
// closes its descriptor itself.
func (t *evTLSTransport) Close() error {
	if t.uncount != nil {
		t.uncount()
	}
	if t.conn == nil {
		return nil
	}
	return t.conn.Close()
}

// underlyingTCP is the connection under t in goroutine mode: what
// Shutdown and Close close for the goroutine server's record of it (see
// newH1ServerConn).
func (t *evTLSTransport) underlyingTCP() *net.TCPConn { return t.conn }

// countOpen makes n count t until it is closed (an h2 connection, see
// h1Server.handshake).
func (t *evTLSTransport) countOpen(n *atomic.Int32) {
	n.Add(1)
	t.uncount = sync.OnceFunc(func() { n.Add(-1) })
}

func (t *evTLSTransport) LocalAddr() net.Addr  { return t.local }
func (t *evTLSTransport) RemoteAddr() net.Addr { return t.remote }

func (t *evTLSTransport) SetDeadline(d time.Time) error {
	if t.conn == nil {
		return nil
	}
	return t.conn.SetDeadline(d)
}

func (t *evTLSTransport) SetReadDeadline(d time.Time) error {
	if t.conn == nil {
		return nil
	}
	return t.conn.SetReadDeadline(d)
}

func (t *evTLSTransport) SetWriteDeadline(d time.Time) error {
	if t.conn == nil {
		return nil
	}
	return t.conn.SetWriteDeadline(d)
}

// evTLSConn is a TLS connection the goroutine server took over from a
// loop (or that a handshake on the way to one produced): the *tls.Conn,
// its transport (for giveBack) and the plaintext the loop had read and
// not used.
type evTLSConn struct {
	*tls.Conn
	tr      *evTLSTransport
	state   *tls.ConnectionState
	pending []byte
}

func (c *evTLSConn) Read(p []byte) (int, error) {
	if n, ok := takePending(&c.pending, p); ok {
		return n, nil
	}
	return c.Conn.Read(p)
}

// underlyingTCP is the connection under c (see newH1ServerConn).
func (c *evTLSConn) underlyingTCP() *net.TCPConn { return c.tr.conn }

// tlsConnState is req.TLS for the connection's requests (see adopt).
func (c *evTLSConn) tlsConnState() *tls.ConnectionState { return c.state }

// flushWrites sends, in goroutine mode, the records the loop left.
func (c *evTLSConn) flushWrites() error { return c.tr.writeSealed() }

// openTLS hands a connection a loop accepted on a TLS listener to a
// goroutine for its handshake; giveBack brings it back to a loop after
// it unless it negotiated h2. It no longer counts in the loop's load.
func (l *evLoop) openTLS(fd int) {
	l.load.Add(-1)
	tc, err := fileConn(fd)
	if err != nil {
		l.g.log.Warn("event loop: handing a TLS connection to its handshake failed", "err", err)
		return
	}
	l.s.openToLoop(newEvTLSTransport(tc))
}

// recv reads the client's next bytes into p: from the socket, or, for a
// TLS client, decrypted by crypto/tls; syscall.EAGAIN when there are
// none yet.
func (c *evClient) recv(p []byte) (int, error) {
	if c.tls == nil {
		return rawRead(c.fd, p)
	}
	n, err := c.tls.conn.Read(p)
	c.tls.more = err == nil || n > 0
	switch {
	case n > 0: // an error with it (a close_notify behind) comes again
		return n, nil
	case err == errWouldBlock:
		return 0, syscall.EAGAIN
	case err != nil:
		return 0, err
	}
	return 0, nil
}

// pump reads what crypto/tls holds for a TLS client while the loop would
// wait for input (see update): no event would tell of it.
func (c *evClient) pump(l *evLoop) {
	for c.tls != nil && c.tls.more && !c.closed && c.wantsInput() {
		c.read(l)
	}
}

// seal encrypts what the response writer wrote, for flush to send. It
// runs only with no send queued: out.buf may not move under the ring.
// The transport's Write does not fail, but crypto/tls's can (a closed
// *tls.Conn): the caller then closes the connection rather than serve
// requests it cannot answer.
func (c *evClient) seal() error {
	s := c.tls
	if s == nil {
		return nil
	}
	if len(s.plain.buf) > 0 {
		_, err := s.conn.Write(s.plain.buf)
		s.plain.buf = s.plain.buf[:0]
		if cap(s.plain.buf) > evMaxResponse {
			s.plain.buf = nil
		}
		if err != nil {
			return fmt.Errorf("sealing the response: %w", err)
		}
	}
	if len(s.tr.sealed) == 0 {
		return nil
	}
	if !c.out.pending() {
		c.out.buf, s.tr.sealed = s.tr.sealed, c.out.buf[:0]
		c.out.off = 0
		return nil
	}
	c.out.buf = append(c.out.buf, s.tr.sealed...)
	s.tr.sealed = s.tr.sealed[:0]
	return nil
}

// respOut is where the client's responses are written: out, or for a
// TLS client its plaintext, sealed at flush.
func (c *evClient) respOut() *evOutput {
	if c.tls != nil {
		return &c.tls.plain
	}
	return &c.out
}

// closeNotify queues a TLS client's close_notify before the loop closes
// it, best effort: it goes only if the socket takes it at once.
func (c *evClient) closeNotify() {
	if c.tls == nil || c.out.queued > 0 || c.out.pending() {
		return
	}
	_ = c.tls.conn.CloseWrite()
	if b := c.tls.tr.sealed; len(b) > 0 {
		_, _ = rawWrite(c.fd, b)
		c.tls.tr.sealed = b[:0]
	}
}

// goroutineConn is the connection the goroutine server takes over from
// the loop, tc underneath, with pending, the bytes the loop read and did
// not use: tc itself, or the client's TLS connection switched to tc, the
// records the loop did not send going first.
func (c *evClient) goroutineConn(tc *net.TCPConn, pending []byte) net.Conn {
	if c.tls == nil {
		return &replayConn{TCPConn: tc, pending: pending}
	}
	_ = c.seal() // a failure comes again at the goroutine's first write
	c.tls.tr.toConn(tc, c.out.buf[c.out.off:])
	c.out.buf, c.out.off = c.out.buf[:0], 0
	return &evTLSConn{Conn: c.tls.conn, tr: c.tls.tr, state: c.tls.state, pending: pending}
}
