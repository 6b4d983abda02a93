package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tollgate/tollgate/dataplane"
)

// LoopSource is what the event-loop collector reads; *dataplane.Gateway
// implements it.
type LoopSource interface {
	LoopStats() dataplane.LoopStats
}

// loopCollector reports the event loops' counts, read at scrape time.
type loopCollector struct {
	src                                   LoopSource
	served, handedOff, streamed, returned *prometheus.Desc
	polls, pollsAnswered                  *prometheus.Desc
}

// NewLoopCollector returns a collector of the event loops' counts: how
// many requests took the fast path, how many connections and responses
// left it for goroutines, and how many connections came back.
func NewLoopCollector(src LoopSource) prometheus.Collector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("tollgate_event_loop_"+name, help, nil, nil)
	}
	return &loopCollector{
		src:           src,
		served:        d("requests_total", "Requests answered on an event loop."),
		handedOff:     d("handoffs_total", "Client connections an event loop handed to the goroutine server (a request it does not serve: TLS upstream, chunked or large body, upgrade, a non-inline plugin)."),
		streamed:      d("streamed_total", "Responses too large or slow for an event loop to buffer, streamed by a goroutine."),
		returned:      d("returns_total", "Client connections the goroutine server gave back to an event loop, once idle after the request or response it was handed over for."),
		polls:         d("upstream_polls_total", "Waits for an upstream's answer that an event loop spent polling instead of sleeping (--upstream-poll)."),
		pollsAnswered: d("upstream_polls_answered_total", "Upstream polls that an event came to end before their time was up."),
	}
}

func (c *loopCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.served
	ch <- c.handedOff
	ch <- c.streamed
	ch <- c.returned
	ch <- c.polls
	ch <- c.pollsAnswered
}

func (c *loopCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.src.LoopStats()
	ch <- prometheus.MustNewConstMetric(c.served, prometheus.CounterValue, float64(s.Served))
	ch <- prometheus.MustNewConstMetric(c.handedOff, prometheus.CounterValue, float64(s.HandedOff))
	ch <- prometheus.MustNewConstMetric(c.streamed, prometheus.CounterValue, float64(s.Streamed))
	ch <- prometheus.MustNewConstMetric(c.returned, prometheus.CounterValue, float64(s.TakenBack))
	ch <- prometheus.MustNewConstMetric(c.polls, prometheus.CounterValue, float64(s.Polls))
	ch <- prometheus.MustNewConstMetric(c.pollsAnswered, prometheus.CounterValue, float64(s.PollsAnswered))
}
