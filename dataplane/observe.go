package dataplane

import (
	"net/http"
	"time"
)

// Metrics receives the data plane's measurements; internal/metrics
// implements it with Prometheus. The gateway asks for a RouteMetrics per
// route when it compiles a config version, so that the request path only
// calls the one it already holds.
type Metrics interface {
	// Route returns the metrics of one route and its service. It is
	// called on Update, never on the request path; route and service are
	// "" for requests that matched no route.
	Route(route, service string) RouteMetrics
	// Forget is called after an Update for every route (with its service)
	// that the new version no longer has, so its series can go.
	Forget(route, service string)
	// Ejected counts a target of service taken out of rotation by the
	// passive health check, whatever traffic (a request, a mirror copy,
	// an aggregate call) caused it. It may be called concurrently.
	Ejected(service, target string)
}

// RouteMetrics counts one route's requests. Its methods are called on the
// request path, concurrently: they must not block or keep rec.
type RouteMetrics interface {
	// Request counts a finished request.
	Request(rec *AccessRecord)
}

// routeMetrics resolves the RouteMetrics of every route of a compiled
// config, indexed like router.routes (config order). Nil without
// Options.Metrics.
func (g *Gateway) routeMetrics(r *router) []RouteMetrics {
	if g.opts.Metrics == nil {
		return nil
	}
	out := make([]RouteMetrics, len(r.routes))
	for i, ri := range r.routes {
		out[i] = g.opts.Metrics.Route(ri.name, ri.service.name)
	}
	return out
}

// forgetRoutes tells Metrics which routes of prev are gone in next.
func (g *Gateway) forgetRoutes(prev *snapshot, next *router) {
	if g.opts.Metrics == nil || prev == nil {
		return
	}
	kept := make(map[[2]string]bool, len(next.routes))
	for _, ri := range next.routes {
		kept[[2]string{ri.name, ri.service.name}] = true
	}
	for _, ri := range prev.router.routes {
		if key := [2]string{ri.name, ri.service.name}; !kept[key] {
			g.opts.Metrics.Forget(key[0], key[1])
			kept[key] = true // once per pair
		}
	}
}

// finish fills rc.record, counts it and logs it.
func (g *Gateway) finish(rc *RequestContext) {
	rec := &rc.record
	rc.fillRecord(rec)
	m := rc.metrics
	if m == nil {
		m = g.unrouted
	}
	if m != nil {
		m.Request(rec)
	}
	g.logAccess(rc.Request.Context(), rec)
	if rc.spans.on {
		g.recordSpan(rc)
	}
}

// fillRecord writes what rc knows about the finished request into rec.
func (rc *RequestContext) fillRecord(rec *AccessRecord) {
	r := rc.Request
	*rec = AccessRecord{
		Time: rc.start, RequestID: rc.RequestID, TraceID: rc.trace.traceID, SpanID: rc.trace.spanID,
		Method: r.Method, Host: r.Host, Path: r.URL.Path, RemoteAddr: r.RemoteAddr,
		Status: rc.finalStatus(), Bytes: rc.rw.bytes, Duration: time.Since(rc.start),
		Upstream: rc.upstream, Attempts: rc.attempts, Route: rc.Route(), Service: rc.Service(),
		Consumer: rc.Consumer, Cache: rc.CacheStatus, Reason: rc.reason, Rejected: rc.rejected, Err: rc.err,
	}
	if rc.attempts > 0 {
		rec.UpstreamTime = min(rc.upstreamTime, rec.Duration)
	}
}

// finalStatus is the status the client got: what was written, what was
// recorded when nothing could be (499), or 200 for an empty answer.
func (rc *RequestContext) finalStatus() int {
	switch {
	case rc.status != 0:
		return rc.status
	case rc.rw.status == 0:
		return http.StatusOK // what net/http sends for an empty answer
	}
	return rc.rw.status
}

// timeUpstream records the time since start as the request's upstream
// time; the proxy defers it around the exchange.
func (rc *RequestContext) timeUpstream(start time.Time) {
	rc.upstreamTime = time.Since(start)
}

// countEjection reports an ejection to Options.Metrics; every upstream
// calls it (see upstream.onEject).
func (g *Gateway) countEjection(service, target string) {
	if g.opts.Metrics != nil {
		g.opts.Metrics.Ejected(service, target)
	}
}

// TargetHealth is the state of one upstream target.
type TargetHealth struct {
	Service  string
	Target   string // host:port
	Weight   int
	Healthy  bool // not marked down by the active check, not ejected
	Ejected  bool // ejected by the passive check, for now
	InFlight int64
}

// LoopStats counts what the event loops (the epoll engine) did since the
// gateway started, for metrics: how much of the traffic took the fast
// path. Off Linux, or with the goroutine engine, it stays zero.
type LoopStats struct {
	Served    uint64 // requests answered on a loop
	HandedOff uint64 // connections handed to the goroutine server (see routeOf)
	Streamed  uint64 // responses too large or slow to buffer, streamed by a goroutine
	TakenBack uint64 // kept connections the goroutine server gave back to a loop
	// Polls counts the waits for an upstream answer that a loop spent
	// polling instead of sleeping (see evpoll_linux.go); PollsAnswered,
	// those that an event ended before their time was up.
	Polls         uint64
	PollsAnswered uint64
}

// TargetHealth reports every target of every service of the config being
// served, for metrics; it takes no lock that the request path takes.
func (g *Gateway) TargetHealth() []TargetHealth {
	snap := g.snap.Load()
	if snap == nil {
		return nil
	}
	now := time.Now().UnixNano()
	var out []TargetHealth
	for _, up := range snap.router.services {
		for _, t := range up.targets {
			until := t.ejectedUntil.Load()
			ejected := until != 0 && now < until
			out = append(out, TargetHealth{Service: up.name, Target: t.addr, Weight: t.weight,
				Healthy: !ejected && !t.activeDown.Load(), Ejected: ejected, InFlight: t.inflight.Load()})
		}
	}
	return out
}
