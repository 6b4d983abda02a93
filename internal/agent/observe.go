package agent

import (
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/tollgate/tollgate/dataplane"
	"github.com/tollgate/tollgate/internal/accesslog"
	"github.com/tollgate/tollgate/internal/metrics"
)

// observability is what the node measures and logs: one Prometheus
// registry for everything /metrics serves, and the access log.
type observability struct {
	registry  *prometheus.Registry
	dataplane *metrics.DataPlane
	accessLog *accesslog.Log // nil when off
}

// newObservability builds the registry (Go runtime and process metrics,
// the cluster's and limiter's state read at scrape time, the data plane's
// request metrics) and opens the access log, before the data plane that
// feeds them. The upstream health collector is added once the gateway
// exists.
func (a *Agent) newObservability() error {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		metrics.NewClusterCollector(a.node), metrics.NewLimiterCollector(a.limiter))
	a.obs.registry = reg
	a.obs.dataplane = metrics.NewDataPlane(reg)
	opts := accesslog.Options{Sample: a.cfg.AccessLogSample}
	var err error
	if a.cfg.AccessLog == "" {
		a.obs.accessLog = accesslog.New(a.log.With("component", "dataplane").Handler(), opts)
	} else if a.obs.accessLog, err = accesslog.Open(a.cfg.AccessLog, opts, slog.String("node", a.cfg.NodeID)); err != nil {
		return err
	}
	if l := a.obs.accessLog; l != nil {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "tollgate_access_log_dropped_total",
			Help: "Access log records dropped because the write queue was full.",
		}, func() float64 { return float64(l.Dropped()) }))
	}
	return nil
}

// observed adds the metrics, access log and trace sampling to the data
// plane's options.
func (a *Agent) observed(o dataplane.Options) dataplane.Options {
	o.Metrics = a.obs.dataplane
	o.TraceSample = a.cfg.TraceSample
	o.AccessLog = discardAccess{}
	if a.obs.accessLog != nil {
		o.AccessLog = a.obs.accessLog
	}
	return o
}

// close writes out and closes the access log.
func (o *observability) close() error {
	if o.accessLog == nil {
		return nil
	}
	return o.accessLog.Close()
}

// discardAccess is the access log when it is off.
type discardAccess struct{}

func (discardAccess) LogAccess(*dataplane.AccessRecord) {}
