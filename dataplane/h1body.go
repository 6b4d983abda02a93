package dataplane

import (
	"context"
	"io"
	"net/http"
	"time"
)

// h1Body is the body of a response read by an h1Client. At io.EOF it
// gives the connection back to the pool when both sides allow keep-alive;
// Close before EOF drains a small rest that is already buffered, or
// closes the connection. Unlike http.Transport's, it must not be closed
// while a Read is blocked: a request is cancelled through its context.
type h1Body struct {
	c    *h1Client
	pc   *h1Conn    // nil once released
	src  bodyReader // the body as its framing delimits it
	ctx  context.Context
	stop func() bool // unregisters the cancellation; nil if none
	keep bool        // the connection may serve another request
	err  error       // what Read returns once released
}

// Read reads the body. A read that fails because the request's context
// ended returns the context's cause, as http.Transport does.
func (b *h1Body) Read(p []byte) (int, error) {
	if b.pc == nil {
		return 0, b.err
	}
	n, err := b.src.Read(p)
	switch {
	case err == io.EOF:
		b.err = io.EOF
		b.release(b.keep, false)
	case err != nil:
		if b.ctx.Err() != nil {
			err = context.Cause(b.ctx)
		}
		b.err = err
		b.release(false, false)
	}
	return n, err
}

// Close ends the body. The connection is kept only if the rest of the
// body, at most h1DrainBytes, is already in the read buffer.
func (b *h1Body) Close() error {
	if b.pc == nil {
		b.err = http.ErrBodyReadAfterClose
		return nil
	}
	b.err = http.ErrBodyReadAfterClose
	if !b.keep {
		b.release(false, false)
		return nil
	}
	// A deadline in the past: only buffered bytes can be read.
	_ = b.pc.nc.SetReadDeadline(aLongTimeAgo)
	_, err := io.CopyN(io.Discard, &b.src, h1DrainBytes+1)
	b.release(err == io.EOF, true)
	return nil
}

// release ends the request's use of the connection: back to the pool if
// keep, else closed. reset clears a read deadline that Close set.
func (b *h1Body) release(keep, reset bool) {
	pc := b.pc
	b.pc = nil
	b.c.release(pc, keep, b.stop, reset)
}

// release gives pc back to the pool if keep holds and the request's
// context did not fire, and closes it otherwise.
func (c *h1Client) release(pc *h1Conn, keep bool, stop func() bool, reset bool) {
	if stop != nil && !stop() {
		keep = false // the context fired: its deadline is on the connection
	}
	if !keep || pc.br.Buffered() != 0 {
		pc.close()
		return
	}
	if reset {
		_ = pc.nc.SetReadDeadline(time.Time{})
	}
	c.pool.put(pc)
}
