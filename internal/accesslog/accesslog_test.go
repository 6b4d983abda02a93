package accesslog

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tollgate/tollgate/dataplane"
	"github.com/tollgate/tollgate/internal/waitfor"
)

func record(status int, id string) *dataplane.AccessRecord {
	return &dataplane.AccessRecord{Time: time.Unix(1700000000, 0), RequestID: id, Method: "GET", Host: "h", Path: "/p",
		RemoteAddr: "10.0.0.1:4000", Status: status, Duration: 3 * time.Millisecond, Route: "r", Service: "s"}
}

// readLines decodes a file of JSON lines.
func readLines(t *testing.T, path string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		out = append(out, m)
	}
	return out
}

func TestFileOfJSONLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "access.log")
	l, err := Open(path, Options{Sample: 1}, slog.String("node", "n1"))
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"a", "b", "c"} {
		l.LogAccess(record(200, id))
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	lines := readLines(t, path)
	if len(lines) != 3 {
		t.Fatalf("%d lines, want 3", len(lines))
	}
	for i, m := range lines {
		if m["request_id"] != []string{"a", "b", "c"}[i] || m["msg"] != "request" || m["node"] != "n1" ||
			m["client_ip"] != "10.0.0.1" || m["duration_us"] != 3000.0 || m["time"] != "2023-11-14T22:13:20Z" {
			t.Errorf("line %d: %v", i, m)
		}
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o640 {
		t.Errorf("mode %v", fi.Mode())
	}
	l.LogAccess(record(200, "late")) // after Close: dropped, no panic
	if l.Dropped() != 1 {
		t.Errorf("Dropped = %d after a record logged past Close", l.Dropped())
	}
}

func TestSampleKeepsErrors(t *testing.T) {
	path := filepath.Join(t.TempDir(), "access.log")
	l, err := Open(path, Options{Sample: 0})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []int{200, 301, 404, 429, 502} {
		l.LogAccess(record(s, ""))
	}
	l.Close()
	var got []float64
	for _, m := range readLines(t, path) {
		got = append(got, m["status"].(float64))
	}
	if len(got) != 3 || got[0] != 404 || got[1] != 429 || got[2] != 502 {
		t.Errorf("logged statuses %v, want only the errors", got)
	}
}

// gate is a slog.Handler that blocks until opened, counting records.
type gate struct {
	open    chan struct{}
	mu      sync.Mutex
	handled int
}

func (g *gate) Enabled(context.Context, slog.Level) bool { return true }
func (g *gate) WithAttrs([]slog.Attr) slog.Handler       { return g }
func (g *gate) WithGroup(string) slog.Handler            { return g }
func (g *gate) Handle(context.Context, slog.Record) error {
	<-g.open
	g.mu.Lock()
	g.handled++
	g.mu.Unlock()
	return nil
}

// logWithoutBlocking logs n records from another goroutine and fails the
// test if that takes 10 s: LogAccess blocked on a stuck writer.
func logWithoutBlocking(t *testing.T, l *Log, n int) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		for range n {
			l.LogAccess(record(200, "x"))
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("LogAccess blocked on a stuck writer")
	}
}

func TestFullQueueDropsInsteadOfBlocking(t *testing.T) {
	h := &gate{open: make(chan struct{})}
	l := New(h, Options{Sample: 1, QueueSize: 4})
	const n = 100
	logWithoutBlocking(t, l, n)
	if d := l.Dropped(); d < n-5 {
		t.Errorf("dropped %d of %d with a queue of 4 and a stuck writer", d, n)
	}
	close(h.open)
	l.Close()
	if uint64(h.handled)+l.Dropped() != n {
		t.Errorf("handled %d + dropped %d != %d", h.handled, l.Dropped(), n)
	}
}

func TestCloseWritesOutTheQueue(t *testing.T) {
	path := filepath.Join(t.TempDir(), "access.log")
	l, err := Open(path, Options{Sample: 1, QueueSize: 10000})
	if err != nil {
		t.Fatal(err)
	}
	for range 5000 {
		l.LogAccess(record(200, "x"))
	}
	l.Close()
	if got := len(readLines(t, path)); uint64(got)+l.Dropped() != 5000 || l.Dropped() != 0 {
		t.Errorf("%d lines written, %d dropped, want 5000 and 0", got, l.Dropped())
	}
}

func TestOpenOffAndErrors(t *testing.T) {
	if l, err := Open("off", Options{}); l != nil || err != nil {
		t.Errorf("off: %v %v", l, err)
	}
	if _, err := Open(filepath.Join(t.TempDir(), "no", "such", "dir"), Options{}); err == nil {
		t.Error("a file in a missing directory opened")
	}
}

// writes records every Write it gets.
type writes [][]byte

func (w *writes) Write(p []byte) (int, error) {
	*w = append(*w, bytes.Clone(p))
	return len(p), nil
}

func TestWritesNeverSplitALine(t *testing.T) {
	var w writes
	b := newLineBuffers(&w, pipeBatch, DefaultQueueSize, nil)
	line := strings.Repeat("x", 1500) + "\n"
	b.write(chunk{b: []byte(strings.Repeat(line, 10)), lines: 10})
	total := 0
	for _, p := range w {
		if len(p) > pipeBatch || len(p)%len(line) != 0 {
			t.Errorf("a write of %d bytes: not whole lines within %d", len(p), pipeBatch)
		}
		total += len(p)
	}
	if total != 10*len(line) || len(w) != 5 {
		t.Errorf("%d writes of %d bytes, want 5 of 2 lines", len(w), total)
	}
	w = nil
	long := strings.Repeat("y", 5000) + "\n"
	b.write(chunk{b: []byte(line + long + line), lines: 3})
	if len(w) != 3 || string(w[1]) != long {
		t.Errorf("a line longer than a write: %d writes", len(w))
	}
}

// syncWriter is a Writer the test can read while the Log writes to it.
type syncWriter struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	block chan struct{} // when set, Write waits for it to close
}

func (w *syncWriter) Write(p []byte) (int, error) {
	if w.block != nil {
		<-w.block
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

func (w *syncWriter) lines() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return bytes.Count(w.buf.Bytes(), []byte("\n"))
}

// TestQuietLinesAreWrittenWithoutClose: a line that fills no buffer is
// written within about flushEvery, and so is one logged after a quiet
// spell.
func TestQuietLinesAreWrittenWithoutClose(t *testing.T) {
	w := &syncWriter{}
	l := NewJSON(w, Options{Sample: 1})
	defer l.Close()
	for want := 1; want <= 3; want++ {
		l.LogAccess(record(200, "x"))
		waitfor.Condition(t, 5*time.Second, fmt.Sprintf("%d lines written", want), func() bool { return w.lines() >= want })
	}
}

// TestFullBuffersDropInsteadOfBlocking: with the writer stuck, logging
// goes on without blocking, and every line is written or counted dropped.
func TestFullBuffersDropInsteadOfBlocking(t *testing.T) {
	w := &syncWriter{block: make(chan struct{})}
	l := NewJSON(w, Options{Sample: 1, QueueSize: 1})
	const n = 20000 // about 3 MB of lines: far past two 64 KiB buffers
	logWithoutBlocking(t, l, n)
	if l.Dropped() == 0 {
		t.Error("nothing dropped with a stuck writer")
	}
	close(w.block)
	l.Close()
	if got := uint64(w.lines()) + l.Dropped(); got != n {
		t.Errorf("written %d + dropped %d != %d", w.lines(), l.Dropped(), n)
	}
}

// TestLinesRacingCloseAreWrittenOrCounted: records logged while Close
// runs are each written or counted dropped, never lost.
func TestLinesRacingCloseAreWrittenOrCounted(t *testing.T) {
	w := &syncWriter{}
	l := NewJSON(w, Options{Sample: 1})
	const writers, each = 4, 5000
	var wg sync.WaitGroup
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				l.LogAccess(record(200, "x"))
			}
		}()
	}
	l.Close()
	wg.Wait()
	if got := uint64(w.lines()) + l.Dropped(); got != writers*each {
		t.Errorf("written %d + dropped %d != %d", w.lines(), l.Dropped(), writers*each)
	}
}
