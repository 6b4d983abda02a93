//go:build linux

package dataplane

import (
	"fmt"
	"testing"

	"github.com/tollgate/tollgate/internal/waitfor"
	"github.com/tollgate/tollgate/store"
)

// TestEpollIdleLoopsParkAndWake: loops with nothing to do wait parked in
// the netpoller, and a parked loop serves new and kept-alive connections
// at once, and ends with Shutdown.
func TestEpollIdleLoopsParkAndWake(t *testing.T) {
	gw := startEpoll(t, oneRoute(1, newTextEcho(t), store.Route{Paths: []string{"/"}}), Options{EventLoops: 2})
	loops := reviewLoops(evServer(t, gw))
	parked := func() bool {
		for _, l := range loops {
			if l.counts.parked.Load() < 2 {
				return false
			}
		}
		return true
	}
	waitfor.Condition(t, waitTimeout, "every loop to park twice", parked)
	kept := confDial(t, gw.addr)
	kept.inSync(t)
	for round := range 3 {
		before := make([]uint64, len(loops))
		for i, l := range loops {
			before[i] = l.counts.parked.Load()
		}
		waitfor.Condition(t, waitTimeout, "every loop to park again", func() bool {
			for i, l := range loops {
				if l.counts.parked.Load() <= before[i] {
					return false
				}
			}
			return true
		})
		path := fmt.Sprintf("/after-park/%d", round)
		if resp, body := kept.do(t, "GET", confGet(path)); resp.StatusCode != 200 || body != "GET "+path+" " {
			t.Fatalf("kept-alive connection, round %d: %d %q", round, resp.StatusCode, body)
		}
		fresh := confDial(t, gw.addr)
		fresh.inSync(t)
	}
}
