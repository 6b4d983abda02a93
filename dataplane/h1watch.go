package dataplane

import (
	"fmt"
	"sync"
	"time"
)

// h1WatchDelay is how long a request may wait for its answer before the
// server starts watching its connection for a client that went away.
// Requests answered sooner (the gateway's fast path) cost no goroutine and
// no extra read; slower ones get one read in the background, as net/http
// gives every request.
const h1WatchDelay = 10 * time.Millisecond

// disconnectWatch notices a client that closes its connection while its
// request waits on the upstream, and cancels the connection's context so
// the upstream request is abandoned and the request logged as 499.
//
// It is armed once the request has no more body to read, and only reads
// the connection while armed; a byte it reads (a pipelined request) is
// kept for the next read of the connection.
type disconnectWatch struct {
	c        *h1ServerConn
	mu       sync.Mutex
	timer    *time.Timer
	handling bool          // a handler runs: arming is allowed
	armed    bool          // the handler does not read the connection
	reading  bool          // a watch read is under way
	done     chan struct{} // closed when that read returns
}

func (w *disconnectWatch) init(c *h1ServerConn) { w.c = c }

// begin allows arming while the connection's handler runs.
func (w *disconnectWatch) begin() {
	w.mu.Lock()
	w.handling = true
	w.mu.Unlock()
}

// arm starts the delay after which the connection is watched. It does
// nothing once the handler returned (a transport may finish reading the
// body later), or when bytes of a next request are already buffered.
func (w *disconnectWatch) arm() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.handling || w.c.br.Buffered() > 0 {
		return
	}
	w.armed = true
	if w.timer == nil {
		w.timer = time.AfterFunc(h1WatchDelay, w.fire)
	} else {
		w.timer.Reset(h1WatchDelay)
	}
}

// fire runs on the timer's goroutine: it reads the connection until the
// client sends something, closes, or stop interrupts the read.
func (w *disconnectWatch) fire() {
	w.mu.Lock()
	if !w.armed || w.reading {
		w.mu.Unlock()
		return
	}
	w.reading, w.done = true, make(chan struct{})
	done := w.done
	w.mu.Unlock()
	defer close(done)
	lr := &w.c.lr
	n, err := w.c.nc.Read(lr.pending[:])
	switch {
	case n == 1:
		lr.hasByte = true
	case err != nil && !isTimeout(err):
		w.c.cancel(fmt.Errorf("%w: %w", errClientGone, err))
	}
}

// stop disarms the watch and waits for a read under way to return. The
// handler's goroutine calls it before it reads the connection again.
func (w *disconnectWatch) stop() {
	w.mu.Lock()
	w.armed, w.handling = false, false
	if w.timer != nil {
		w.timer.Stop()
	}
	reading, done := w.reading, w.done
	w.mu.Unlock()
	if !reading {
		return
	}
	_ = w.c.nc.SetReadDeadline(aLongTimeAgo)
	<-done
	_ = w.c.nc.SetReadDeadline(time.Time{})
	w.mu.Lock()
	w.reading, w.done = false, nil
	w.mu.Unlock()
}

// close stops the watch for good when the connection ends.
func (w *disconnectWatch) close() {
	if w.c != nil {
		w.stop()
	}
}
