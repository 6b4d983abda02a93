package limiter

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestSingleNodeExactLimit(t *testing.T) {
	clock := newFakeClock()
	l := newTestLimiter(t, clock, nil)
	p := &Policy{ID: 1, Limit: 10, Window: time.Second}
	clock.Add(250 * time.Millisecond)
	for i := 0; i < 10; i++ {
		d := l.Allow(p, "k")
		if !d.Allowed || d.Remaining != int64(9-i) || d.Limit != 10 {
			t.Fatalf("hit %d: %+v, want allowed with %d remaining", i, d, 9-i)
		}
		if d.Reset != 750*time.Millisecond || d.RetryAfter != 0 {
			t.Fatalf("hit %d: reset %v retry %v", i, d.Reset, d.RetryAfter)
		}
	}
	d := l.Allow(p, "k")
	if d.Allowed || d.Remaining != 0 {
		t.Fatalf("11th hit: %+v, want denied", d)
	}
	// The 10 hits decay linearly over the next window: one slot frees at
	// 10% into it, i.e. 750 ms + 100 ms from now.
	if d.RetryAfter != 850*time.Millisecond {
		t.Fatalf("retry after %v, want 850ms", d.RetryAfter)
	}
	if l.Allow(p, "other").Allowed != true {
		t.Fatal("another key shares the count")
	}
	if l.Allow(&Policy{ID: 2, Limit: 10, Window: time.Second}, "k").Allowed != true {
		t.Fatal("another policy shares the count")
	}
}

func TestSlidingWindowEstimate(t *testing.T) {
	clock := newFakeClock()
	l := newTestLimiter(t, clock, nil)
	p := &Policy{ID: 1, Limit: 10, Window: time.Second}
	for i := 0; i < 10; i++ {
		l.Allow(p, "k")
	}
	// Halfway into the next window the previous 10 weigh 5: 5 more fit.
	clock.Add(1500 * time.Millisecond)
	allowed := 0
	for i := 0; i < 20; i++ {
		if l.Allow(p, "k").Allowed {
			allowed++
		}
	}
	if allowed != 5 {
		t.Fatalf("allowed %d halfway into the next window, want 5", allowed)
	}
	// Two windows later everything has decayed.
	clock.Add(2 * time.Second)
	if d := l.Allow(p, "k"); !d.Allowed || d.Remaining != 9 {
		t.Fatalf("after two windows: %+v", d)
	}
}

func TestRetryAfter(t *testing.T) {
	const w = float64(time.Second)
	tests := []struct {
		name                 string
		prev, cur, cap, frac float64
		want                 time.Duration
	}{
		{"prev decays within window", 10, 5, 10, 0.5, 100 * time.Millisecond},
		{"current full waits for next window", 0, 10, 10, 0.25, 850 * time.Millisecond},
		{"nothing ever fits", 0, 0, 0.5, 0.5, 1500 * time.Millisecond},
		{"already fits", 0, 1, 10, 0.5, minRetry},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := retryAfter(tc.prev, tc.cur, tc.cap, tc.frac, w)
			if d := got - tc.want; d < -time.Microsecond || d > time.Microsecond {
				t.Fatalf("retryAfter = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestInvalidPolicyDenies(t *testing.T) {
	l := newTestLimiter(t, newFakeClock(), nil)
	for _, p := range []*Policy{
		{ID: 1, Limit: -1, Window: time.Second},
		{ID: 1, Limit: 5, Window: 0},
		{ID: 1, Limit: 5, Window: 1500 * time.Microsecond},
		{ID: 1, Limit: 5, Window: 2 * MaxWindow},
	} {
		if err := p.Validate(); !errors.Is(err, ErrInvalidPolicy) {
			t.Errorf("%+v: Validate = %v", p, err)
		}
		if l.Allow(p, "k").Allowed {
			t.Errorf("%+v: allowed", p)
		}
	}
	zero := &Policy{ID: 1, Limit: 0, Window: time.Minute}
	if err := zero.Validate(); err != nil || l.Allow(zero, "k").Allowed {
		t.Errorf("zero limit: Validate = %v, want valid and denying", err)
	}
}

func TestLongKeysAreDigested(t *testing.T) {
	l := newTestLimiter(t, newFakeClock(), nil)
	p := &Policy{ID: 1, Limit: 1, Window: time.Minute}
	long := strings.Repeat("x", MaxKeyLen+1)
	if !l.Allow(p, long).Allowed || l.Allow(p, long).Allowed {
		t.Fatal("long key not counted as one key")
	}
	if !l.Allow(p, long+"y").Allowed {
		t.Fatal("distinct long keys collide")
	}
	if got := len(digestKey(long)); got > MaxKeyLen {
		t.Fatalf("digest length %d", got)
	}
}

func TestOptionsValidation(t *testing.T) {
	tests := []struct {
		name string
		o    Options
	}{
		{"no node id", Options{}},
		{"long node id", Options{NodeID: strings.Repeat("n", MaxNodeID+1)}},
		{"sync too fast", Options{NodeID: "a", SyncInterval: 5 * time.Millisecond}},
		{"sync too slow", Options{NodeID: "a", SyncInterval: time.Second}},
		{"peer timeout below 2Δ", Options{NodeID: "a", PeerTimeout: 30 * time.Millisecond}},
		{"member timeout below peer timeout", Options{NodeID: "a", MemberTimeout: 50 * time.Millisecond}},
		{"negative keys", Options{NodeID: "a", MaxKeys: -1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(tc.o); !errors.Is(err, ErrInvalidOptions) {
				t.Fatalf("New = %v, want ErrInvalidOptions", err)
			}
		})
	}
	l, err := New(Options{NodeID: "a"})
	if err != nil {
		t.Fatal(err)
	}
	if l.Channel() != DefaultChannel || l.opts.PeerTimeout != 4*DefaultSyncInterval {
		t.Fatalf("defaults not applied: %+v", l.opts)
	}
}

// signalTransport reports each send on a channel.
type signalTransport struct{ sent chan struct{} }

func (t *signalTransport) SendGossip(byte, []byte) error {
	select {
	case t.sent <- struct{}{}:
	default:
	}
	return nil
}

// TestStartClose runs the real sync loop: it must send heartbeats, stop
// on Close and tolerate repeated calls.
func TestStartClose(t *testing.T) {
	tr := &signalTransport{sent: make(chan struct{}, 1)}
	l, err := New(Options{NodeID: "a", Transport: tr})
	if err != nil {
		t.Fatal(err)
	}
	l.Start(t.Context())
	l.Start(t.Context())
	select {
	case <-tr.sent:
	case <-time.After(5 * time.Second):
		t.Fatal("no heartbeat sent by the sync loop")
	}
	l.Close()
	l.Close()
	unstarted, err := New(Options{NodeID: "b"})
	if err != nil {
		t.Fatal(err)
	}
	unstarted.Close()
	unstarted.Start(t.Context()) // after Close: does nothing
}
