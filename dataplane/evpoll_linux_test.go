//go:build linux

package dataplane

import (
	"fmt"
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
			p := evPoll{max: tt.max}
			if tt.answer > 0 {
				p.answers = map[string]time.Duration{"10.0.0.1:80": tt.answer}
			}
			p.sent(now, "10.0.0.1:80")
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

// TestEvPollAverage: each target's average follows its answer times, an
// eighth of the way each time, from the first one seen; another target's
// answers do not move it.
func TestEvPollAverage(t *testing.T) {
	const a, b = "10.0.0.1:80", "10.0.0.2:80"
	p := evPoll{max: time.Millisecond}
	p.answered(a, 80*time.Microsecond)
	if p.answers[a] != 80*time.Microsecond {
		t.Fatalf("first answer: average %v, want 80µs", p.answers[a])
	}
	p.answered(b, 50*time.Millisecond)
	p.answered(a, 160*time.Microsecond)
	if p.answers[a] != 90*time.Microsecond {
		t.Fatalf("second answer: average %v, want 90µs", p.answers[a])
	}
	p.answered(a, -time.Microsecond) // a clock step back is ignored
	if p.answers[a] != 90*time.Microsecond {
		t.Fatalf("negative time: average %v, want 90µs", p.answers[a])
	}
	p.sent(time.Unix(1000, 0), b)
	if !p.until.IsZero() {
		t.Errorf("polls for the slow target %s", b)
	}
	p.sent(time.Unix(1000, 0), a)
	if got := p.until.Sub(time.Unix(1000, 0)); got != 135*time.Microsecond {
		t.Errorf("polls %v for the fast target, want 135µs", got)
	}
}

// TestEvPollForgetsPastBound: past maxPolledTargets addresses the loop
// forgets every answer time, so the map stays bounded.
func TestEvPollForgetsPastBound(t *testing.T) {
	p := evPoll{max: time.Millisecond}
	for i := range maxPolledTargets + 1 {
		p.answered(fmt.Sprintf("10.0.%d.%d:80", i/256, i%256), time.Microsecond)
	}
	if len(p.answers) != 1 {
		t.Errorf("%d answer times kept, want 1 (the map was cleared at %d)", len(p.answers), maxPolledTargets)
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

// TestEpollPollsPerTarget: a loop serving a fast and a slow upstream in
// turn polls for the fast one's answers and not the slow one's. With one
// average for the whole loop, the slow answers (50 ms, beyond the 10 ms
// bound) pulled it past the bound after two of them, and the loop
// stopped polling for the fast upstream too.
func TestEpollPollsPerTarget(t *testing.T) {
	fast := newTextEcho(t)
	slow := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(50 * time.Millisecond) // the upstream's answer time under test
		w.Write([]byte("ok"))
	}))
	cfg := &store.Config{
		Version:  1,
		Services: []store.Service{{Name: "fast", URL: fast}, {Name: "slow", URL: slow.URL}},
		Routes: []store.Route{
			{Name: "fast", Service: "fast", Paths: []string{"/fast"}},
			{Name: "slow", Service: "slow", Paths: []string{"/slow"}},
		},
	}
	gw := startEpoll(t, cfg, Options{EventLoops: 1, UpstreamPoll: maxUpstreamPoll})
	const rounds = 12
	for i := range rounds {
		for _, path := range []string{"/fast", "/slow"} {
			if resp, body := gw.get(t, path); resp.StatusCode != 200 {
				t.Fatalf("#%d %s: %d %s", i, path, resp.StatusCode, body)
			}
		}
	}
	// Every fast request polls, but for a few that a starved machine may
	// have slowed past the bound; of the slow ones, only the first may (no
	// answer time known yet). One average for the loop gave 5 polls.
	if st := gw.LoopStats(); st.Polls < rounds-3 || st.Polls > rounds+1 {
		t.Errorf("polled %d times over %d fast and %d slow requests, want %d to %d", st.Polls, rounds, rounds, rounds-3, rounds+1)
	}
}
