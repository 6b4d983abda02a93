//go:build linux

package dataplane

import (
	"math"
	"net/http"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/store"
)

// TestHugeHeaderLimitStillServes: a limit so large that doubling it (the
// read buffer's bound, serverHeaderLimit) would overflow must act as a
// large limit, not as a small or negative one: ordinary heads are served,
// on the event loops without handing the connection over.
func TestHugeHeaderLimitStillServes(t *testing.T) {
	echo := newEcho(t)
	for _, limit := range []int{math.MaxInt, math.MaxInt/2 + 1} {
		gw := startGateway(t, oneRoute(1, echo.URL, store.Route{}), Options{MaxHeaderBytes: limit})
		for _, size := range []int{100, 9000, 60000} {
			resp, body := gw.get(t, "/", "X-Fill", strings.Repeat("f", size))
			if resp.StatusCode != http.StatusOK {
				t.Errorf("MaxHeaderBytes %d, a %d-byte field: %d %s", limit, size, resp.StatusCode, body)
			}
		}
		if gw.opts.Engine == EngineEpoll {
			if served, handedOff, _ := gw.loopCounts(); handedOff != 0 || served == 0 {
				t.Errorf("MaxHeaderBytes %d: the loops served %d and handed off %d plain GETs", limit, served, handedOff)
			}
		}
	}
}
