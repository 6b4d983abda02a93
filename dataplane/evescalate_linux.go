//go:build linux

package dataplane

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"time"
)

// escalate hands an exchange whose response does not fit the loop's
// buffer to a goroutine: it takes the client and upstream connections
// out of the loop, streams the body as Gateway.respond does, and then
// serves the client's next requests as the goroutine server.
func (x *evExchange) escalate(l *evLoop, u *evUpstream) {
	c, resp, f, end := x.c, x.resp, x.framing, x.headLen
	l.settle(&c.out) // what the ring did not send yet goes from the goroutine
	l.settle(&u.out)
	upPending := append([]byte(nil), u.in[end:u.n]...)
	upOut := append([]byte(nil), u.out.buf[u.out.off:]...) // the rest of the request (a body the upstream is slow to take)
	inPending := append([]byte(nil), c.in[:c.n]...)
	var outPending []byte // a TLS client's unsent records go with its transport (goroutineConn)
	if c.tls == nil {
		outPending = append(outPending, c.out.buf[c.out.off:]...)
	}
	x.u, u.ex = nil, nil
	u.closed = true
	upConn, err := detachFD(l, u.fd)
	if err != nil {
		x.attemptFailed(l, err)
		return
	}
	c.ex = nil
	x.done = true
	clientTCP, err := c.detach(l)
	if err != nil {
		upConn.Close()
		x.dropInflight()
		x.releaseSlot()
		x.rc.fail(errClientGone)
		x.rc.timeUpstream(x.start)
		endRequest(l.g, x.rc, x.w)
		return
	}
	l.counts.streamed.Add(1)
	clientConn := c.goroutineConn(clientTCP, nil)
	s := &evStream{x: x, resp: resp, f: f, client: clientConn, upstream: upConn,
		upPending: upPending, upOut: upOut, inPending: inPending, outPending: outPending}
	closeBoth := func() { clientTCP.Close(); upConn.Close() } // for Server.Close
	c.conn.closeRaw.Store(&closeBoth)
	go s.run()
}

// evStream is an escalated exchange, on its goroutine.
type evStream struct {
	x                                *evExchange
	resp                             *http.Response
	f                                framing
	client                           net.Conn // *replayConn, or *evTLSConn
	upstream                         *net.TCPConn
	upPending, inPending, outPending []byte
	upOut                            []byte // the request bytes the loop had not sent yet

	// The client watch: a read on the client while the body streams.
	stopping   atomic.Bool
	clientGone atomic.Bool
	watched    []byte // the first byte the client sent meanwhile (pipelined)
	watchDone  chan struct{}
}

func (s *evStream) run() {
	x := s.x
	conn := x.c.conn
	srv := conn.srv
	if err := s.writePending(); err != nil {
		x.rc.fail(errClientGone)
	}
	if len(s.upOut) > 0 {
		// The upstream answered before taking the whole request: the
		// rest goes while the response streams (a failed write shows in
		// the response's reads).
		go func() { _, _ = s.upstream.Write(s.upOut) }()
	}
	conn.bw.Reset(s.client)
	br := bufio.NewReaderSize(&replayConn{TCPConn: s.upstream, pending: s.upPending}, h1BufferSize)
	var scratch []byte
	body := newBodyReader(br, s.f, s.resp, &scratch)
	s.resp.Body = io.NopCloser(&timedReader{r: &body, conn: s.upstream, d: x.up.readTimeout})
	x.up.observe(x.t, s.resp.StatusCode)
	if x.rc.err == nil {
		s.watchClient()
		srv.g.respond(x.rc, s.resp, idleTimer{})
		s.stopWatch()
	}
	x.dropInflight()
	x.releaseSlot()
	x.rc.timeUpstream(x.start)
	x.rc.spans.end(x.rc, maxSpanSteps)
	keep := endRequest(srv.g, x.rc, x.w)
	s.upstream.Close()
	conn.bw.Reset(&x.c.out) // the shell writes nowhere real any more
	if !keep {
		s.client.Close()
		conn.state.Store(connClosed)
		srv.remove(conn)
		return
	}
	setPending(s.client, append(s.inPending, s.watched...))
	srv.adopt(s.client, conn, true, true)
}

// writePending writes what the loop had not sent to the client yet.
func (s *evStream) writePending() error {
	if t, ok := s.client.(*evTLSConn); ok {
		return t.flushWrites()
	}
	if len(s.outPending) == 0 {
		return nil
	}
	_, err := s.client.Write(s.outPending)
	return err
}

// setPending makes the bytes the client sent while its answer streamed
// the first its connection reads.
func setPending(nc net.Conn, pending []byte) {
	switch c := nc.(type) {
	case *replayConn:
		c.pending = pending
	case *evTLSConn:
		c.pending = pending
	}
}

// watchClient reads from the client while the body streams, as the
// goroutine server's disconnect watch does: a client that leaves ends
// the stream at once (the upstream connection is closed) instead of at
// the upstream's next write. The watch ends at the first byte the client
// sends (the start of a pipelined request, kept for later): from then on
// the client is taken to be there, and TCP flow control holds the rest.
func (s *evStream) watchClient() {
	s.watchDone = make(chan struct{})
	go func() {
		defer close(s.watchDone)
		var b [1]byte
		n, err := s.client.Read(b[:])
		s.watched = append(s.watched, b[:n]...)
		if n == 0 && err != nil && !s.stopping.Load() {
			s.clientGone.Store(true)
			s.upstream.Close()
		}
	}()
}

// stopWatch ends the client watch and records a client that left.
func (s *evStream) stopWatch() {
	s.stopping.Store(true)
	_ = s.client.SetReadDeadline(aLongTimeAgo)
	<-s.watchDone
	_ = s.client.SetReadDeadline(time.Time{})
	if s.clientGone.Load() {
		rc := s.x.rc
		rc.err, rc.abort = errClientGone, false
		if rc.rw.status == 0 {
			rc.status = statusClientClosed
		}
	}
}

// timedReader bounds each read of a response body by the read timeout.
type timedReader struct {
	r    io.Reader
	conn net.Conn
	d    time.Duration
}

func (t *timedReader) Read(p []byte) (int, error) {
	if t.d > 0 {
		_ = t.conn.SetReadDeadline(time.Now().Add(t.d))
	}
	return t.r.Read(p)
}

// detachFD takes a socket out of the loop as a *net.TCPConn.
func detachFD(l *evLoop, fd int) (*net.TCPConn, error) {
	l.forget(fd)
	return fileConn(fd)
}

// fileConn turns a socket descriptor into a *net.TCPConn, which owns a
// duplicate of it; fd itself is closed.
func fileConn(fd int) (*net.TCPConn, error) {
	f := os.NewFile(uintptr(fd), "")
	nc, err := net.FileConn(f)
	f.Close()
	if err != nil {
		return nil, err
	}
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		nc.Close()
		return nil, fmt.Errorf("not a TCP connection: %T", nc)
	}
	return tc, nil
}
