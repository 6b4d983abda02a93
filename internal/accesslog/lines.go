package accesslog

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tollgate/tollgate/dataplane"
)

// A Log of JSON lines (Open, NewJSON) encodes each line on the goroutine
// that logs the request, into the first of a few buffers (shards) that is
// not in use, and its writer goroutine writes a buffer when it is full or
// flushEvery after a quiet buffer took its first line, as nginx's
// "buffer= flush=" does. Lines logged one after another stay in order;
// lines of concurrent requests may be written up to flushEvery apart from
// where their times would put them. A request costs its line's encoding and a mutex
// that is almost never contended; nothing is copied into a queue and no
// goroutine is woken per batch of requests. Measured at 2,000 req/s
// against a queue of records drained every 10 ms: about 10 µs less CPU
// per request, most of it the writer's wake-ups and their write calls.

const (
	// chunkSize is the size at which a shard's buffer is handed to the
	// writer.
	chunkSize = 64 << 10
	// flushEvery bounds how late a line is written.
	flushEvery = 100 * time.Millisecond
	// queuedBytesPerRecord converts Options.QueueSize, a count of records,
	// into the bytes of full buffers that may wait for the writer.
	queuedBytesPerRecord = 512
)

// lineBuffers is the sharded line buffer and writer of a JSON-lines Log.
type lineBuffers struct {
	shards []lineShard
	full   chan chunk    // buffers waiting to be written, bounded
	free   chan []byte   // written buffers, for reuse
	kick   chan struct{} // a quiet shard took a line: start the flush timer
	w      io.Writer
	max    int   // the largest write, in whole lines (0: no limit)
	err    error // the first write error; only the writer touches it

	dropped *atomic.Uint64 // the Log's count of dropped records
	closed  *atomic.Bool   // the Log is closed: lines are dropped
}

// lineShard is one buffer lines are encoded into.
type lineShard struct {
	mu    sync.Mutex
	enc   lineEncoder
	buf   []byte
	lines int
	_     [64]byte // keeps busy shards off each other's cache lines
}

// chunk is a buffer of whole lines on its way to the writer.
type chunk struct {
	b     []byte
	lines int
}

// newLineBuffers returns the buffers of a Log writing to w in writes of at
// most maxWrite bytes (0: no limit), holding about queueSize records' worth
// of full buffers for the writer.
func newLineBuffers(w io.Writer, maxWrite, queueSize int, attrs []slog.Attr) *lineBuffers {
	n := min(max(2*runtime.GOMAXPROCS(0), 2), 16)
	slots := max(2, queueSize*queuedBytesPerRecord/chunkSize)
	b := &lineBuffers{shards: make([]lineShard, n), full: make(chan chunk, slots),
		free: make(chan []byte, slots+n), kick: make(chan struct{}, 1), w: w, max: maxWrite}
	proto := newLineEncoder(attrs)
	for i := range b.shards {
		b.shards[i].enc.prefix = proto.prefix
	}
	return b
}

// add encodes rec into a shard, and hands the shard's buffer to the
// writer once it is full. It never blocks on the writer: a full buffer
// that finds the queue full is dropped and its lines counted.
func (b *lineBuffers) add(rec *dataplane.AccessRecord) {
	s := b.lockShard()
	defer s.mu.Unlock()
	if b.closed.Load() { // checked under the lock: Close's last flush takes every shard's lock after it is set
		b.dropped.Add(1)
		return
	}
	first := len(s.buf) == 0
	if s.buf == nil {
		s.buf = b.newBuffer()
	}
	s.buf = s.enc.appendLine(s.buf, rec)
	s.lines++
	switch {
	case len(s.buf) >= chunkSize:
		b.queue(b.take(s)) // under the lock, so that Close's drain of the queue comes after it
	case first:
		select {
		case b.kick <- struct{}{}:
		default:
		}
	}
}

// lockShard locks and returns the first shard not in use, or a random one
// when all are.
func (b *lineBuffers) lockShard() *lineShard {
	for i := range b.shards {
		if s := &b.shards[i]; s.mu.TryLock() {
			return s
		}
	}
	s := &b.shards[rand.Uint32()%uint32(len(b.shards))]
	s.mu.Lock()
	return s
}

// take returns s's lines and gives s an empty buffer; s.mu is held.
func (b *lineBuffers) take(s *lineShard) chunk {
	c := chunk{s.buf, s.lines}
	s.buf, s.lines = b.newBuffer(), 0
	return c
}

func (b *lineBuffers) queue(c chunk) {
	select {
	case b.full <- c:
	default:
		b.dropped.Add(uint64(c.lines))
		b.recycle(c.b)
	}
}

func (b *lineBuffers) newBuffer() []byte {
	select {
	case buf := <-b.free:
		return buf
	default:
		return make([]byte, 0, chunkSize+chunkSize/8)
	}
}

func (b *lineBuffers) recycle(buf []byte) {
	select {
	case b.free <- buf[:0]:
	default:
	}
}

// run writes full buffers as they come, and every flushEvery while lines
// keep coming, the shards' partial buffers; on stop it writes everything
// and returns.
func (b *lineBuffers) run(stop <-chan struct{}) {
	timer := time.NewTimer(flushEvery)
	timer.Stop()
	ticking := false
	for {
		select {
		case c := <-b.full:
			b.write(c)
		case <-b.kick:
			if !ticking {
				ticking = true
				timer.Reset(flushEvery)
			}
		case <-timer.C:
			if b.flushShards() > 0 {
				timer.Reset(flushEvery)
			} else {
				ticking = false
			}
		case <-stop:
			b.flushShards()
			b.writeQueued() // queued by a writer that took a shard's lock before flushShards
			return
		}
	}
}

// flushShards writes every shard's partial buffer, after the full ones
// queued before it (a shard's older lines), and returns how many lines of
// partial buffers it wrote.
func (b *lineBuffers) flushShards() int {
	lines := 0
	for i := range b.shards {
		s := &b.shards[i]
		s.mu.Lock()
		var c chunk
		if s.lines > 0 {
			c = b.take(s)
		}
		s.mu.Unlock()
		b.writeQueued()
		if c.lines > 0 {
			lines += c.lines
			b.write(c)
		}
	}
	return lines
}

// writeQueued writes the full buffers queued now.
func (b *lineBuffers) writeQueued() {
	for range len(b.full) {
		b.write(<-b.full)
	}
}

// write writes c's lines, in writes of at most b.max bytes of whole lines
// when b.max is set (a line longer than that goes alone), and recycles
// its buffer.
func (b *lineBuffers) write(c chunk) {
	for p := c.b; len(p) > 0; {
		n := len(p)
		if b.max > 0 && n > b.max {
			if n = bytes.LastIndexByte(p[:b.max], '\n') + 1; n == 0 {
				n = bytes.IndexByte(p, '\n') + 1
			}
		}
		if _, err := b.w.Write(p[:n]); err != nil && b.err == nil {
			b.err = fmt.Errorf("access log: %w", err)
		}
		p = p[n:]
	}
	b.recycle(c.b)
}
