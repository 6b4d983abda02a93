package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestCurrentEmptyBeforeWrite(t *testing.T) {
	s, _ := newStore(t, 0)
	cur := s.Current()
	if cur == nil {
		t.Fatal("Current() = nil")
	}
	if !reflect.DeepEqual(cur, &Config{}) {
		t.Fatalf("Current() = %+v, want empty version 0", cur)
	}
	if s.AppliedIndex() != 0 {
		t.Fatalf("AppliedIndex() = %d, want 0", s.AppliedIndex())
	}
	h, err := s.History()
	if err != nil || len(h) != 0 {
		t.Fatalf("History() = %v, %v; want empty", h, err)
	}
}

func TestApplyVersionsMonotonic(t *testing.T) {
	s, _ := newStore(t, 0)
	for i, tag := range []string{"a", "b", "c"} {
		cfg := validConfig(tag)
		cfg.Version = 99 // read-only: the store assigns versions
		want := uint64(i + 1)
		mustApply(t, s, uint64(i+1), putCmd(cfg, nil), want)

		cur := s.Current()
		if cur.Version != want {
			t.Fatalf("Current().Version = %d, want %d", cur.Version, want)
		}
		exp := validConfig(tag)
		exp.Version = want
		assertSameConfig(t, cur, exp)
		if s.AppliedIndex() != uint64(i+1) {
			t.Fatalf("AppliedIndex() = %d, want %d", s.AppliedIndex(), i+1)
		}
	}
	h, err := s.History()
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 3 {
		t.Fatalf("history has %d entries, want 3", len(h))
	}
	for i, e := range h {
		if e.Version != uint64(i+1) || e.Config.Version != e.Version || e.Author != "tester" || !e.Time.Equal(testTime) {
			t.Errorf("history[%d] = version %d (config %d), author %q, time %v", i, e.Version, e.Config.Version, e.Author, e.Time)
		}
		if e.Config.Routes[0].Name != "users-"+string(rune('a'+i)) {
			t.Errorf("history[%d] holds route %q", i, e.Config.Routes[0].Name)
		}
	}
}

func TestApplyDoesNotAliasCommandConfig(t *testing.T) {
	s, _ := newStore(t, 0)
	mustApply(t, s, 1, putCmd(validConfig("a"), nil), 1)
	first := s.Current()
	mustApply(t, s, 2, putCmd(validConfig("b"), nil), 2)
	if first.Version != 1 || first.Routes[0].Name != "users-a" {
		t.Fatalf("an earlier snapshot changed: %+v", first)
	}
}

func TestApplyCompareAndSet(t *testing.T) {
	tests := []struct {
		name      string
		writes    int     // unconditional writes before the CAS
		ifVersion *uint64 // nil: unconditional
		wantErr   error
	}{
		{"unconditional", 2, nil, nil},
		{"matching", 2, ptr[uint64](2), nil},
		{"matching on empty store", 0, ptr[uint64](0), nil},
		{"stale", 2, ptr[uint64](1), ErrVersionMismatch},
		{"stale zero", 1, ptr[uint64](0), ErrVersionMismatch},
		{"future", 2, ptr[uint64](3), ErrVersionMismatch},
		{"future on empty store", 0, ptr[uint64](1), ErrVersionMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := newStore(t, 0)
			var calls int
			s.Watch(func(*Config) { calls++ })
			idx := uint64(0)
			for i := range tt.writes {
				idx++
				mustApply(t, s, idx, putCmd(validConfig(fmt.Sprint(i)), nil), uint64(i+1))
			}
			before := s.Current()
			idx++
			v, err := apply(t, s, idx, putCmd(validConfig("cas"), tt.ifVersion))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if s.AppliedIndex() != idx {
				t.Errorf("AppliedIndex() = %d, want %d", s.AppliedIndex(), idx)
			}
			if tt.wantErr != nil {
				if v != uint64(tt.writes) {
					t.Errorf("result version = %d, want current %d", v, tt.writes)
				}
				if s.Current() != before {
					t.Errorf("Current() changed after a rejected write: %+v", s.Current())
				}
				if calls != tt.writes {
					t.Errorf("watchers called %d times, want %d", calls, tt.writes)
				}
				if !strings.Contains(err.Error(), "expected version") {
					t.Errorf("message %q does not name the versions", err)
				}
				return
			}
			want := uint64(tt.writes + 1)
			if v != want || s.Current().Version != want || s.Current().Routes[0].Name != "users-cas" {
				t.Fatalf("version %d, Current %+v; want version %d with the CAS config", v, s.Current(), want)
			}
		})
	}
}

func TestApplyRejections(t *testing.T) {
	invalid := validConfig("bad")
	invalid.Routes[0].Service = "x"
	tests := []struct {
		name  string
		data  []byte
		check func(t *testing.T, err error)
	}{
		{"invalid config", encode(t, putCmd(invalid, nil)), func(t *testing.T, err error) {
			ve := asValidationError(t, err)
			if len(ve.Errors) != 1 || ve.Errors[0].Path != "routes[0].service" || ve.Errors[0].Message != `unknown service "x"` {
				t.Fatalf("errors = %v", ve.Errors)
			}
		}},
		{"missing config", encode(t, Command{Type: CmdPutConfig, Time: testTime}), func(t *testing.T, err error) {
			ve := asValidationError(t, err)
			if len(ve.Errors) != 1 || !strings.Contains(ve.Errors[0].Message, "config is required") {
				t.Fatalf("errors = %v", ve.Errors)
			}
		}},
		{"unknown command type", encode(t, Command{Type: "delete_everything", Config: validConfig("x")}), func(t *testing.T, err error) {
			if !errors.Is(err, ErrUnknownCommand) || !strings.Contains(err.Error(), "delete_everything") {
				t.Fatalf("err = %v, want ErrUnknownCommand naming the type", err)
			}
		}},
		{"empty command type", []byte(`{}`), func(t *testing.T, err error) {
			if !errors.Is(err, ErrUnknownCommand) {
				t.Fatalf("err = %v, want ErrUnknownCommand", err)
			}
		}},
		{"garbage bytes", []byte("\x00\xffnot json"), func(t *testing.T, err error) {
			if !errors.Is(err, ErrBadCommand) {
				t.Fatalf("err = %v, want ErrBadCommand", err)
			}
		}},
		{"empty entry", nil, func(t *testing.T, err error) {
			if !errors.Is(err, ErrBadCommand) {
				t.Fatalf("err = %v, want ErrBadCommand", err)
			}
		}},
		{"wrong shape", []byte(`{"type": "put_config", "config": []}`), func(t *testing.T, err error) {
			if !errors.Is(err, ErrBadCommand) {
				t.Fatalf("err = %v, want ErrBadCommand", err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := newStore(t, 0)
			var calls int
			s.Watch(func(*Config) { calls++ })
			mustApply(t, s, 1, putCmd(validConfig("good"), nil), 1)
			before := s.Current()

			v, err := applyRaw(t, s, 2, tt.data)
			tt.check(t, err)
			if v != 1 {
				t.Errorf("result version = %d, want 1", v)
			}
			if s.Current() != before || calls != 1 {
				t.Errorf("rejected entry changed state: Current %+v, watcher calls %d", s.Current(), calls)
			}
			if s.AppliedIndex() != 2 {
				t.Errorf("AppliedIndex() = %d, want 2", s.AppliedIndex())
			}
			if h, _ := s.History(); len(h) != 1 {
				t.Errorf("history has %d entries, want 1", len(h))
			}
			// The store keeps working after a rejected entry.
			mustApply(t, s, 3, putCmd(validConfig("next"), nil), 2)
		})
	}
}

func encode(t testing.TB, cmd Command) []byte {
	t.Helper()
	b, err := cmd.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecodeResultErrors(t *testing.T) {
	if _, err := DecodeResult([]byte("nope")); err == nil {
		t.Fatal("DecodeResult(garbage) = nil error")
	}
	v, err := DecodeResult([]byte(`{"version": 4, "code": "something_new", "message": "m"}`))
	if v != 4 || !errors.Is(err, ErrBadCommand) {
		t.Fatalf("unknown code: %d, %v", v, err)
	}
}

func TestApplyReplayIsNoOp(t *testing.T) {
	s, path := newStore(t, 0)
	var seen []uint64
	s.Watch(func(c *Config) { seen = append(seen, c.Version) })
	mustApply(t, s, 1, putCmd(validConfig("a"), nil), 1)
	mustApply(t, s, 2, putCmd(validConfig("b"), nil), 2)
	cur := s.Current()

	// Replaying entries at or below the applied index changes nothing,
	// whatever they hold.
	for _, idx := range []uint64{1, 2} {
		v, err := apply(t, s, idx, putCmd(validConfig("replayed"), nil))
		if err != nil || v != 2 {
			t.Fatalf("replay index %d: version %d, err %v; want 2, nil", idx, v, err)
		}
		if v, err := applyRaw(t, s, idx, []byte("garbage")); err != nil || v != 2 {
			t.Fatalf("replay garbage at %d: version %d, err %v; want 2, nil", idx, v, err)
		}
	}
	if s.Current() != cur || s.AppliedIndex() != 2 || fmt.Sprint(seen) != "[1 2]" {
		t.Fatalf("replay changed state: version %d, applied %d, watcher saw %v", s.Current().Version, s.AppliedIndex(), seen)
	}

	// After a restart the whole log is replayed from index 1: the
	// persisted entries are skipped and the next one applies.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openAt(t, path, 0)
	seen = nil
	s.Watch(func(c *Config) { seen = append(seen, c.Version) })
	for idx, tag := range []string{"a", "b"} {
		if v, err := apply(t, s, uint64(idx+1), putCmd(validConfig(tag), nil)); err != nil || v != 2 {
			t.Fatalf("restart replay of index %d: version %d, err %v", idx+1, v, err)
		}
	}
	if seen != nil {
		t.Fatalf("watchers called for replayed entries: %v", seen)
	}
	mustApply(t, s, 3, putCmd(validConfig("c"), nil), 3)
	if h, _ := s.History(); len(h) != 3 {
		t.Fatalf("history has %d entries after replay, want 3", len(h))
	}
}

func TestWatchersCalledInOrder(t *testing.T) {
	s, _ := newStore(t, 0)
	var events []string
	var got []*Config
	s.Watch(func(c *Config) {
		events = append(events, fmt.Sprintf("A%d", c.Version))
		got = append(got, c)
	})
	s.Watch(func(c *Config) {
		events = append(events, fmt.Sprintf("B%d", c.Version))
		if s.Current() != c {
			t.Errorf("watcher B called before Current() is %d", c.Version)
		}
	})
	mustApply(t, s, 1, putCmd(validConfig("a"), nil), 1)
	_, _ = apply(t, s, 2, putCmd(validConfig("stale"), ptr[uint64](0))) // rejected: no event
	mustApply(t, s, 3, putCmd(validConfig("b"), nil), 2)
	_, _ = applyRaw(t, s, 4, []byte("garbage")) // rejected: no event
	mustApply(t, s, 5, putCmd(validConfig("c"), ptr[uint64](2)), 3)

	if want := "[A1 B1 A2 B2 A3 B3]"; fmt.Sprint(events) != want {
		t.Fatalf("events = %v, want %s", events, want)
	}
	for i, tag := range []string{"a", "b", "c"} {
		if got[i].Routes[0].Name != "users-"+tag {
			t.Errorf("watcher call %d got route %q, want users-%s", i, got[i].Routes[0].Name, tag)
		}
	}
	if got[2] != s.Current() {
		t.Fatal("watcher did not receive the config that became current")
	}
}

func TestConcurrentReadersDuringApply(t *testing.T) {
	s, _ := newStore(t, 0)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var last uint64
			for {
				select {
				case <-stop:
					return
				default:
				}
				c := s.Current()
				if c.Version < last {
					t.Errorf("version went back from %d to %d", last, c.Version)
					return
				}
				last = c.Version
				_ = s.AppliedIndex()
				for _, r := range c.Routes {
					_ = r.Name
				}
			}
		}()
	}
	for i := 1; i <= 20; i++ {
		mustApply(t, s, uint64(i), putCmd(validConfig(fmt.Sprint(i)), nil), uint64(i))
	}
	close(stop)
	wg.Wait()
}

func TestReopenKeepsState(t *testing.T) {
	s, path := newStore(t, 0)
	mustApply(t, s, 1, putCmd(validConfig("a"), nil), 1)
	mustApply(t, s, 2, putCmd(validConfig("b"), nil), 2)
	mustApply(t, s, 5, putCmd(validConfig("c"), ptr[uint64](2)), 3) // indices may have gaps
	want := s.Current()
	wantHist, err := s.History()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	s2 := openAt(t, path, 0)
	if s2.Current().Version != 3 {
		t.Fatalf("Current().Version = %d, want 3", s2.Current().Version)
	}
	assertSameConfig(t, s2.Current(), want)
	if !reflect.DeepEqual(s2.Current(), want) {
		t.Fatalf("Current() = %+v\nwant %+v", s2.Current(), want)
	}
	if s2.AppliedIndex() != 5 {
		t.Fatalf("AppliedIndex() = %d, want 5", s2.AppliedIndex())
	}
	hist, err := s2.History()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(hist, wantHist) {
		t.Fatalf("History() after reopen = %+v\nwant %+v", hist, wantHist)
	}
	// The reopened store keeps versioning where it left off.
	mustApply(t, s2, 6, putCmd(validConfig("d"), ptr[uint64](3)), 4)
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Open(Options{Path: dir}); err == nil { // a directory is not a bbolt file
		t.Fatal("Open(directory) succeeded")
	}
	if _, err := Open(Options{Path: dir + "/missing/dir/store.db"}); err == nil {
		t.Fatal("Open(path in a missing directory) succeeded")
	}
}

func TestHistoryTrimmed(t *testing.T) {
	const limit = 3
	s, path := newStore(t, limit)
	for i := 1; i <= 7; i++ {
		mustApply(t, s, uint64(i), putCmd(validConfig(fmt.Sprint(i)), nil), uint64(i))
		h, err := s.History()
		if err != nil {
			t.Fatal(err)
		}
		if len(h) != min(i, limit) {
			t.Fatalf("after %d writes history has %d entries, want %d", i, len(h), min(i, limit))
		}
		if last := h[len(h)-1]; last.Version != uint64(i) {
			t.Fatalf("newest history entry is version %d, want %d", last.Version, i)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openAt(t, path, limit)
	h, err := s.History()
	if err != nil {
		t.Fatal(err)
	}
	if got := versions(h); fmt.Sprint(got) != "[5 6 7]" {
		t.Fatalf("history versions = %v, want [5 6 7]", got)
	}
	for _, e := range h {
		if e.Config == nil || e.Config.Version != e.Version || e.Config.Routes[0].Name != fmt.Sprintf("users-%d", e.Version) {
			t.Errorf("history entry %d holds %+v", e.Version, e.Config)
		}
	}

	// Reopening with a smaller limit trims at the next write.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openAt(t, path, 1)
	mustApply(t, s, 8, putCmd(validConfig("8"), nil), 8)
	h, _ = s.History()
	if got := versions(h); fmt.Sprint(got) != "[8]" {
		t.Fatalf("history versions with limit 1 = %v, want [8]", got)
	}
}

func TestHistoryDefaultLimit(t *testing.T) {
	s, _ := newStore(t, 0)
	n := DefaultHistoryLimit + 2
	for i := 1; i <= n; i++ {
		mustApply(t, s, uint64(i), putCmd(&Config{Consumers: []Consumer{{Username: fmt.Sprint(i)}}}, nil), uint64(i))
	}
	h, err := s.History()
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != DefaultHistoryLimit || h[0].Version != 3 || h[len(h)-1].Version != uint64(n) {
		t.Fatalf("history holds %d entries, versions %d..%d; want %d entries, 3..%d",
			len(h), h[0].Version, h[len(h)-1].Version, DefaultHistoryLimit, n)
	}
}

func versions(h []Version) []uint64 {
	out := make([]uint64, len(h))
	for i, e := range h {
		out[i] = e.Version
	}
	return out
}

func TestSnapshotRestoreRoundTrip(t *testing.T) {
	src, _ := newStore(t, 5)
	for i := 1; i <= 7; i++ {
		mustApply(t, src, uint64(i), putCmd(validConfig(fmt.Sprint(i)), nil), uint64(i))
	}
	_, _ = applyRaw(t, src, 8, []byte("garbage")) // applied index moves past the last write
	data := snapshotBytes(t, src)

	// The snapshot is a point-in-time copy: later writes are not in it.
	mustApply(t, src, 9, putCmd(validConfig("later"), nil), 8)

	dst, dstPath := newStore(t, 5)
	var published []*Config
	dst.Watch(func(c *Config) { published = append(published, c) })
	rc := &trackingCloser{Reader: bytes.NewReader(data)}
	if err := dst.Restore(rc); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if !rc.closed {
		t.Error("Restore did not close the reader")
	}

	check := func(t *testing.T, s *Store) {
		t.Helper()
		if s.AppliedIndex() != 8 {
			t.Fatalf("AppliedIndex() = %d, want 8", s.AppliedIndex())
		}
		if s.Current().Version != 7 {
			t.Fatalf("Current().Version = %d, want 7", s.Current().Version)
		}
		want := validConfig("7")
		want.Version = 7
		assertSameConfig(t, s.Current(), want)
		h, err := s.History()
		if err != nil {
			t.Fatal(err)
		}
		if got := versions(h); fmt.Sprint(got) != "[3 4 5 6 7]" {
			t.Fatalf("history versions = %v, want [3 4 5 6 7]", got)
		}
		for _, e := range h {
			if e.Author != "tester" || !e.Time.Equal(testTime) || e.Config.Routes[0].Name != fmt.Sprintf("users-%d", e.Version) {
				t.Errorf("history entry %d = %+v", e.Version, e)
			}
		}
	}
	check(t, dst)
	if len(published) != 1 || published[0] != dst.Current() {
		t.Fatalf("watchers got %d configs, want the restored one once", len(published))
	}

	// The restored state is persisted.
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	dst = openAt(t, dstPath, 5)
	check(t, dst)

	// And the log continues after the snapshot.
	if v, err := apply(t, dst, 8, putCmd(validConfig("old"), nil)); err != nil || v != 7 {
		t.Fatalf("entry at the snapshot index: version %d, err %v; want a no-op", v, err)
	}
	mustApply(t, dst, 9, putCmd(validConfig("later"), ptr[uint64](7)), 8)
	srcHist, _ := src.History()
	dstHist, _ := dst.History()
	if !reflect.DeepEqual(versions(srcHist), versions(dstHist)) {
		t.Fatalf("histories diverged: %v vs %v", versions(srcHist), versions(dstHist))
	}
	assertSameConfig(t, dst.Current(), src.Current())
}

func TestSnapshotOfEmptyStore(t *testing.T) {
	src, _ := newStore(t, 0)
	data := snapshotBytes(t, src)
	var snap snapshotData
	if err := json.Unmarshal(data, &snap); err != nil {
		t.Fatalf("snapshot is not JSON: %v", err)
	}
	if snap.Index != 0 || snap.Current == nil || snap.Current.Version != 0 || len(snap.History) != 0 {
		t.Fatalf("snapshot = %+v", snap)
	}
	// Restoring it anywhere is a no-op: its index is 0.
	dst, _ := newStore(t, 0)
	if err := dst.Restore(io.NopCloser(bytes.NewReader(data))); err != nil {
		t.Fatal(err)
	}
	if dst.AppliedIndex() != 0 || dst.Current().Version != 0 {
		t.Fatalf("state after restoring an empty snapshot: %d, %+v", dst.AppliedIndex(), dst.Current())
	}
}

func TestRestoreOlderSnapshotKeepsLocalState(t *testing.T) {
	src, _ := newStore(t, 0)
	mustApply(t, src, 1, putCmd(validConfig("snap1"), nil), 1)
	mustApply(t, src, 2, putCmd(validConfig("snap2"), nil), 2)
	data := snapshotBytes(t, src) // index 2

	tests := []struct {
		name    string
		indices []uint64 // local writes
	}{
		{"local ahead", []uint64{1, 2, 3}},
		{"same index", []uint64{1, 2}},
		{"same index, different history", []uint64{2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst, path := newStore(t, 0)
			for i, idx := range tt.indices {
				mustApply(t, dst, idx, putCmd(validConfig(fmt.Sprint("local", i)), nil), uint64(i+1))
			}
			cur := dst.Current()
			hist, _ := dst.History()
			var calls int
			dst.Watch(func(*Config) { calls++ })

			if err := dst.Restore(io.NopCloser(bytes.NewReader(data))); err != nil {
				t.Fatalf("Restore: %v", err)
			}
			after, _ := dst.History()
			if dst.Current() != cur || dst.AppliedIndex() != tt.indices[len(tt.indices)-1] || !reflect.DeepEqual(after, hist) || calls != 0 {
				t.Fatalf("older snapshot changed local state: version %d, applied %d, history %v, watcher calls %d",
					dst.Current().Version, dst.AppliedIndex(), versions(after), calls)
			}
			// Nor on disk.
			if err := dst.Close(); err != nil {
				t.Fatal(err)
			}
			dst = openAt(t, path, 0)
			assertSameConfig(t, dst.Current(), cur)
		})
	}
}

func TestRestoreNewerSnapshotReplacesLocalState(t *testing.T) {
	src, _ := newStore(t, 0)
	for i := 1; i <= 4; i++ {
		mustApply(t, src, uint64(10+i), putCmd(validConfig(fmt.Sprint("src", i)), nil), uint64(i))
	}
	data := snapshotBytes(t, src) // index 14, versions 1..4

	dst, _ := newStore(t, 0)
	for i := 1; i <= 6; i++ { // a diverged, behind node: more versions, lower index
		mustApply(t, dst, uint64(i), putCmd(validConfig(fmt.Sprint("dst", i)), nil), uint64(i))
	}
	var got []*Config
	dst.Watch(func(c *Config) { got = append(got, c) })
	if err := dst.Restore(io.NopCloser(bytes.NewReader(data))); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	h, _ := dst.History()
	if fmt.Sprint(versions(h)) != "[1 2 3 4]" || h[3].Config.Routes[0].Name != "users-src4" {
		t.Fatalf("history after restore = %v, want the snapshot's [1 2 3 4]", versions(h))
	}
	if dst.AppliedIndex() != 14 || dst.Current().Version != 4 || len(got) != 1 || got[0] != dst.Current() {
		t.Fatalf("applied %d, version %d, published %d", dst.AppliedIndex(), dst.Current().Version, len(got))
	}
}

func TestRestoreBadSnapshot(t *testing.T) {
	tests := []struct{ name, data string }{
		{"garbage", "not a snapshot"},
		{"truncated", `{"index": 9, "current": {"version": 2, "ser`},
		{"empty", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := newStore(t, 0)
			mustApply(t, s, 1, putCmd(validConfig("a"), nil), 1)
			cur := s.Current()
			rc := &trackingCloser{Reader: strings.NewReader(tt.data)}
			if err := s.Restore(rc); err == nil {
				t.Fatal("Restore succeeded")
			}
			if !rc.closed {
				t.Error("Restore did not close the reader")
			}
			if s.Current() != cur || s.AppliedIndex() != 1 {
				t.Fatal("a failed restore changed state")
			}
		})
	}
}

func TestRestoreWithoutCurrentConfig(t *testing.T) {
	s, _ := newStore(t, 0)
	mustApply(t, s, 1, putCmd(validConfig("a"), nil), 1)
	if err := s.Restore(io.NopCloser(strings.NewReader(`{"index": 5}`))); err != nil {
		t.Fatal(err)
	}
	if s.Current() == nil || s.Current().Version != 0 || s.AppliedIndex() != 5 {
		t.Fatalf("Current() = %+v, applied %d", s.Current(), s.AppliedIndex())
	}
	if h, _ := s.History(); len(h) != 0 {
		t.Fatalf("history = %v, want empty", versions(h))
	}
}

func TestSnapshotPersistFailureCancelsSink(t *testing.T) {
	s, _ := newStore(t, 0)
	mustApply(t, s, 1, putCmd(validConfig("a"), nil), 1)
	snap, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Release()
	sink := &failingSink{}
	if err := snap.Persist(sink); err == nil {
		t.Fatal("Persist succeeded on a failing sink")
	}
	if !sink.cancelled || sink.closed {
		t.Fatalf("sink cancelled=%v closed=%v, want cancelled only", sink.cancelled, sink.closed)
	}
}

func TestCommandTimeTravelsIntoHistory(t *testing.T) {
	s, _ := newStore(t, 0)
	at := time.Date(2030, 1, 2, 3, 4, 5, 6, time.UTC)
	cmd := Command{Type: CmdPutConfig, Config: validConfig("a"), Time: at, Author: "ops@example.com"}
	mustApply(t, s, 1, cmd, 1)
	h, _ := s.History()
	if len(h) != 1 || !h[0].Time.Equal(at) || h[0].Author != "ops@example.com" {
		t.Fatalf("history = %+v", h)
	}
}
