package metrics

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tollgate/tollgate/dataplane"
)

type fixedLoops dataplane.LoopStats

func (f fixedLoops) LoopStats() dataplane.LoopStats { return dataplane.LoopStats(f) }

func TestLoopCollector(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(NewLoopCollector(fixedLoops{Served: 7, HandedOff: 2, Streamed: 1, TakenBack: 1, Polls: 5, PollsAnswered: 4}))
	want := `
# HELP tollgate_event_loop_handoffs_total Client connections an event loop handed to the goroutine server (a request it does not serve: TLS upstream, chunked or large body, upgrade, a non-inline plugin).
# TYPE tollgate_event_loop_handoffs_total counter
tollgate_event_loop_handoffs_total 2
# HELP tollgate_event_loop_requests_total Requests answered on an event loop.
# TYPE tollgate_event_loop_requests_total counter
tollgate_event_loop_requests_total 7
# HELP tollgate_event_loop_returns_total Client connections the goroutine server gave back to an event loop, once idle after the request or response it was handed over for.
# TYPE tollgate_event_loop_returns_total counter
tollgate_event_loop_returns_total 1
# HELP tollgate_event_loop_streamed_total Responses too large or slow for an event loop to buffer, streamed by a goroutine.
# TYPE tollgate_event_loop_streamed_total counter
tollgate_event_loop_streamed_total 1
# HELP tollgate_event_loop_upstream_polls_answered_total Upstream polls that an event came to end before their time was up.
# TYPE tollgate_event_loop_upstream_polls_answered_total counter
tollgate_event_loop_upstream_polls_answered_total 4
# HELP tollgate_event_loop_upstream_polls_total Waits for an upstream's answer that an event loop spent polling instead of sleeping (--upstream-poll).
# TYPE tollgate_event_loop_upstream_polls_total counter
tollgate_event_loop_upstream_polls_total 5
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
}
