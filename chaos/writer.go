package chaos

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// WriteRecord is one config write the harness made.
type WriteRecord struct {
	ID     int           `json:"id"`
	Marker string        `json:"marker"`
	Node   string        `json:"node"`
	Call   time.Duration `json:"call"`
	Return time.Duration `json:"return"`
	// Acked: the node answered 200 with Version.
	Acked   bool   `json:"acked"`
	Version uint64 `json:"version,omitempty"`
	// NotApplied: the write certainly had no effect (the connection was
	// refused, or the document was rejected). Other unacknowledged writes
	// may or may not have been applied.
	NotApplied bool   `json:"not_applied,omitempty"`
	Status     int    `json:"status,omitempty"`
	Error      string `json:"error,omitempty"`
	// LeaderKill: the leader was killed while this write was in flight.
	LeaderKill bool `json:"leader_kill,omitempty"`
}

// ReadRecord is one read of the config: its version and marker.
type ReadRecord struct {
	Node    string        `json:"node"`
	Call    time.Duration `json:"call"`
	Return  time.Duration `json:"return"`
	Version uint64        `json:"version"`
	Marker  string        `json:"marker"`
	// Source is "read" (during the run) or "final" (after it).
	Source string `json:"source"`
	// Consistent: a linearizable read (?consistent=true, confirmed by
	// the node), which must see the latest version. Other reads are
	// local and may be stale.
	Consistent bool `json:"consistent,omitempty"`
}

// writer makes config writes through random nodes, each with a unique
// marker, and reads the config back, recording everything.
type writer struct {
	nodes   []Node
	client  *adminClient
	docs    docBuilder
	start   time.Time
	timeout time.Duration
	nextID  atomic.Int64

	mu     sync.Mutex
	writes []WriteRecord
	reads  []ReadRecord
}

func newWriter(nodes []Node, token string, docs docBuilder, start time.Time) *writer {
	return &writer{nodes: nodes, client: newAdminClient(token), docs: docs, start: start, timeout: 8 * time.Second}
}

// write PUTs a new document through node i and records the outcome.
func (w *writer) write(ctx context.Context, i int, leaderKill bool) WriteRecord {
	id := int(w.nextID.Add(1)) - 1
	rec := WriteRecord{ID: id, Marker: markerName(id), Node: w.nodes[i].ID, LeaderKill: leaderKill}
	rec.Call = time.Since(w.start)
	res := w.client.putConfig(ctx, w.nodes[i], w.docs.build(rec.Marker), w.timeout)
	rec.Return = time.Since(w.start)
	rec.Status, rec.Version, rec.Acked = res.Status, res.Version, res.Err == nil
	if res.Err != nil {
		rec.Error = res.Err.Error()
		rec.NotApplied = errors.Is(res.Err, syscall.ECONNREFUSED) || res.Status == http.StatusBadRequest
	}
	w.mu.Lock()
	w.writes = append(w.writes, rec)
	w.mu.Unlock()
	return rec
}

// read GETs the config from node i, linearizably when consistent, and
// records version and marker.
func (w *writer) read(ctx context.Context, i int, consistent bool, source string) {
	call := time.Since(w.start)
	v, err := w.client.getConfig(ctx, w.nodes[i], consistent, 6*time.Second)
	if err != nil {
		return
	}
	rec := ReadRecord{Node: w.nodes[i].ID, Call: call, Return: time.Since(w.start), Version: v.Version,
		Marker: v.marker(), Source: source, Consistent: v.Consistent}
	w.mu.Lock()
	w.reads = append(w.reads, rec)
	w.mu.Unlock()
}

// loop writes through a random node, reads from another (every other
// read linearizable), then waits interval, until stop ends. Requests run under ctx, so that a write in
// flight when stop ends still gets its answer.
func (w *writer) loop(ctx, stop context.Context, rng *rand.Rand, interval time.Duration) {
	t := time.NewTimer(interval)
	defer t.Stop()
	for k := 0; stop.Err() == nil; k++ {
		w.write(ctx, rng.IntN(len(w.nodes)), false)
		w.read(ctx, rng.IntN(len(w.nodes)), k%2 == 1, "read")
		t.Reset(interval)
		select {
		case <-stop.Done():
		case <-t.C:
		}
	}
}

// records returns every write and read so far.
func (w *writer) records() ([]WriteRecord, []ReadRecord) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]WriteRecord(nil), w.writes...), append([]ReadRecord(nil), w.reads...)
}
