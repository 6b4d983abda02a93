package dataplane

import (
	"context"
	"encoding/hex"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/tollgate/tollgate/store"
)

// spanSink is a SpanRecorder that copies every record to a channel.
type spanSink struct{ got chan SpanRecord }

func newSpanSink() *spanSink { return &spanSink{got: make(chan SpanRecord, 64)} }

func (s *spanSink) Record(rec *SpanRecord) {
	c := *rec
	access := *rec.Access
	c.Access, c.Steps = &access, slices.Clone(rec.Steps)
	s.got <- c
}

// none checks that nothing was recorded.
func (s *spanSink) none(t *testing.T) {
	t.Helper()
	select {
	case rec := <-s.got:
		t.Fatalf("recorded a span: %+v", rec)
	default:
	}
}

// namedPolicy is a named test policy that calls next, or answers 401
// itself when reject is set.
type namedPolicy struct {
	name   string
	reject bool
}

func (p namedPolicy) Name() string { return p.name }

func (p namedPolicy) Wrap(next Handler) Handler {
	return func(rc *RequestContext) {
		if p.reject || rc.Request.Header.Get("X-Reject") != "" {
			rc.Reject(http.StatusUnauthorized, "unauthorized", "no")
			return
		}
		next(rc)
	}
}

// spanGateway serves a gateway with one route, "route", to an upstream
// that reports the traceparent it saw, behind a named and an unnamed
// policy. ratio sets the tracing section's sample ratio; nil leaves the
// section out.
func spanGateway(t *testing.T, sink *spanSink, ratio *float64) (*testGateway, <-chan string) {
	t.Helper()
	seen := make(chan string, 64)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- r.Header.Get(headerTraceparent)
	}))
	t.Cleanup(up.Close)
	cfg := oneRoute(1, up.URL, store.Route{Paths: []string{"/api"}})
	if ratio != nil {
		cfg.Tracing = &store.Tracing{OTLPEndpoint: "http://collector:4318", SampleRatio: ratio}
	}
	policies := func(*store.Config, *store.Route) ([]Policy, error) {
		return []Policy{namedPolicy{name: "auth:test"}, policyFunc(func(next Handler) Handler { return next })}, nil
	}
	return startGateway(t, cfg, Options{Spans: sink, Policies: policies, TraceSample: 1}), seen
}

func TestSpanRecordOfJoinedTrace(t *testing.T) {
	sink := newSpanSink()
	gw, seen := spanGateway(t, sink, new(float64)) // ratio 0 does not apply to incoming traces
	resp, _ := gw.get(t, "/api/x", "Traceparent", testTP, "Tracestate", "vendor=1")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	upTP := recv(t, seen, "the upstream's traceparent")
	rec := recv(t, sink.got, "a span record")
	a := rec.Access
	if hex.EncodeToString(a.TraceID[:]) != testTraceID || hex.EncodeToString(rec.ParentID[:]) != testParent {
		t.Errorf("trace %x parent %x", a.TraceID, rec.ParentID)
	}
	if want := "00-" + testTraceID + "-" + hex.EncodeToString(a.SpanID[:]) + "-01"; upTP != want {
		t.Errorf("upstream saw %q, want the span id %x as parent: %q", upTP, a.SpanID, want)
	}
	if rec.Name != "route" || !rec.Sampled || rec.TraceState != "vendor=1" || a.Status != 200 ||
		a.Route != "route" || a.Service != "svc" || a.Method != "GET" || a.Path != "/api/x" || a.Attempts != 1 {
		t.Errorf("record %+v, access %+v", rec, a)
	}
	checkSteps(t, rec, "auth:test", UpstreamStep)
}

// checkSteps checks the names of rec's steps and that they nest in order
// within the span.
func checkSteps(t *testing.T, rec SpanRecord, names ...string) {
	t.Helper()
	var got []string
	last := rec.Start
	for _, s := range rec.Steps {
		got = append(got, s.Name)
		if s.Start.Before(last) || s.End.Before(s.Start) || rec.End.Before(s.End) {
			t.Errorf("step %s: %v to %v, after %v, within %v to %v", s.Name, s.Start, s.End, last, rec.Start, rec.End)
		}
		last = s.End
	}
	if !slices.Equal(got, names) {
		t.Errorf("steps %v, want %v", got, names)
	}
}

func TestSpanRecordOfRejectedAndUnrouted(t *testing.T) {
	sink := newSpanSink()
	gw, _ := spanGateway(t, sink, nil)
	gw.Update(&store.Config{Version: 2, Services: []store.Service{{Name: "svc", URL: "http://127.0.0.1:1"}},
		Routes:  []store.Route{{Name: "route", Service: "svc", Paths: []string{"/api"}}},
		Tracing: &store.Tracing{OTLPEndpoint: "http://c:4318"}})
	if resp, _ := gw.get(t, "/api", "X-Reject", "1"); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("status %d", resp.StatusCode)
	}
	rec := recv(t, sink.got, "the rejected request's span")
	if rec.Access.Status != 401 || rec.Access.Reason != "unauthorized" || rec.ParentID != [8]byte{} {
		t.Errorf("record %+v, access %+v", rec, rec.Access)
	}
	checkSteps(t, rec, "auth:test")
	gw.get(t, "/elsewhere")
	rec = recv(t, sink.got, "the unrouted request's span")
	if rec.Name != noRouteSpan || rec.Access.Status != 404 || len(rec.Steps) != 0 {
		t.Errorf("record %+v", rec)
	}
}

func TestSpansNotRecorded(t *testing.T) {
	t.Run("unsampled trace", func(t *testing.T) {
		sink, one := newSpanSink(), 1.0
		gw, seen := spanGateway(t, sink, &one)
		gw.get(t, "/api", "Traceparent", "00-"+testTraceID+"-"+testParent+"-00")
		if tp := recv(t, seen, "the upstream's traceparent"); tp[len(tp)-2:] != "00" {
			t.Errorf("upstream saw %q, want unsampled", tp)
		}
		sink.none(t)
	})
	t.Run("no tracing section", func(t *testing.T) {
		sink := newSpanSink()
		gw, seen := spanGateway(t, sink, nil)
		gw.get(t, "/api", "Traceparent", testTP)
		recv(t, seen, "the upstream's traceparent")
		sink.none(t)
	})
	t.Run("sample ratio 0 for new traces", func(t *testing.T) {
		sink := newSpanSink()
		gw, seen := spanGateway(t, sink, new(float64))
		gw.get(t, "/api")
		if tp := recv(t, seen, "the upstream's traceparent"); tp[len(tp)-2:] != "00" {
			t.Errorf("upstream saw %q, want unsampled", tp)
		}
		sink.none(t)
	})
}

// TestSpansOffCostNoAllocation checks that a chain timed for tracing
// allocates nothing more for an unsampled request than an untimed one.
func TestSpansOffCostNoAllocation(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not exact under the race detector")
	}
	allocs := func(tracing *store.Tracing) float64 {
		g := New(Options{Logger: slog.New(slog.DiscardHandler), AccessLog: nopAccessLog{}, Spans: newSpanSink(),
			Policies: func(*store.Config, *store.Route) ([]Policy, error) {
				return []Policy{namedPolicy{name: "auth:test", reject: true}}, nil
			}})
		cfg := oneRoute(1, "http://127.0.0.1:1", store.Route{})
		cfg.Tracing = tracing
		if err := g.Update(cfg); err != nil {
			t.Fatal(err)
		}
		r := httptest.NewRequest("GET", "/x", nil)
		r.Header.Set("Traceparent", "00-"+testTraceID+"-"+testParent+"-00")
		w := httptest.NewRecorder()
		return testing.AllocsPerRun(200, func() {
			clear(w.Header())
			g.ServeHTTP(w, r)
		})
	}
	off, on := allocs(nil), allocs(&store.Tracing{OTLPEndpoint: "http://c:4318"})
	if on != off {
		t.Errorf("an unsampled request allocates %v times with tracing on, %v with it off", on, off)
	}
}

// nopAccessLog drops access records.
type nopAccessLog struct{}

func (nopAccessLog) LogAccess(*AccessRecord) {}

// BenchmarkProxyPathSpans is BenchmarkProxyPath with tracing on and every
// request sampled and recorded (to a recorder that drops it), behind one
// timed policy: the cost of recording, without the exporter's.
func BenchmarkProxyPathSpans(b *testing.B) {
	cfg := &store.Config{
		Version:  1,
		Services: []store.Service{{Name: "up", URL: benchUpstream(b)}},
		Routes:   []store.Route{{Name: "item", Service: "up", Paths: []string{"/item"}}},
		Tracing:  &store.Tracing{OTLPEndpoint: "http://collector:4318"},
	}
	g := New(Options{Logger: slog.New(slog.DiscardHandler), Spans: dropSpans{},
		Policies: func(*store.Config, *store.Route) ([]Policy, error) {
			return []Policy{namedPolicy{name: "auth:test"}}, nil
		}})
	if err := g.Update(cfg); err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go g.Serve(ln)
	b.Cleanup(func() { g.Shutdown(context.Background()) })
	benchGET(b, "http://"+ln.Addr().String()+"/item")
}

// dropSpans is a SpanRecorder that drops every span.
type dropSpans struct{}

func (dropSpans) Record(*SpanRecord) {}

// BenchmarkSpanOverhead serves, in process, a route whose one named
// policy answers itself: with tracing off, on but the request unsampled,
// and on with the span recorded (to a recorder that drops it).
func BenchmarkSpanOverhead(b *testing.B) {
	unsampled := "00-" + testTraceID + "-" + testParent + "-00"
	for _, bc := range []struct {
		name        string
		tracing     *store.Tracing
		traceparent string
	}{
		{"off", nil, testTP},
		{"unsampled", &store.Tracing{OTLPEndpoint: "http://c:4318"}, unsampled},
		{"recorded", &store.Tracing{OTLPEndpoint: "http://c:4318"}, testTP},
	} {
		b.Run(bc.name, func(b *testing.B) {
			g := New(Options{Logger: slog.New(slog.DiscardHandler), AccessLog: nopAccessLog{}, Spans: dropSpans{},
				Policies: func(*store.Config, *store.Route) ([]Policy, error) {
					return []Policy{namedPolicy{name: "auth:test", reject: true}}, nil
				}})
			cfg := oneRoute(1, "http://127.0.0.1:1", store.Route{})
			cfg.Tracing = bc.tracing
			if err := g.Update(cfg); err != nil {
				b.Fatal(err)
			}
			r := httptest.NewRequest("GET", "/x", nil)
			r.Header.Set("Traceparent", bc.traceparent)
			w := httptest.NewRecorder()
			b.ReportAllocs()
			for b.Loop() {
				clear(w.Header())
				w.Body.Reset()
				g.ServeHTTP(w, r)
			}
		})
	}
}
