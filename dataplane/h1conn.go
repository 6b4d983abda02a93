package dataplane

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"syscall"
	"time"
)

// Sizes of the HTTP/1.1 client's connections.
const (
	h1BufferSize     = 32 << 10 // each connection's read and write buffer
	h1MaxHeaderBytes = 1 << 20  // bound on the response headers, like MaxResponseHeaderBytes
	h1Max1xx         = 5        // interim responses skipped before giving up
	h1DrainBytes     = 4 << 10  // body left unread at Close that is drained to keep the connection
)

// aLongTimeAgo is a deadline in the past: setting it makes blocked reads
// and writes return at once.
var aLongTimeAgo = time.Unix(1, 0)

// h1Conn is one keep-alive connection of an h1Client with its buffers.
// Only the goroutine of the request that holds it uses it, except abort,
// which a context may call at any time.
type h1Conn struct {
	nc        net.Conn
	br        *bufio.Reader // reads from the h1Conn itself, to bound the headers
	bw        *bufio.Writer
	addr      string
	reused    bool      // served a request before
	idleSince time.Time // when it went back to the pool
	limit     int64     // bytes the next reads may return
	abortFn   func()    // abort as a func value, made once
	probe     connProbe // liveness check of an idle connection
	scratch   [1]byte   // for the read that looks for the request body's EOF
	head      []byte    // reused by readMessageHead
}

// dialH1 opens a connection to addr. A failure wraps errConnect.
func dialH1(ctx context.Context, d *net.Dialer, addr string) (*h1Conn, error) {
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, &connectError{err}
	}
	pc := &h1Conn{nc: nc, addr: addr, limit: math.MaxInt64}
	pc.br = bufio.NewReaderSize(pc, h1BufferSize)
	pc.bw = bufio.NewWriterSize(nc, h1BufferSize)
	pc.abortFn = pc.abort
	pc.probe.init(nc)
	return pc, nil
}

// Read reads from the network within the current limit, which bounds the
// response headers.
func (pc *h1Conn) Read(p []byte) (int, error) {
	if pc.limit <= 0 {
		return 0, fmt.Errorf("upstream response headers exceed %d bytes", h1MaxHeaderBytes)
	}
	if int64(len(p)) > pc.limit {
		p = p[:pc.limit]
	}
	n, err := pc.nc.Read(p)
	pc.limit -= int64(n)
	return n, err
}

// abort makes the connection's blocked reads and writes fail; it is what
// a cancelled request context calls.
func (pc *h1Conn) abort() { _ = pc.nc.SetDeadline(aLongTimeAgo) }

func (pc *h1Conn) close() { _ = pc.nc.Close() }

// alive reports whether an idle connection can take a request: no
// unsolicited bytes and no close from the server.
func (pc *h1Conn) alive() bool {
	return pc.br.Buffered() == 0 && pc.probe.alive()
}

// requestError is a failure of the request itself (a head that cannot be
// written, a body that cannot be read), not of the connection: it is not
// worth a retry or a look for an early response.
type requestError struct{ err error }

func (e *requestError) Error() string { return e.err.Error() }
func (e *requestError) Unwrap() error { return e.err }

func isRequestErr(err error) bool {
	var re *requestError
	return errors.As(err, &re)
}

// bodyError is a requestError for a failure to read the request body.
func bodyError(err error) error {
	return &requestError{fmt.Errorf("reading the request body: %w", err)}
}

// writeRequest writes req with a body of length bytes (0: none) and
// flushes it.
func (pc *h1Conn) writeRequest(req *http.Request, host string, length int64) error {
	if err := writeRequestHead(pc.bw, req, host, length); err != nil {
		return &requestError{err}
	}
	if length > 0 {
		if err := pc.writeBody(req.Body, length); err != nil {
			return err
		}
	}
	return pc.bw.Flush()
}

// writeBody copies exactly n bytes of body through the write buffer,
// without an intermediate buffer, then reads on to the body's EOF (a
// mirror copy of the body ends only there), as net/http does.
func (pc *h1Conn) writeBody(body io.Reader, n int64) error {
	eof := false
	for n > 0 && !eof {
		buf := pc.bw.AvailableBuffer()
		if cap(buf) == 0 {
			if err := pc.bw.Flush(); err != nil {
				return err
			}
			continue
		}
		m, err := body.Read(buf[:min(int64(cap(buf)), n)])
		if m > 0 {
			_, _ = pc.bw.Write(buf[:m]) // in the buffer already
			n -= int64(m)
		}
		if err != nil && err != io.EOF {
			return bodyError(err)
		}
		eof = err == io.EOF
	}
	if n > 0 {
		return bodyError(fmt.Errorf("ended %d bytes short of its Content-Length: %w", n, io.ErrUnexpectedEOF))
	}
	for !eof {
		m, err := body.Read(pc.scratch[:])
		if m > 0 {
			return bodyError(errors.New("longer than its Content-Length"))
		}
		if err != nil && err != io.EOF {
			return bodyError(err)
		}
		eof = err == io.EOF
	}
	return nil
}

// readResponse reads the response head, skipping interim 1xx answers,
// and returns it with the framing of its body. The caller bounds the
// bytes it may read with pc.limit.
func (pc *h1Conn) readResponse(req *http.Request) (*http.Response, framing, error) {
	for range h1Max1xx + 1 {
		head, err := readMessageHead(pc.br, &pc.head, h1MaxHeaderBytes)
		if errors.Is(err, errHeadTooLarge) {
			return nil, noBody, fmt.Errorf("upstream response headers exceed %d bytes: %w", h1MaxHeaderBytes, err)
		}
		if err != nil {
			return nil, noBody, err
		}
		resp, f, err := parseResponseHead(head, req)
		if err != nil {
			return nil, noBody, fmt.Errorf("malformed upstream response: %w", err)
		}
		code := resp.StatusCode
		if code == http.StatusSwitchingProtocols {
			return nil, noBody, errors.New("unexpected 101 Switching Protocols")
		}
		if code >= 200 {
			return resp, f, nil
		}
	}
	return nil, noBody, fmt.Errorf("more than %d interim 1xx responses", h1Max1xx)
}

// isStaleConnErr reports an error that a connection the server closed
// while idle gives: the server never saw the request.
func isStaleConnErr(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}
