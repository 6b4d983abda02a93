package tracing

import (
	"context"
	"net"
	"strconv"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/tollgate/tollgate/dataplane"
)

// Attribute keys: OpenTelemetry semantic conventions where one fits, and
// tollgate.* for the gateway's own notions.
const (
	keyMethod     = "http.request.method"
	keyStatus     = "http.response.status_code"
	keyPath       = "url.path"
	keyServer     = "server.address"
	keyServerPort = "server.port"
	keyClient     = "client.address"
	keyErrorType  = "error.type"
	keyRoute      = "tollgate.route"
	keyService    = "tollgate.service"
	keyConsumer   = "tollgate.consumer"
	keyRequestID  = "tollgate.request_id"
	keyCache      = "tollgate.cache"
	keyUpstream   = "tollgate.upstream.target"
	keyAttempts   = "tollgate.upstream.attempts"
)

// record turns rec into the gateway's server span, with the ids it used
// on the wire, and a child span per step.
func (p *provider) record(rec *dataplane.SpanRecord) {
	a := rec.Access
	ctx := withWireIDs(context.Background(), a.TraceID, a.SpanID)
	if rec.ParentID != ([8]byte{}) {
		ctx = trace.ContextWithRemoteSpanContext(ctx, parentContext(rec))
	}
	_, span := p.tracer.Start(ctx, rec.Name, trace.WithSpanKind(trace.SpanKindServer),
		trace.WithTimestamp(rec.Start), trace.WithAttributes(spanAttributes(a)...))
	parent := trace.ContextWithSpan(context.Background(), span)
	for i, step := range rec.Steps {
		p.recordStep(parent, a, step, a.Rejected && i == len(rec.Steps)-1)
	}
	if a.Status >= 500 {
		span.SetStatus(codes.Error, a.Reason)
	}
	span.End(trace.WithTimestamp(rec.End))
}

// parentContext is the client's span, as its traceparent and tracestate
// described it.
func parentContext(rec *dataplane.SpanRecord) trace.SpanContext {
	cfg := trace.SpanContextConfig{TraceID: rec.Access.TraceID, SpanID: rec.ParentID, Remote: true}
	if rec.Sampled {
		cfg.TraceFlags = trace.FlagsSampled
	}
	if ts, err := trace.ParseTraceState(rec.TraceState); err == nil {
		cfg.TraceState = ts
	}
	return trace.NewSpanContext(cfg)
}

// recordStep records one step as a child span: the upstream exchange as a
// client span, a policy as an internal one, marked an error when it
// rejected the request.
func (p *provider) recordStep(parent context.Context, a *dataplane.AccessRecord, step dataplane.SpanStep, rejected bool) {
	opts := []trace.SpanStartOption{trace.WithTimestamp(step.Start), trace.WithSpanKind(trace.SpanKindInternal)}
	if step.Name == dataplane.UpstreamStep {
		opts = append(opts, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(upstreamAttributes(a)...))
	}
	_, span := p.tracer.Start(parent, step.Name, opts...)
	if rejected {
		span.SetStatus(codes.Error, a.Reason)
		span.SetAttributes(attribute.String(keyErrorType, a.Reason))
	}
	span.End(trace.WithTimestamp(step.End))
}

// spanAttributes describe the request on the gateway's span.
func spanAttributes(a *dataplane.AccessRecord) []attribute.KeyValue {
	attrs := make([]attribute.KeyValue, 0, 14)
	attrs = append(attrs,
		attribute.String(keyMethod, a.Method), attribute.String(keyServer, a.Host),
		attribute.String(keyPath, a.Path), attribute.Int(keyStatus, a.Status),
		attribute.String(keyClient, a.ClientIP()), attribute.String(keyRequestID, a.RequestID))
	for _, kv := range [...]struct{ key, value string }{
		{keyRoute, a.Route}, {keyService, a.Service}, {keyConsumer, a.Consumer},
		{keyCache, a.Cache}, {keyUpstream, a.Upstream}, {keyErrorType, a.Reason},
	} {
		if kv.value != "" {
			attrs = append(attrs, attribute.String(kv.key, kv.value))
		}
	}
	if a.Attempts > 0 {
		attrs = append(attrs, attribute.Int(keyAttempts, a.Attempts))
	}
	return attrs
}

// upstreamAttributes describe the target of the upstream exchange.
func upstreamAttributes(a *dataplane.AccessRecord) []attribute.KeyValue {
	if a.Upstream == "" {
		return nil
	}
	attrs := []attribute.KeyValue{attribute.Int(keyAttempts, a.Attempts)}
	host, port, err := net.SplitHostPort(a.Upstream)
	if err != nil {
		return append(attrs, attribute.String(keyServer, a.Upstream))
	}
	attrs = append(attrs, attribute.String(keyServer, host))
	if n, err := strconv.Atoi(port); err == nil {
		attrs = append(attrs, attribute.Int(keyServerPort, n))
	}
	return attrs
}
