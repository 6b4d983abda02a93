//go:build linux

package dataplane

import (
	"net/http"
	"testing"
	"time"

	"github.com/tollgate/tollgate/store"
)

// TestEvPollWindow: how long a loop polls after sending a request follows
// the answers it has seen, and never exceeds the bound.
func TestEvPollWindow(t *testing.T) {
	now := time.Unix(1000, 0)
	us := time.Microsecond
	for _, tt := range []struct {
		name         string
		max, answer  time.Duration
		wantPollsFor time.Duration // 0: no poll
	}{
		{"no answer seen yet: the bound", 200 * us, 0, 200 * us},
		{"fast answers: half again their average", 200 * us, 60 * us, 90 * us},
		{"answers near the bound: the bound", 200 * us, 190 * us, 200 * us},
		{"answers slower than the bound: no poll", 200 * us, 250 * us, 0},
		{"polling off", -1, 0, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := evPoll{max: tt.max, answer: tt.answer}
			p.sent(now)
			got := time.Duration(0)
			if !p.until.IsZero() {
				got = p.until.Sub(now)
			}
			if got != tt.wantPollsFor {
				t.Errorf("polls for %v, want %v", got, tt.wantPollsFor)
			}
		})
	}
}

// TestEvPollAverage: the average follows answer times, an eighth of the
// way each time, from the first one seen.
func TestEvPollAverage(t *testing.T) {
	var p evPoll
	p.answered(80 * time.Microsecond)
	if p.answer != 80*time.Microsecond {
		t.Fatalf("first answer: average %v, want 80µs", p.answer)
	}
	p.answered(160 * time.Microsecond)
	if p.answer != 90*time.Microsecond {
		t.Fatalf("second answer: average %v, want 90µs", p.answer)
	}
	p.answered(-time.Microsecond) // a clock step back is ignored
	if p.answer != 90*time.Microsecond {
		t.Fatalf("negative time: average %v, want 90µs", p.answer)
	}
}

// TestEpollPollsOnlyForFastUpstreams: through a real listener, a loop
// polls while it waits for an upstream that answers within the bound.
// Once it has seen an upstream take 5 ms, far beyond the default bound,
// it sleeps instead: of ten requests, only the first (before any answer
// time was known) may poll. With polling off it never polls.
func TestEpollPollsOnlyForFastUpstreams(t *testing.T) {
	fast := newTextEcho(t)
	slow := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(5 * time.Millisecond) // the upstream's answer time under test
		w.Write([]byte("ok"))
	}))
	route := store.Route{Paths: []string{"/"}}
	for _, tt := range []struct {
		name               string
		upstream           string
		poll               time.Duration
		minPolls, maxPolls uint64
		minAnswered        uint64 // polls an event ended: the request was out before the poll
	}{
		{"fast upstream, wide bound: every wait", fast, maxUpstreamPoll, 8, 10, 4},
		{"slow upstream, default bound: the first wait at most", slow.URL, 0, 0, 1, 0},
		{"off", fast, -1, 0, 0, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			gw := startEpoll(t, oneRoute(1, tt.upstream, route), Options{EventLoops: 1, UpstreamPoll: tt.poll})
			for i := range 10 {
				if resp, body := gw.get(t, "/"); resp.StatusCode != 200 {
					t.Fatalf("#%d: %d %s", i, resp.StatusCode, body)
				}
			}
			st := gw.LoopStats()
			if st.Served != 10 || st.Polls < tt.minPolls || st.Polls > tt.maxPolls {
				t.Errorf("served %d, polled %d times: want 10, and %d to %d polls", st.Served, st.Polls, tt.minPolls, tt.maxPolls)
			}
			if st.PollsAnswered < tt.minAnswered {
				t.Errorf("%d of %d polls ended by an event, want %d at least", st.PollsAnswered, st.Polls, tt.minAnswered)
			}
		})
	}
}
