package dataplane

import (
	"encoding/hex"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tollgate/tollgate/store"
)

// captureLog is an AccessLogger that hands copies of records to a channel.
type captureLog chan AccessRecord

func (c captureLog) LogAccess(rec *AccessRecord) { c <- *rec }

// next returns the next record, failing after waitTimeout.
func (c captureLog) next(t *testing.T) AccessRecord {
	t.Helper()
	return recv(t, c, "an access record")
}

// fakeMetrics records what the gateway reports, by route.
type fakeMetrics struct {
	mu        sync.Mutex
	requests  map[string][]AccessRecord // by route
	ejected   []string                  // service/target
	forgotten []string
}

type fakeRouteMetrics struct {
	m              *fakeMetrics
	route, service string
}

func newFakeMetrics() *fakeMetrics { return &fakeMetrics{requests: map[string][]AccessRecord{}} }

func (m *fakeMetrics) Route(route, service string) RouteMetrics {
	return &fakeRouteMetrics{m, route, service}
}

func (m *fakeMetrics) Forget(route, service string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.forgotten = append(m.forgotten, route+"/"+service)
}

func (r *fakeRouteMetrics) Request(rec *AccessRecord) {
	r.m.mu.Lock()
	defer r.m.mu.Unlock()
	if rec.Route != r.route || rec.Service != r.service {
		panic("record counted on another route's metrics")
	}
	r.m.requests[r.route] = append(r.m.requests[r.route], *rec)
}

func (m *fakeMetrics) Ejected(service, target string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.ejected = append(m.ejected, service+"/"+target)
}

func (m *fakeMetrics) count(route string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.requests[route])
}

// policyOf is a Policy made of a function.
type policyOf func(rc *RequestContext, next Handler)

func (p policyOf) Wrap(next Handler) Handler { return func(rc *RequestContext) { p(rc, next) } }

// observedConfig: a route proxied to up, one refused by "auth", one by a
// "rate limit" after naming a consumer, and one to a port nobody listens on.
func observedConfig(t *testing.T, up string) (*store.Config, Options) {
	cfg := &store.Config{
		Version: 1,
		Services: []store.Service{{Name: "svc", URL: up}, {Name: "gone", URL: "http://" + freePort(t),
			HealthChecks: &store.HealthChecks{Passive: &store.PassiveHealthCheck{ConsecutiveFailures: 1}}}},
		Routes: []store.Route{
			{Name: "ok", Service: "svc", Paths: []string{"/ok"}},
			{Name: "auth", Service: "svc", Paths: []string{"/auth"}},
			{Name: "limited", Service: "svc", Paths: []string{"/limited"}},
			{Name: "down", Service: "gone", Paths: []string{"/down"}},
		},
	}
	policies := func(_ *store.Config, r *store.Route) ([]Policy, error) {
		switch r.Name {
		case "auth":
			return []Policy{policyOf(func(rc *RequestContext, _ Handler) {
				rc.Reject(http.StatusUnauthorized, "unauthorized", "no credentials")
			})}, nil
		case "limited":
			return []Policy{policyOf(func(rc *RequestContext, _ Handler) {
				rc.Consumer = "alice"
				rc.Reject(http.StatusTooManyRequests, "rate_limited", "slow down")
			})}, nil
		}
		return nil, nil
	}
	return cfg, Options{Policies: policies}
}

func TestAccessRecordFields(t *testing.T) {
	echo := newEcho(t)
	cfg, opts := observedConfig(t, echo.URL)
	logs, metrics := make(captureLog, 16), newFakeMetrics()
	opts.AccessLog, opts.Metrics = logs, metrics
	gw := startGateway(t, cfg, opts)
	echoAddr := strings.TrimPrefix(echo.URL, "http://")

	tests := []struct {
		path, route, service, upstream, reason, consumer string
		status                                           int
		rejected, proxied                                bool
	}{
		{"/ok/1?q=x", "ok", "svc", echoAddr, "", "", 200, false, true},
		{"/auth", "auth", "svc", "", "unauthorized", "", 401, true, false},
		{"/limited", "limited", "svc", "", "rate_limited", "alice", 429, true, false},
		{"/down", "down", "gone", strings.TrimPrefix(cfg.Services[1].URL, "http://"), "upstream_unavailable", "", 502, false, true},
		{"/nowhere", "", "", "", "no_route", "", 404, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			before := time.Now()
			resp, body := gw.get(t, tt.path, "X-Request-Id", "req-"+tt.route)
			rec := logs.next(t)
			if resp.StatusCode != tt.status || rec.Status != tt.status {
				t.Fatalf("status %d, logged %d, want %d", resp.StatusCode, rec.Status, tt.status)
			}
			path, _, _ := strings.Cut(tt.path, "?")
			if rec.RequestID != "req-"+tt.route || rec.Method != "GET" || rec.Host != gw.addr || rec.Path != path ||
				rec.Route != tt.route || rec.Service != tt.service || rec.Upstream != tt.upstream ||
				rec.Consumer != tt.consumer || rec.Reason != tt.reason || rec.Rejected != tt.rejected ||
				rec.ClientIP() != "127.0.0.1" || rec.Cache != "" {
				t.Errorf("record %+v", rec)
			}
			if rec.Bytes != int64(len(body)) || rec.Time.Before(before.Add(-time.Second)) || rec.Duration <= 0 {
				t.Errorf("bytes %d (body %d), time %v, duration %v", rec.Bytes, len(body), rec.Time, rec.Duration)
			}
			if proxied := rec.UpstreamTime > 0; proxied != tt.proxied || rec.UpstreamTime > rec.Duration {
				t.Errorf("upstream time %v of %v, want proxied %v", rec.UpstreamTime, rec.Duration, tt.proxied)
			}
			if (rec.Err != nil) != (tt.status >= 500 || tt.status == 404) {
				t.Errorf("err %v", rec.Err)
			}
			if got := resp.Header.Get(headerError); got != tt.reason {
				t.Errorf("%s %q, logged reason %q", headerError, got, rec.Reason)
			}
		})
	}
	for route, want := range map[string]int{"ok": 1, "auth": 1, "limited": 1, "down": 1, "": 1} {
		if got := metrics.count(route); got != want {
			t.Errorf("metrics counted %d requests on route %q, want %d", got, route, want)
		}
	}
	metrics.mu.Lock()
	defer metrics.mu.Unlock()
	if want := "gone/" + strings.TrimPrefix(cfg.Services[1].URL, "http://"); !slices.Equal(metrics.ejected, []string{want}) {
		t.Errorf("ejections %v, want [%s]", metrics.ejected, want)
	}
}

func TestUpstreamTimeExcludesGatewayWork(t *testing.T) {
	slow := newEcho(t)
	inner := slow.Config.Handler
	slow.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(40 * time.Millisecond)
		inner.ServeHTTP(w, r)
	})
	logs := make(captureLog, 4)
	wait := policyOf(func(rc *RequestContext, next Handler) { time.Sleep(20 * time.Millisecond); next(rc) })
	gw := startGateway(t, oneRoute(1, slow.URL, store.Route{}), Options{AccessLog: logs,
		Policies: func(*store.Config, *store.Route) ([]Policy, error) { return []Policy{wait}, nil }})
	gw.get(t, "/")
	rec := logs.next(t)
	if rec.UpstreamTime < 40*time.Millisecond || rec.GatewayTime() < 20*time.Millisecond {
		t.Errorf("upstream %v, gateway %v of %v", rec.UpstreamTime, rec.GatewayTime(), rec.Duration)
	}
}

func TestTraceparentReachesUpstream(t *testing.T) {
	echo := newEcho(t)
	logs := make(captureLog, 4)
	gw := startGateway(t, oneRoute(1, echo.URL, store.Route{}), Options{AccessLog: logs, TraceSample: 1})

	_, body := gw.get(t, "/", "Traceparent", testTP, "Tracestate", "congo=t61rcWkgMzE")
	got := decodeSeen(t, body).Header
	rec := logs.next(t)
	span := hex.EncodeToString(rec.SpanID[:])
	if want := "00-" + testTraceID + "-" + span + "-01"; got.Get("Traceparent") != want {
		t.Errorf("upstream got traceparent %q, want %q", got.Get("Traceparent"), want)
	}
	if span == testParent || hex.EncodeToString(rec.TraceID[:]) != testTraceID {
		t.Errorf("logged trace %x span %s", rec.TraceID, span)
	}
	if got.Get("Tracestate") != "congo=t61rcWkgMzE" {
		t.Errorf("tracestate %q not passed on", got.Get("Tracestate"))
	}

	_, body = gw.get(t, "/", "Traceparent", strings.ToUpper(testTP), "Tracestate", "congo=t61rcWkgMzE")
	got = decodeSeen(t, body).Header
	rec = logs.next(t)
	var tc traceContext
	if !tc.parse(got.Get("Traceparent")) || tc.traceID != rec.TraceID || tc.parentID != rec.SpanID || tc.flags != flagSampled {
		t.Errorf("a started trace: upstream got %q, logged trace %x span %x", got.Get("Traceparent"), rec.TraceID, rec.SpanID)
	}
	if hex.EncodeToString(tc.traceID[:]) == testTraceID || got.Get("Tracestate") != "" {
		t.Errorf("an invalid traceparent was not replaced by a new trace: %v", got)
	}
}

func TestForgetRemovedRoutes(t *testing.T) {
	echo := newEcho(t)
	metrics := newFakeMetrics()
	gw := startGateway(t, oneRoute(1, echo.URL, store.Route{Name: "a"}), Options{Metrics: metrics})
	if err := gw.Update(oneRoute(2, echo.URL, store.Route{Name: "a"})); err != nil {
		t.Fatal(err)
	}
	if err := gw.Update(oneRoute(3, echo.URL, store.Route{Name: "b"})); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(metrics.forgotten, []string{"a/svc"}) {
		t.Errorf("forgotten %v, want [a/svc]", metrics.forgotten)
	}
}

func TestTargetHealth(t *testing.T) {
	cfg, opts := observedConfig(t, newEcho(t).URL)
	gw := startGateway(t, cfg, opts)
	gw.get(t, "/down") // one failure ejects the only target of "gone"
	var got []string
	for _, h := range gw.TargetHealth() {
		got = append(got, h.Service+" healthy="+boolString(h.Healthy)+" ejected="+boolString(h.Ejected))
	}
	want := []string{"svc healthy=true ejected=false", "gone healthy=false ejected=true"}
	if !slices.Equal(got, want) {
		t.Errorf("TargetHealth %v, want %v", got, want)
	}
}

func boolString(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

func TestAccessRecordAttrs(t *testing.T) {
	rec := AccessRecord{RequestID: "r", RemoteAddr: "[::1]:5000", Status: 502, Duration: 1500 * time.Microsecond,
		UpstreamTime: time.Millisecond, Attempts: 2, Err: errors.New("boom")}
	attrs := map[string]string{}
	for _, a := range rec.AppendAttrs(nil) {
		attrs[a.Key] = a.Value.String()
	}
	for k, v := range map[string]string{"client_ip": "::1", "duration_us": "1500", "upstream_us": "1000", "attempts": "2",
		"error": "boom", "trace_id": strings.Repeat("0", 32), "status": "502", "upstream": ""} {
		if got, ok := attrs[k]; !ok || got != v {
			t.Errorf("%s = %q (present %v), want %q", k, got, ok, v)
		}
	}
	for _, k := range []string{"consumer", "cache", "reason"} {
		if _, ok := attrs[k]; ok {
			t.Errorf("empty %s logged", k)
		}
	}
}
