package tracing

import (
	"context"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/tollgate/tollgate/dataplane"
	"github.com/tollgate/tollgate/internal/tracing/collectortest"
	"github.com/tollgate/tollgate/internal/waitfor"
	"github.com/tollgate/tollgate/store"
)

const waitTimeout = 10 * time.Second

func newExporter(t *testing.T) *Exporter {
	t.Helper()
	e := New(Options{NodeID: "n1", BatchTimeout: 10 * time.Millisecond, ShutdownTimeout: 2 * time.Second,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	t.Cleanup(func() { e.Close(context.Background()) })
	return e
}

// testRecord is a sampled request's span with three steps.
func testRecord(joined bool) *dataplane.SpanRecord {
	start := time.Unix(1700000000, 0)
	a := &dataplane.AccessRecord{Method: "GET", Host: "api.example.com", Path: "/orders/1", Status: 200,
		RemoteAddr: "10.1.2.3:5555", Route: "orders", Service: "orders-svc", Consumer: "alice",
		Upstream: "10.0.0.9:8080", Attempts: 1, RequestID: "req-1"}
	fill(a.TraceID[:], 0x4b)
	fill(a.SpanID[:], 0x5c)
	rec := &dataplane.SpanRecord{Access: a, Sampled: true, Name: "orders", Start: start, End: start.Add(9 * time.Millisecond),
		Steps: []dataplane.SpanStep{
			{Name: "auth:jwt", Start: start.Add(time.Millisecond), End: start.Add(2 * time.Millisecond)},
			{Name: "rate-limit", Start: start.Add(2 * time.Millisecond), End: start.Add(3 * time.Millisecond)},
			{Name: dataplane.UpstreamStep, Start: start.Add(3 * time.Millisecond), End: start.Add(8 * time.Millisecond)},
		}}
	if joined {
		fill(rec.ParentID[:], 0x6d)
		rec.TraceState = "vendor=v1"
	}
	return rec
}

func fill(b []byte, v byte) {
	for i := range b {
		b[i] = v + byte(i)
	}
}

// waitTrace waits until the collector has n spans of rec's trace.
func waitTrace(t *testing.T, c *collectortest.Collector, rec *dataplane.SpanRecord, n int) map[string]collectortest.Span {
	t.Helper()
	id := hex.EncodeToString(rec.Access.TraceID[:])
	waitfor.Condition(t, waitTimeout, "exported spans", func() bool { return len(c.Trace(id)) >= n })
	byName := map[string]collectortest.Span{}
	for _, s := range c.Trace(id) {
		byName[s.GetName()] = s
	}
	return byName
}

func TestExportKeepsWireIDs(t *testing.T) {
	c := collectortest.Start(t)
	e := newExporter(t)
	if err := e.Update(&store.Tracing{OTLPEndpoint: c.URL, ServiceName: "edge",
		Headers: map[string]string{"Authorization": "Bearer t0k"}}); err != nil {
		t.Fatal(err)
	}
	rec := testRecord(true)
	e.Record(rec)
	spans := waitTrace(t, c, rec, 4)
	gw := spans["orders"]
	if gw.Span == nil {
		t.Fatalf("no gateway span in %v", spans)
	}
	if gw.SpanID() != hex.EncodeToString(rec.Access.SpanID[:]) || gw.ParentID() != hex.EncodeToString(rec.ParentID[:]) {
		t.Errorf("gateway span %s parent %s", gw.SpanID(), gw.ParentID())
	}
	if gw.GetKind() != tracepb.Span_SPAN_KIND_SERVER || gw.GetTraceState() != "vendor=v1" ||
		gw.GetStartTimeUnixNano() != uint64(rec.Start.UnixNano()) || gw.GetEndTimeUnixNano() != uint64(rec.End.UnixNano()) {
		t.Errorf("gateway span %v", gw.Span)
	}
	for key, want := range map[string]string{"http.response.status_code": "200", "tollgate.route": "orders",
		"http.request.method": "GET", "client.address": "10.1.2.3", "tollgate.consumer": "alice",
		"tollgate.upstream.target": "10.0.0.9:8080", "tollgate.upstream.attempts": "1"} {
		if got := gw.Attr(key); got != want {
			t.Errorf("attribute %s = %q, want %q", key, got, want)
		}
	}
	if gw.Resource["service.name"] != "edge" || gw.Resource["service.instance.id"] != "n1" {
		t.Errorf("resource %v", gw.Resource)
	}
	checkChildren(t, gw, spans, rec)
	if h := c.Headers(); len(h) == 0 || h[0].Get("Authorization") != "Bearer t0k" {
		t.Errorf("export headers %v", h)
	}
}

// checkChildren checks one child span per step, under the gateway span.
func checkChildren(t *testing.T, gw collectortest.Span, spans map[string]collectortest.Span, rec *dataplane.SpanRecord) {
	t.Helper()
	ids := map[string]bool{gw.SpanID(): true}
	for _, step := range rec.Steps {
		s := spans[step.Name]
		if s.Span == nil {
			t.Fatalf("no child span %q", step.Name)
		}
		if s.ParentID() != gw.SpanID() || ids[s.SpanID()] || s.GetStartTimeUnixNano() != uint64(step.Start.UnixNano()) ||
			s.GetEndTimeUnixNano() != uint64(step.End.UnixNano()) {
			t.Errorf("child %s: id %s parent %s, times %d..%d", step.Name, s.SpanID(), s.ParentID(),
				s.GetStartTimeUnixNano(), s.GetEndTimeUnixNano())
		}
		ids[s.SpanID()] = true
	}
	if up := spans[dataplane.UpstreamStep]; up.GetKind() != tracepb.Span_SPAN_KIND_CLIENT || up.Attr("server.address") != "10.0.0.9" {
		t.Errorf("upstream span %v", up.Span)
	}
}

func TestExportTraceTheGatewayStarted(t *testing.T) {
	c := collectortest.Start(t)
	e := newExporter(t)
	if err := e.Update(&store.Tracing{OTLPEndpoint: c.URL + "/v1/traces"}); err != nil {
		t.Fatal(err)
	}
	rec := testRecord(false)
	rec.Access.Status, rec.Access.Reason, rec.Access.Rejected = 429, "rate_limited", true
	rec.Steps = rec.Steps[:2]
	e.Record(rec)
	spans := waitTrace(t, c, rec, 3)
	gw := spans["orders"]
	if gw.ParentID() != "" || gw.SpanID() != hex.EncodeToString(rec.Access.SpanID[:]) || gw.Resource["service.name"] != "tollgate" {
		t.Errorf("gateway span %v, resource %v", gw.Span, gw.Resource)
	}
	if rl := spans["rate-limit"]; rl.GetStatus().GetCode() != tracepb.Status_STATUS_CODE_ERROR || rl.Attr("error.type") != "rate_limited" {
		t.Errorf("rejecting policy's span %v", rl.Span)
	}
	if auth := spans["auth:jwt"]; auth.GetStatus().GetCode() == tracepb.Status_STATUS_CODE_ERROR {
		t.Errorf("passing policy's span is an error: %v", auth.Span)
	}
}

func TestUpdateReplacesAndTurnsOff(t *testing.T) {
	c1, c2 := collectortest.Start(t), collectortest.Start(t)
	e := newExporter(t)
	e.Record(testRecord(true)) // off: dropped
	if err := e.Update(&store.Tracing{OTLPEndpoint: c1.URL}); err != nil {
		t.Fatal(err)
	}
	p := e.cur.Load()
	if err := e.Update(&store.Tracing{OTLPEndpoint: c1.URL}); err != nil || e.cur.Load() != p {
		t.Fatalf("an unchanged section replaced the provider (err %v)", err)
	}
	first := testRecord(true)
	e.Record(first)
	if err := e.Update(&store.Tracing{OTLPEndpoint: c2.URL}); err != nil {
		t.Fatal(err)
	}
	second := testRecord(false)
	fill(second.Access.TraceID[:], 0x10)
	e.Record(second)
	waitTrace(t, c1, first, 4) // flushed by the replaced provider
	waitTrace(t, c2, second, 4)
	if err := e.Update(nil); err != nil || e.cur.Load() != nil {
		t.Fatalf("Update(nil): err %v, provider %v", err, e.cur.Load())
	}
	if err := e.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := e.Update(&store.Tracing{OTLPEndpoint: c1.URL}); err != nil || e.cur.Load() != nil {
		t.Fatalf("Update after Close turned export on (err %v)", err)
	}
	if n := len(c1.Spans()) + len(c2.Spans()); n != 8 {
		t.Errorf("collectors got %d spans, want 8", n)
	}
}

func TestRecordNeverBlocks(t *testing.T) {
	release := make(chan struct{})
	stuck := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(stuck.Close)
	t.Cleanup(func() { close(release) })
	e := New(Options{QueueSize: 8, BatchTimeout: time.Millisecond, ShutdownTimeout: 100 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := e.Update(&store.Tracing{OTLPEndpoint: stuck.URL}); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 2000 {
			e.Record(testRecord(true))
		}
	}()
	waitfor.Condition(t, waitTimeout, "2000 spans recorded against a stuck collector", func() bool {
		select {
		case <-done:
			return true
		default:
			return false
		}
	})
	if err := e.Close(context.Background()); err == nil {
		t.Log("Close flushed against a stuck collector") // allowed, but not expected
	}
}
