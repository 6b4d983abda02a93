package accesslog

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// syncBuf is an io.Writer that can be read while the writer writes, and
// remembers the size of every write.
type syncBuf struct {
	mu     sync.Mutex
	b      bytes.Buffer
	writes []int
}

func (w *syncBuf) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writes = append(w.writes, len(p))
	return w.b.Write(p)
}

func (w *syncBuf) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// ids returns the request ids of the JSON lines in s, in order.
func reviewIDs(t *testing.T, s string) []string {
	t.Helper()
	var ids []string
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m struct {
			RequestID string `json:"request_id"`
		}
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		ids = append(ids, m.RequestID)
	}
	return ids
}

// loggedCount counts the records logged and closes reached at the n-th.
type loggedCount struct {
	n       uint64
	count   atomic.Uint64
	reached chan struct{}
}

func newLoggedCount(n uint64) *loggedCount { return &loggedCount{n: n, reached: make(chan struct{})} }

func (c *loggedCount) add() {
	if c.count.Add(1) == c.n {
		close(c.reached)
	}
}

func (c *loggedCount) Load() uint64 { return c.count.Load() }

// waitLogged waits for c's n-th record, failing after 10 s.
func waitLogged(t *testing.T, c *loggedCount) {
	t.Helper()
	select {
	case <-c.reached:
	case <-time.After(10 * time.Second):
		t.Fatalf("%d of %d records logged after 10 s", c.Load(), c.n)
	}
}

// TestReviewOrderConcurrent: black box. Goroutines each log a numbered
// sequence; each goroutine's lines must be written in its order.
func TestReviewOrderConcurrent(t *testing.T) {
	const goroutines, each = 8, 3000
	w := &syncBuf{}
	l := NewJSON(w, Options{Sample: 1, QueueSize: 1 << 16})
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				l.LogAccess(record(200, fmt.Sprintf("%d-%d", g, i)))
			}
		}()
	}
	wg.Wait()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	last := map[string]int{}
	n, bad := 0, 0
	for _, id := range reviewIDs(t, w.String()) {
		g, seq, _ := strings.Cut(id, "-")
		i, _ := strconv.Atoi(seq)
		if p, ok := last[g]; ok && i < p {
			if bad++; bad <= 5 {
				t.Errorf("goroutine %s: line %d written after line %d", g, i, p)
			}
		}
		last[g] = i
		n++
	}
	if bad > 0 {
		t.Errorf("%d lines out of their goroutine's order (of %d written, %d dropped)", bad, n, l.Dropped())
	}
	if uint64(n)+l.Dropped() != goroutines*each {
		t.Errorf("written %d + dropped %d != logged %d", n, l.Dropped(), goroutines*each)
	}
}

// TestReviewWrittenOrDroppedRacingClose: every record logged while Close
// runs is either written or counted in Dropped (JSON lines).
func TestReviewWrittenOrDroppedRacingClose(t *testing.T) {
	for range 15 {
		w := &syncBuf{}
		l := NewJSON(w, Options{Sample: 1, QueueSize: 64})
		logged := newLoggedCount(500) // some lines in before Close
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				for i := range 3000 {
					l.LogAccess(record(200, strconv.Itoa(i)))
					logged.add()
				}
			}()
		}
		close(start)
		waitLogged(t, logged)
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		n := uint64(len(reviewIDs(t, w.String())))
		if n+l.Dropped() != logged.Load() {
			t.Fatalf("logged %d, written %d + dropped %d", logged.Load(), n, l.Dropped())
		}
	}
}

// countHandler counts the records it handles.
type countHandler struct{ n *atomic.Uint64 }

func (h countHandler) Enabled(context.Context, slog.Level) bool  { return true }
func (h countHandler) Handle(context.Context, slog.Record) error { h.n.Add(1); return nil }
func (h countHandler) WithAttrs([]slog.Attr) slog.Handler        { return h }
func (h countHandler) WithGroup(string) slog.Handler             { return h }

// TestReviewHandlerWrittenOrDroppedRacingClose: the same for a Log of a
// slog.Handler (New).
func TestReviewHandlerWrittenOrDroppedRacingClose(t *testing.T) {
	for range 60 {
		var handled atomic.Uint64
		l := New(countHandler{&handled}, Options{Sample: 1, QueueSize: 1 << 14})
		logged := newLoggedCount(100)
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 2000 {
					l.LogAccess(record(200, strconv.Itoa(i)))
					logged.add()
				}
			}()
		}
		waitLogged(t, logged)
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		if handled.Load()+l.Dropped() != logged.Load() {
			t.Fatalf("logged %d, handled %d + dropped %d: %d lost",
				logged.Load(), handled.Load(), l.Dropped(), logged.Load()-handled.Load()-l.Dropped())
		}
	}
}

// TestReviewPipeWrites: NewJSON (a pipe) writes at most 4096 bytes, of
// whole lines, a write.
func TestReviewPipeWrites(t *testing.T) {
	w := &syncBuf{}
	l := NewJSON(w, Options{Sample: 1, QueueSize: 1 << 16})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 2000 {
				l.LogAccess(record(200, fmt.Sprintf("%d-%d-%s", g, i, strings.Repeat("x", i%300))))
			}
		}()
	}
	wg.Wait()
	l.Close()
	off := 0
	all := w.String()
	for _, n := range w.writes {
		p := all[off : off+n]
		off += n
		if n > pipeBatch || p[len(p)-1] != '\n' {
			t.Fatalf("write of %d bytes, ending %q", n, p[max(0, len(p)-10):])
		}
	}
}

// failWriter fails every write.
type failWriter struct{}

func (failWriter) Write(p []byte) (int, error) { return 0, errors.New("disk full") }

// TestReviewWriteErrorCounted: lines whose write failed are neither
// written nor counted in Dropped.
func TestReviewWriteErrorCounted(t *testing.T) {
	l := NewJSON(failWriter{}, Options{Sample: 1})
	for i := range 10 {
		l.LogAccess(record(200, strconv.Itoa(i)))
	}
	err := l.Close()
	if l.Dropped() != 10 {
		t.Fatalf("10 lines logged, none written (Close: %v); Dropped = %d", err, l.Dropped())
	}
}
