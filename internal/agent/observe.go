package agent

import (
	"context"
	"errors"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/tollgate/tollgate/dataplane"
	"github.com/tollgate/tollgate/internal/accesslog"
	"github.com/tollgate/tollgate/internal/metrics"
	"github.com/tollgate/tollgate/internal/tracing"
	"github.com/tollgate/tollgate/store"
)

// observability is what the node measures and logs: one Prometheus
// registry for everything /metrics serves, the access log, and the span
// exporter that the config's tracing section turns on.
type observability struct {
	registry  *prometheus.Registry
	dataplane *metrics.DataPlane
	accessLog *accesslog.Log // nil when off
	spans     *tracing.Exporter
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
	a.obs.spans = tracing.New(tracing.Options{NodeID: a.cfg.NodeID, Logger: a.log.With("component", "tracing")})
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

// observed adds the metrics, access log, trace sampling and span export
// to the data plane's options.
func (a *Agent) observed(o dataplane.Options) dataplane.Options {
	o.Metrics = a.obs.dataplane
	o.TraceSample = a.cfg.TraceSample
	o.Spans = a.obs.spans
	o.AccessLog = discardAccess{}
	if a.obs.accessLog != nil {
		o.AccessLog = a.obs.accessLog
	}
	return o
}

// applyTracing gives the span exporter the tracing section of a config
// the data plane now serves.
func (a *Agent) applyTracing(cfg *store.Config) {
	if err := a.obs.spans.Update(cfg.Tracing); err != nil {
		a.log.Error("tracing section not applied; keeping the previous one", "version", cfg.Version, "err", err)
	}
}

// close flushes the queued spans (within ctx) and writes out and closes
// the access log.
func (o *observability) close(ctx context.Context) error {
	var errs []error
	if o.spans != nil {
		errs = append(errs, o.spans.Close(ctx))
	}
	if o.accessLog != nil {
		errs = append(errs, o.accessLog.Close())
	}
	return errors.Join(errs...)
}

// discardAccess is the access log when it is off.
type discardAccess struct{}

func (discardAccess) LogAccess(*dataplane.AccessRecord) {}
