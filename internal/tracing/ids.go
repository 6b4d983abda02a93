package tracing

import (
	"context"
	"encoding/binary"
	"math/rand/v2"

	"go.opentelemetry.io/otel/trace"
)

// wireIDs is the SDK's IDGenerator. The gateway's span takes the trace id
// and span id the data plane already sent to the upstream, carried in the
// context by withWireIDs; every other span (the children) gets a random
// span id.
type wireIDs struct{}

// wireIDsKey is the context key of the ids of the span being started.
type wireIDsKey struct{}

type spanIDs struct {
	trace trace.TraceID
	span  trace.SpanID
}

// withWireIDs makes the next span started with ctx take these ids.
func withWireIDs(ctx context.Context, traceID trace.TraceID, spanID trace.SpanID) context.Context {
	return context.WithValue(ctx, wireIDsKey{}, spanIDs{traceID, spanID})
}

// NewIDs is called for a span without a parent: a trace the gateway
// started.
func (wireIDs) NewIDs(ctx context.Context) (trace.TraceID, trace.SpanID) {
	if ids, ok := ctx.Value(wireIDsKey{}).(spanIDs); ok {
		return ids.trace, ids.span
	}
	var tid trace.TraceID
	for !tid.IsValid() {
		binary.BigEndian.PutUint64(tid[:8], rand.Uint64())
		binary.BigEndian.PutUint64(tid[8:], rand.Uint64())
	}
	return tid, randomSpanID()
}

// NewSpanID is called for a span with a parent in traceID.
func (wireIDs) NewSpanID(ctx context.Context, traceID trace.TraceID) trace.SpanID {
	if ids, ok := ctx.Value(wireIDsKey{}).(spanIDs); ok && ids.trace == traceID {
		return ids.span
	}
	return randomSpanID()
}

func randomSpanID() trace.SpanID {
	var sid trace.SpanID
	for !sid.IsValid() {
		binary.BigEndian.PutUint64(sid[:], rand.Uint64())
	}
	return sid
}
