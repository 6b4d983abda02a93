package dataplane

import (
	"net/http"
	"strings"
	"time"

	"github.com/tollgate/tollgate/store"
)

// Span recording. While the config being served has a tracing section and
// Options.Spans is set, the gateway hands every sampled request's own
// span to Options.Spans when the request ends: its trace ids as sent on
// the wire, its times and attributes, and the timed steps inside it
// (each named policy, then the upstream exchange). The sample ratio of
// the section replaces Options.TraceSample for traces the gateway starts.
//
// Unsampled requests, and every request while tracing is off, cost
// nothing beyond one flag test: the steps are timed by shims compiled
// into a route's chain only when tracing is on, into a fixed array in the
// RequestContext.

// SpanRecorder receives the gateway's span of each sampled request;
// internal/tracing exports them with OpenTelemetry.
type SpanRecorder interface {
	// Record is called on the request path, concurrently, once the
	// response is done. It must not block, and must not keep rec (or its
	// Access and Steps) after it returns.
	Record(rec *SpanRecord)
}

// Named is implemented by policies that want a step of their own in
// recorded spans, such as "auth:jwt" or "rate-limit". Unnamed policies
// are not timed.
type Named interface {
	Name() string
}

// SpanRecord is the gateway's span of one request.
type SpanRecord struct {
	// Access is the finished request as the access log sees it: the
	// trace id and the gateway's span id (the parent id the upstream
	// saw), method, host, path, status, route, service, consumer,
	// upstream target, attempts, client address, error reason.
	Access *AccessRecord
	// ParentID is the client's span; zero when the gateway started the
	// trace.
	ParentID [8]byte
	// Sampled is the trace's sampled flag (always true: only sampled
	// requests are recorded).
	Sampled bool
	// TraceState is the client's tracestate, for a trace that came in.
	TraceState string
	// Name is the route's name, or "no route".
	Name       string
	Start, End time.Time
	// Steps are the timed parts of the request, in the order they
	// started: named policies, then "upstream".
	Steps []SpanStep
}

// SpanStep is a timed part of a request. A policy's step runs from its
// start until it passes the request on, or returns when it answers
// itself; the upstream step covers the proxy, retries and the streamed
// response.
type SpanStep struct {
	Name       string
	Start, End time.Time
}

// noRouteSpan names the span of a request that matched no route.
const noRouteSpan = "no route"

// UpstreamStep names the upstream exchange's step in SpanRecord.Steps.
const UpstreamStep = "upstream"

// maxSpanSteps bounds the timed policies of a route; further ones are
// not timed. One more slot holds the upstream.
const maxSpanSteps = 8

// spanState is a request's span recording: off unless the request is
// sampled and tracing is on.
type spanState struct {
	on    bool
	steps [maxSpanSteps + 1]stepTiming // by slot: policies, then the upstream
}

// stepTiming is one step, as offsets from the request's start.
type stepTiming struct {
	name       string
	start, end time.Duration
	started    bool
	ended      bool
}

// traceSettings are a snapshot's trace sampling and whether it records.
type traceSettings struct {
	sampler sampler
	record  bool
}

// tracingOf derives the trace settings of a config.
func (g *Gateway) tracingOf(cfg *store.Config) traceSettings {
	if cfg.Tracing == nil {
		return traceSettings{sampler: g.sampler}
	}
	return traceSettings{sampler: newSampler(cfg.Tracing.Ratio()), record: g.opts.Spans != nil}
}

// traceRequest joins or starts the request's trace under the current
// config's sampling, and turns span recording on for a sampled request
// while the config records spans.
func (g *Gateway) traceRequest(rc *RequestContext, h http.Header) {
	ts := traceSettings{sampler: g.sampler}
	if snap := g.snap.Load(); snap != nil {
		ts = snap.trace
	}
	rc.trace = startTrace(h, ts.sampler)
	rc.spans.on = ts.record && rc.trace.flags&flagSampled != 0
}

// timedChain returns the chain and last handler of a route, with every
// named policy and last timed when ts records spans.
func timedChain(ts traceSettings, chain []Policy, last Handler) ([]Policy, Handler) {
	if !ts.record {
		return chain, last
	}
	out := make([]Policy, len(chain))
	slot := 0
	for i, p := range chain {
		out[i] = p
		if n, ok := p.(Named); ok && slot < maxSpanSteps {
			out[i] = timedPolicy{Policy: p, name: n.Name(), slot: slot}
			slot++
		}
	}
	return out, timedHandler(last, UpstreamStep, maxSpanSteps)
}

// timedPolicy times a named policy into its slot: from its start until
// it calls next, or returns without.
type timedPolicy struct {
	Policy
	name string
	slot int
}

func (t timedPolicy) Wrap(next Handler) Handler {
	slot := t.slot
	inner := t.Policy.Wrap(func(rc *RequestContext) {
		rc.spans.end(rc, slot)
		next(rc)
	})
	return timedHandler(inner, t.name, slot)
}

// timedHandler times h into slot, for recorded requests.
func timedHandler(h Handler, name string, slot int) Handler {
	return func(rc *RequestContext) {
		if !rc.spans.on {
			h(rc)
			return
		}
		rc.spans.start(rc, slot, name)
		h(rc)
		rc.spans.end(rc, slot)
	}
}

// runInline runs a chain of InlinePolicy (see inlineChain) on rc and
// reports whether the request goes on, timing each named policy into its
// slot as timedChain's shims do, for recorded requests.
func runInline(rc *RequestContext, chain []Policy) bool {
	slot := 0
	for _, p := range chain {
		n, named := p.(Named)
		timed := named && slot < maxSpanSteps
		if timed {
			rc.spans.start(rc, slot, n.Name())
		}
		goOn := p.(InlinePolicy).Before(rc)
		if timed {
			rc.spans.end(rc, slot)
			slot++
		}
		if !goOn {
			return false
		}
	}
	return true
}

// start begins the step in slot, for a recorded request.
func (s *spanState) start(rc *RequestContext, slot int, name string) {
	if s.on {
		s.steps[slot] = stepTiming{name: name, start: time.Since(rc.start), started: true}
	}
}

// end ends the step in slot, unless it has ended.
func (s *spanState) end(rc *RequestContext, slot int) {
	if st := &s.steps[slot]; s.on && st.started && !st.ended {
		st.end, st.ended = time.Since(rc.start), true
	}
}

// recordSpan hands the finished request's span to Options.Spans; rc.record
// is filled.
func (g *Gateway) recordSpan(rc *RequestContext) {
	rec := &rc.record
	sr := SpanRecord{Access: rec, ParentID: rc.trace.parentID, Sampled: true, Name: rec.Route,
		Start: rc.start, End: rc.start.Add(rec.Duration)}
	if sr.Name == "" {
		sr.Name = noRouteSpan
	}
	if rc.trace.joined {
		sr.TraceState = strings.Join(rc.Request.Header.Values(headerTracestate), ",")
	}
	var steps [maxSpanSteps + 1]SpanStep
	sr.Steps = rc.spans.appendSteps(steps[:0], rc.start, sr.End)
	g.opts.Spans.Record(&sr)
}

// appendSteps appends the started steps, in slot order; a step still open
// (the request was cut off) ends at end.
func (s *spanState) appendSteps(out []SpanStep, start, end time.Time) []SpanStep {
	for i := range s.steps {
		st := &s.steps[i]
		if !st.started {
			continue
		}
		step := SpanStep{Name: st.name, Start: start.Add(st.start), End: end}
		if st.ended {
			step.End = start.Add(st.end)
		}
		out = append(out, step)
	}
	return out
}

// Names of the data plane's own policies in recorded spans.
func (*transformPolicy) Name() string { return "transform" }
func (*aggregatePolicy) Name() string { return "aggregate" }
