package metrics

import (
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tollgate/tollgate/dataplane"
)

// Histogram buckets, in seconds: whole requests and upstreams, and the
// much smaller time the gateway adds.
var (
	latencyBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}
	gatewayBuckets = []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1}
)

// maxCodes bounds the error codes (or cache verdicts) cached per route;
// codes past it are still counted, by a label lookup each time.
const maxCodes = 32

// DataPlane holds the data plane's request metrics and implements
// dataplane.Metrics. Label values are bounded: route and service names
// come from the config, methods are normalised to a fixed set, statuses
// to a class, and codes are the gateway's and its plugins' error codes.
type DataPlane struct {
	requests   *prometheus.CounterVec   // route, service, method, status_class
	duration   *prometheus.HistogramVec // route, service
	upstream   *prometheus.HistogramVec // route, service
	gateway    *prometheus.HistogramVec // route, service
	rejections *prometheus.CounterVec   // route, service, code
	errors     *prometheus.CounterVec   // route, service, code
	cache      *prometheus.CounterVec   // route, service, cache
	ejections  *prometheus.CounterVec   // service, target

	mu     sync.Mutex // guards routes; taken on config updates only
	routes map[[2]string]*routeMetrics
}

var _ dataplane.Metrics = (*DataPlane)(nil)

// NewDataPlane creates the data plane's metrics and registers them with reg.
func NewDataPlane(reg prometheus.Registerer) *DataPlane {
	rs := []string{"route", "service"}
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tollgate_" + name, Help: help}, labels)
	}
	histogram := func(name, help string, buckets []float64) *prometheus.HistogramVec {
		return prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "tollgate_" + name, Help: help, Buckets: buckets}, rs)
	}
	d := &DataPlane{
		requests: counter("http_requests_total", "Requests by route, service, normalised method and status class.",
			"route", "service", "method", "status_class"),
		duration: histogram("http_request_duration_seconds", "Time from a request's arrival to the end of its answer.", latencyBuckets),
		upstream: histogram("http_upstream_duration_seconds",
			"Time from the first attempt to the end of the upstream's response body, for proxied requests.", latencyBuckets),
		gateway: histogram("http_gateway_duration_seconds", "Time the gateway added: total minus upstream time.", gatewayBuckets),
		rejections: counter("http_rejections_total", "Requests a policy refused (authentication, rate limits), by error code.",
			"route", "service", "code"),
		errors: counter("http_gateway_errors_total", "Requests the gateway failed itself (no route, upstream down or slow...), by error code.",
			"route", "service", "code"),
		cache:     counter("http_cache_requests_total", "Requests by the cache's verdict.", "route", "service", "cache"),
		ejections: counter("upstream_ejections_total", "Targets ejected by the passive health check.", "service", "target"),
		routes:    map[[2]string]*routeMetrics{},
	}
	reg.MustRegister(d.requests, d.duration, d.upstream, d.gateway, d.rejections, d.errors, d.cache, d.ejections)
	return d
}

// Route returns the metrics of a route, resolving its histograms now so
// that the request path does not look labels up.
func (d *DataPlane) Route(route, service string) dataplane.RouteMetrics {
	d.mu.Lock()
	defer d.mu.Unlock()
	key := [2]string{route, service}
	if m := d.routes[key]; m != nil {
		return m
	}
	m := &routeMetrics{d: d, labels: key}
	m.duration = observer(d.duration, route, service)
	m.upstream = observer(d.upstream, route, service)
	m.gateway = observer(d.gateway, route, service)
	d.routes[key] = m
	return m
}

// Forget deletes the series of a route that the config no longer has.
func (d *DataPlane) Forget(route, service string) {
	d.mu.Lock()
	delete(d.routes, [2]string{route, service})
	d.mu.Unlock()
	labels := prometheus.Labels{"route": route, "service": service}
	for _, v := range []*prometheus.MetricVec{d.requests.MetricVec, d.rejections.MetricVec, d.errors.MetricVec,
		d.cache.MetricVec, d.duration.MetricVec, d.upstream.MetricVec, d.gateway.MetricVec} {
		v.DeletePartialMatch(labels)
	}
}

// observer returns a histogram's child, or a no-op for label values
// Prometheus refuses (not valid UTF-8).
func observer(v *prometheus.HistogramVec, labels ...string) prometheus.Observer {
	o, err := v.GetMetricWithLabelValues(labels...)
	if err != nil {
		return nopMetric{}
	}
	return o
}

// counter returns a counter's child, or a no-op for refused label values.
func counter(v *prometheus.CounterVec, labels ...string) prometheus.Counter {
	c, err := v.GetMetricWithLabelValues(labels...)
	if err != nil {
		return nopMetric{}
	}
	return c
}

// routeMetrics is one route's metrics. The histograms are resolved when
// the route is; the per method and status class counters and the per
// code counters on first use, then kept, so that a request costs a few
// atomic loads and adds.
type routeMetrics struct {
	d                           *DataPlane
	labels                      [2]string // route, service
	duration, upstream, gateway prometheus.Observer
	requests                    [len(methods)][len(classes)]atomic.Pointer[prometheus.Counter]
	rejections, errors, cache   codeCounters
}

// Request counts a finished request.
func (m *routeMetrics) Request(rec *dataplane.AccessRecord) {
	m.requestCounter(methodIndex(rec.Method), classIndex(rec.Status)).Inc()
	m.duration.Observe(rec.Duration.Seconds())
	m.gateway.Observe(rec.GatewayTime().Seconds())
	if rec.UpstreamTime > 0 {
		m.upstream.Observe(rec.UpstreamTime.Seconds())
	}
	switch {
	case rec.Reason == "":
	case rec.Rejected:
		m.rejections.inc(rec.Reason, m.d.rejections, m.labels)
	default:
		m.errors.inc(rec.Reason, m.d.errors, m.labels)
	}
	if rec.Cache != "" {
		m.cache.inc(rec.Cache, m.d.cache, m.labels)
	}
}

// Ejected counts an ejection of a target of service.
func (d *DataPlane) Ejected(service, target string) {
	counter(d.ejections, service, target).Inc()
}

func (m *routeMetrics) requestCounter(method, class int) prometheus.Counter {
	p := &m.requests[method][class]
	if c := p.Load(); c != nil {
		return *c
	}
	c := counter(m.d.requests, m.labels[0], m.labels[1], methods[method], classes[class])
	p.Store(&c) // a racing store keeps the same child
	return c
}

// codeCounters caches the counters of one route by code, copy on write.
type codeCounters struct {
	list atomic.Pointer[[]codeCounter]
}

type codeCounter struct {
	code string
	c    prometheus.Counter
}

// inc counts code, resolving and caching its counter on first use.
func (cc *codeCounters) inc(code string, v *prometheus.CounterVec, labels [2]string) {
	old := cc.list.Load()
	if old != nil {
		for _, e := range *old {
			if e.code == code {
				e.c.Inc()
				return
			}
		}
	}
	c := counter(v, labels[0], labels[1], code)
	c.Inc()
	for old == nil || len(*old) < maxCodes {
		var next []codeCounter
		if old != nil {
			next = append(next, *old...)
		}
		next = append(next, codeCounter{code, c})
		if cc.list.CompareAndSwap(old, &next) {
			return
		}
		old = cc.list.Load()
	}
}

// The label values of method and status_class.
var (
	methods = [...]string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE", "OTHER"}
	classes = [...]string{"1xx", "2xx", "3xx", "4xx", "5xx"}
)

// methodIndex normalises a method to an index of methods: the standard
// ones as they are (case-sensitive, as HTTP is), anything else OTHER.
func methodIndex(m string) int {
	switch m {
	case "GET":
		return 0
	case "HEAD":
		return 1
	case "POST":
		return 2
	case "PUT":
		return 3
	case "PATCH":
		return 4
	case "DELETE":
		return 5
	case "OPTIONS":
		return 6
	case "CONNECT":
		return 7
	case "TRACE":
		return 8
	}
	return len(methods) - 1
}

// classIndex maps a status to an index of classes; out-of-range statuses
// go to the nearest class.
func classIndex(status int) int {
	return min(max(status/100, 1), 5) - 1
}

// nopMetric stands in for a series Prometheus refused.
type nopMetric struct{ prometheus.Counter }

func (nopMetric) Inc()            {}
func (nopMetric) Add(float64)     {}
func (nopMetric) Observe(float64) {}
