//go:build linux

package dataplane

import (
	"context"
	"runtime"
	"sync"
	"testing"

	"github.com/tollgate/tollgate/store"
)

// TestEvPollLetsGoroutinesRun: a loop polling for an upstream's answer
// holds its P, and sched_yield gives up the CPU, not the P. With one P,
// the upstream here (a goroutine of the same process) can answer during
// a poll only if the poll lets goroutines run; before it did, 0-2 of
// 11-15 polls were answered, and each of them lasted the whole bound.
func TestEvPollLetsGoroutinesRun(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	fast := newTextEcho(t)
	gw := startEpoll(t, oneRoute(1, fast, store.Route{Paths: []string{"/"}}), Options{EventLoops: 1, UpstreamPoll: maxUpstreamPoll})
	for i := range 20 {
		if resp, body := gw.get(t, "/"); resp.StatusCode != 200 {
			t.Fatalf("#%d: %d %s", i, resp.StatusCode, body)
		}
	}
	st := gw.LoopStats()
	if st.Polls < 5 || st.PollsAnswered*3 < st.Polls {
		t.Errorf("%d of %d polls answered: want 5 polls at least, a third of them answered", st.PollsAnswered, st.Polls)
	}
}

// TestLoopStatsDuringShutdown reads LoopStats while loops serve and
// Shutdown stops them (go test -race).
func TestLoopStatsDuringShutdown(t *testing.T) {
	gw := startEpoll(t, oneRoute(1, newTextEcho(t), store.Route{Paths: []string{"/"}}), Options{})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
				_ = gw.LoopStats()
			}
		}
	})
	for range 5 {
		gw.get(t, "/")
	}
	_ = gw.Shutdown(context.Background())
	close(stop)
	wg.Wait()
	if st := gw.LoopStats(); st.Served < 5 {
		t.Errorf("served %d after Shutdown, want 5", st.Served)
	}
}
