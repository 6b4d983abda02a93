package metrics

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tollgate/tollgate/dataplane"
)

func ms(f float64) time.Duration { return time.Duration(f * float64(time.Millisecond)) }

// histogramText is the exposition of one route's histogram holding vs.
func histogramText(name string, buckets []float64, vs ...time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# HELP %s x\n# TYPE %s histogram\n", name, name)
	sum := 0.0
	for _, v := range vs {
		sum += v.Seconds()
	}
	for _, le := range buckets {
		n := 0
		for _, v := range vs {
			if v.Seconds() <= le {
				n++
			}
		}
		fmt.Fprintf(&b, "%s_bucket{route=\"a\",service=\"svc\",le=\"%v\"} %d\n", name, le, n)
	}
	fmt.Fprintf(&b, "%s_bucket{route=\"a\",service=\"svc\",le=\"+Inf\"} %d\n", name, len(vs))
	fmt.Fprintf(&b, "%s_sum{route=\"a\",service=\"svc\"} %v\n%s_count{route=\"a\",service=\"svc\"} %d\n", name, sum, name, len(vs))
	return b.String()
}

// withHelp puts the registered help text in place of "x".
func withHelp(text string, reg *prometheus.Registry, name string) string {
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() == name {
			return strings.Replace(text, "# HELP "+name+" x", "# HELP "+name+" "+mf.GetHelp(), 1)
		}
	}
	return text
}

func TestRequestCountsAndBuckets(t *testing.T) {
	reg := prometheus.NewRegistry()
	dp := NewDataPlane(reg)
	a := dp.Route("a", "svc")
	if dp.Route("a", "svc") != a {
		t.Fatal("a route's metrics are not reused across versions")
	}
	recs := []dataplane.AccessRecord{
		{Method: "GET", Status: 200, Duration: ms(3), UpstreamTime: ms(2)},
		{Method: "POST", Status: 201, Duration: ms(30), UpstreamTime: ms(20)},
		{Method: "get", Status: 401, Duration: ms(0.2), Reason: "unauthorized", Rejected: true},
		{Method: "GET", Status: 429, Duration: ms(0.2), Reason: "rate_limited", Rejected: true},
		{Method: "GET", Status: 502, Duration: ms(1.5), UpstreamTime: ms(1), Reason: "upstream_unavailable"},
		{Method: "GET", Status: 200, Duration: ms(0.5), Cache: "hit"},
	}
	for i := range recs {
		a.Request(&recs[i])
	}
	dp.Ejected("svc", "10.0.0.1:80")

	counters := `
# HELP tollgate_http_requests_total Requests by route, service, normalised method and status class.
# TYPE tollgate_http_requests_total counter
tollgate_http_requests_total{method="GET",route="a",service="svc",status_class="2xx"} 2
tollgate_http_requests_total{method="GET",route="a",service="svc",status_class="4xx"} 1
tollgate_http_requests_total{method="GET",route="a",service="svc",status_class="5xx"} 1
tollgate_http_requests_total{method="OTHER",route="a",service="svc",status_class="4xx"} 1
tollgate_http_requests_total{method="POST",route="a",service="svc",status_class="2xx"} 1
# HELP tollgate_http_rejections_total Requests a policy refused (authentication, rate limits), by error code.
# TYPE tollgate_http_rejections_total counter
tollgate_http_rejections_total{code="rate_limited",route="a",service="svc"} 1
tollgate_http_rejections_total{code="unauthorized",route="a",service="svc"} 1
# HELP tollgate_http_gateway_errors_total Requests the gateway failed itself (no route, upstream down or slow...), by error code.
# TYPE tollgate_http_gateway_errors_total counter
tollgate_http_gateway_errors_total{code="upstream_unavailable",route="a",service="svc"} 1
# HELP tollgate_http_cache_requests_total Requests by the cache's verdict.
# TYPE tollgate_http_cache_requests_total counter
tollgate_http_cache_requests_total{cache="hit",route="a",service="svc"} 1
# HELP tollgate_upstream_ejections_total Targets ejected by the passive health check.
# TYPE tollgate_upstream_ejections_total counter
tollgate_upstream_ejections_total{service="svc",target="10.0.0.1:80"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(counters), "tollgate_http_requests_total",
		"tollgate_http_rejections_total", "tollgate_http_gateway_errors_total", "tollgate_http_cache_requests_total",
		"tollgate_upstream_ejections_total"); err != nil {
		t.Error(err)
	}
	var total, upstream, gateway []time.Duration
	for _, r := range recs {
		total, gateway = append(total, r.Duration), append(gateway, r.GatewayTime())
		if r.UpstreamTime > 0 {
			upstream = append(upstream, r.UpstreamTime)
		}
	}
	for _, h := range []struct {
		name    string
		buckets []float64
		vs      []time.Duration
	}{
		{"tollgate_http_request_duration_seconds", latencyBuckets, total},
		{"tollgate_http_upstream_duration_seconds", latencyBuckets, upstream},
		{"tollgate_http_gateway_duration_seconds", gatewayBuckets, gateway},
	} {
		want := withHelp(histogramText(h.name, h.buckets, h.vs...), reg, h.name)
		if err := testutil.GatherAndCompare(reg, strings.NewReader(want), h.name); err != nil {
			t.Error(err)
		}
	}

	dp.Forget("a", "svc")
	for _, name := range []string{"tollgate_http_requests_total", "tollgate_http_request_duration_seconds",
		"tollgate_http_rejections_total", "tollgate_http_cache_requests_total"} {
		if n, err := testutil.GatherAndCount(reg, name); err != nil || n != 0 {
			t.Errorf("%s: %d series left after Forget (%v)", name, n, err)
		}
	}
}

func TestNormalisedLabels(t *testing.T) {
	for m, want := range map[string]string{"GET": "GET", "DELETE": "DELETE", "get": "OTHER", "PROPFIND": "OTHER", "": "OTHER"} {
		if got := methods[methodIndex(m)]; got != want {
			t.Errorf("method %q -> %q, want %q", m, got, want)
		}
	}
	for s, want := range map[int]string{100: "1xx", 204: "2xx", 304: "3xx", 499: "4xx", 503: "5xx", 0: "1xx", 799: "5xx"} {
		if got := classes[classIndex(s)]; got != want {
			t.Errorf("status %d -> %q, want %q", s, got, want)
		}
	}
}

func TestInvalidLabelValueDoesNotPanic(t *testing.T) {
	dp := NewDataPlane(prometheus.NewRegistry())
	m := dp.Route("bad\xff", "svc")
	m.Request(&dataplane.AccessRecord{Method: "GET", Status: 500, Reason: "x", UpstreamTime: 1})
	dp.Ejected("svc", "\xff")
}

type fixedHealth []dataplane.TargetHealth

func (f fixedHealth) TargetHealth() []dataplane.TargetHealth { return f }

func TestUpstreamCollector(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewUpstreamCollector(fixedHealth{
		{Service: "a", Target: "h1:80", Healthy: true, InFlight: 3},
		{Service: "a", Target: "h2:80", Ejected: true},
		{Service: "a", Target: "h2:80", Ejected: true}, // listed twice
	}))
	want := `
# HELP tollgate_upstream_target_healthy 1 when the target passes its health checks (not marked down, not ejected).
# TYPE tollgate_upstream_target_healthy gauge
tollgate_upstream_target_healthy{service="a",target="h1:80"} 1
tollgate_upstream_target_healthy{service="a",target="h2:80"} 0
# HELP tollgate_upstream_target_ejected 1 while the passive health check keeps the target ejected.
# TYPE tollgate_upstream_target_ejected gauge
tollgate_upstream_target_ejected{service="a",target="h1:80"} 0
tollgate_upstream_target_ejected{service="a",target="h2:80"} 1
# HELP tollgate_upstream_target_in_flight Requests sent to the target and not finished.
# TYPE tollgate_upstream_target_in_flight gauge
tollgate_upstream_target_in_flight{service="a",target="h1:80"} 3
tollgate_upstream_target_in_flight{service="a",target="h2:80"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
}

// BenchmarkRouteRequest is what a request costs the metrics once the
// route's series are resolved.
func BenchmarkRouteRequest(b *testing.B) {
	m := NewDataPlane(prometheus.NewRegistry()).Route("a", "svc")
	rec := &dataplane.AccessRecord{Method: "GET", Status: 200, Duration: ms(3), UpstreamTime: ms(2)}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.Request(rec)
		}
	})
}
