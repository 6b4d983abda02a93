package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tollgate/tollgate/dataplane"
)

// UpstreamSource is what the upstream collector reads; *dataplane.Gateway
// implements it.
type UpstreamSource interface {
	TargetHealth() []dataplane.TargetHealth
}

// upstreamCollector reports the health of every upstream target of the
// config being served, read at scrape time.
type upstreamCollector struct {
	src                       UpstreamSource
	healthy, ejected, pending *prometheus.Desc
}

// NewUpstreamCollector returns a collector of upstream target health.
func NewUpstreamCollector(src UpstreamSource) prometheus.Collector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("tollgate_upstream_target_"+name, help, []string{"service", "target"}, nil)
	}
	return &upstreamCollector{
		src:     src,
		healthy: d("healthy", "1 when the target passes its health checks (not marked down, not ejected)."),
		ejected: d("ejected", "1 while the passive health check keeps the target ejected."),
		pending: d("in_flight", "Requests sent to the target and not finished."),
	}
}

func (c *upstreamCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.healthy
	ch <- c.ejected
	ch <- c.pending
}

func (c *upstreamCollector) Collect(ch chan<- prometheus.Metric) {
	seen := map[[2]string]bool{}
	for _, t := range c.src.TargetHealth() {
		key := [2]string{t.Service, t.Target}
		if seen[key] {
			continue // a target listed twice is one series
		}
		seen[key] = true
		gauge := func(d *prometheus.Desc, v float64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, t.Service, t.Target)
		}
		gauge(c.healthy, boolFloat(t.Healthy))
		gauge(c.ejected, boolFloat(t.Ejected))
		gauge(c.pending, float64(t.InFlight))
	}
}
