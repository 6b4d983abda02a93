package agent

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/waitfor"
	"github.com/tollgate/tollgate/store"
)

// observedDoc: a key-auth, rate-limited route to a slow upstream, a
// route to a port nobody listens on (ejected after one failure), and a
// cached route.
func observedDoc(upstreamURL, deadAddr string) string {
	return fmt.Sprintf(`services:
  - name: orders
    url: %s
  - name: gone
    url: http://%s
    health_checks: {passive: {consecutive_failures: 1}}
routes:
  - name: orders
    service: orders
    paths: [/orders]
  - name: down
    service: gone
    paths: [/down]
  - name: cached
    service: orders
    paths: [/cached]
consumers:
  - username: alice
    credentials:
      key_auth: [{key_id: main, key_hash: %q}]
plugins:
  - name: key-auth
    route: orders
  - name: rate-limit
    route: orders
    config: {limit: 2, window: hour, key: [consumer]}
  - name: cache
    route: cached
    config: {ttl: 30s}
`, upstreamURL, deadAddr, store.HashAPIKey("alice-secret-key"))
}

// startObservedNode starts a one-node cluster logging access to a file,
// with the observedDoc config, its slow upstream recording traceparents.
func startObservedNode(t *testing.T) (a *Agent, logPath string, traceparents chan string) {
	traceparents = make(chan string, 16)
	up := upstream(t, "")
	up.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		traceparents <- r.Header.Get("Traceparent")
		time.Sleep(30 * time.Millisecond)
		io.WriteString(w, "order list")
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()

	cfg := nodeConfig(t, "obs1", nil, 1)
	cfg.AccessLog = filepath.Join(t.TempDir(), "access.log")
	cfg.AccessLogSample, cfg.TraceSample = 1, 1
	if a, err = Start(cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Stop() })
	waitfor.Condition(t, 10*time.Second, "a leader", func() bool { return a.Node().IsLeader() })
	if resp, body := putConfig(t, a.AdminAddr(), "application/yaml", observedDoc(up.URL, dead), nil); resp.StatusCode != 200 {
		t.Fatalf("PUT: %d %s", resp.StatusCode, body)
	}
	waitfor.Condition(t, 2*time.Second, "config applied", func() bool { return a.gateway.Version() >= 1 })
	return a, cfg.AccessLog, traceparents
}

const inTrace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

// sendObservedTraffic: 2 admitted, a 401, a 429, a 502, then a cache
// miss and a hit.
func sendObservedTraffic(t *testing.T, a *Agent) {
	key := map[string]string{"apikey": "alice-secret-key"}
	steps := []struct {
		path   string
		header map[string]string
		status int
	}{
		{"/orders", map[string]string{"apikey": "alice-secret-key", "Traceparent": inTrace, "X-Request-Id": "first"}, 200},
		{"/orders", key, 200},
		{"/orders", nil, 401},
		{"/orders", key, 429},
		{"/down", nil, 502},
		{"/cached", nil, 200},
		{"/cached", nil, 200},
	}
	for i, s := range steps {
		if code, _, body := get(t, a, s.path, s.header); code != s.status {
			t.Fatalf("request %d %s: %d %s, want %d", i, s.path, code, body, s.status)
		}
	}
}

func TestMetricsAfterKnownTraffic(t *testing.T) {
	a, _, _ := startObservedNode(t)
	sendObservedTraffic(t, a)
	m := scrape(t, a)
	orders := `route="orders",service="orders"`
	want := map[string]float64{
		`tollgate_http_requests_total{method="GET",` + orders + `,status_class="2xx"}`:                     2,
		`tollgate_http_requests_total{method="GET",` + orders + `,status_class="4xx"}`:                     2,
		`tollgate_http_requests_total{method="GET",route="down",service="gone",status_class="5xx"}`:        1,
		`tollgate_http_rejections_total{code="missing_api_key",` + orders + `}`:                            1,
		`tollgate_http_rejections_total{code="rate_limited",` + orders + `}`:                               1,
		`tollgate_http_gateway_errors_total{code="upstream_unavailable",route="down",service="gone"}`:      1,
		`tollgate_http_request_duration_seconds_count{` + orders + `}`:                                     4,
		`tollgate_http_request_duration_seconds_bucket{` + orders + `,le="60"}`:                            4,
		`tollgate_http_upstream_duration_seconds_count{` + orders + `}`:                                    2,
		`tollgate_http_upstream_duration_seconds_bucket{` + orders + `,le="0.025"}`:                        0, // the upstream takes 30ms
		`tollgate_http_upstream_duration_seconds_bucket{` + orders + `,le="60"}`:                           2,
		`tollgate_http_gateway_duration_seconds_count{` + orders + `}`:                                     4,
		`tollgate_http_gateway_duration_seconds_bucket{` + orders + `,le="1"}`:                             4,
		`tollgate_http_upstream_duration_seconds_count{route="down",service="gone"}`:                       1,
		`tollgate_upstream_ejections_total{service="gone",target="` + a.gatewayTarget(t, "gone") + `"}`:    1,
		`tollgate_upstream_target_healthy{service="gone",target="` + a.gatewayTarget(t, "gone") + `"}`:     0,
		`tollgate_upstream_target_healthy{service="orders",target="` + a.gatewayTarget(t, "orders") + `"}`: 1,
		`tollgate_http_cache_requests_total{cache="MISS",route="cached",service="orders"}`:                 1,
		`tollgate_http_cache_requests_total{cache="HIT",route="cached",service="orders"}`:                  1,
		`tollgate_access_log_dropped_total`:                                                                0,
	}
	for series, v := range want {
		if got, ok := m[series]; !ok || got != v {
			t.Errorf("%s = %v (present %v), want %v", series, got, ok, v)
		}
	}
	// The event loops answered the five requests to /orders and /down;
	// the cache plugin is not inline, so /cached was handed over.
	if runtime.GOOS == "linux" {
		if got := m["tollgate_event_loop_requests_total"]; got != 5 {
			t.Errorf("tollgate_event_loop_requests_total = %v, want 5", got)
		}
		if got := m["tollgate_event_loop_handoffs_total"]; got < 1 {
			t.Errorf("tollgate_event_loop_handoffs_total = %v, want at least 1", got)
		}
	}
	// Buckets are cumulative and end at the count.
	var last float64
	for _, le := range []string{"0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "+Inf"} {
		v := m[`tollgate_http_request_duration_seconds_bucket{`+orders+`,le="`+le+`"}`]
		if v < last {
			t.Errorf("bucket le=%s = %v below the previous %v", le, v, last)
		}
		last = v
	}
	if last != 4 {
		t.Errorf("+Inf bucket %v, want 4", last)
	}
}

// gatewayTarget is the address of the only target of a service.
func (a *Agent) gatewayTarget(t *testing.T, service string) string {
	for _, h := range a.gateway.TargetHealth() {
		if h.Service == service {
			return h.Target
		}
	}
	t.Fatalf("no target of %s", service)
	return ""
}

var seriesLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{.*\})?) (\S+)$`)

// scrape reads the admin /metrics as series -> value.
func scrape(t *testing.T, a *Agent) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + a.AdminAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET /metrics: %d", resp.StatusCode)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if m := seriesLine.FindStringSubmatch(sc.Text()); m != nil && !strings.HasPrefix(sc.Text(), "#") {
			v, err := strconv.ParseFloat(m[2], 64)
			if err != nil {
				t.Fatalf("line %q: %v", sc.Text(), err)
			}
			out[m[1]] = v
		}
	}
	return out
}

func TestAccessLogLines(t *testing.T) {
	a, path, traceparents := startObservedNode(t)
	sendObservedTraffic(t, a)
	upstreamTP := <-traceparents
	if !strings.HasPrefix(upstreamTP, "00-4bf92f3577b34da6a3ce929d0e0e4736-") || strings.Contains(upstreamTP, "00f067aa0ba902b7") {
		t.Errorf("upstream got traceparent %q, want the same trace with a new parent", upstreamTP)
	}
	var lines []map[string]any
	waitfor.Condition(t, 5*time.Second, "7 access log lines", func() bool {
		lines = readJSONLines(t, path)
		return len(lines) >= 7
	})
	host := a.HTTPAddr()
	target := a.gatewayTarget(t, "orders")
	want := []map[string]any{
		{"status": 200.0, "route": "orders", "service": "orders", "consumer": "alice", "upstream": target, "reason": "",
			"request_id": "first", "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736"},
		{"status": 200.0, "route": "orders", "service": "orders", "consumer": "alice", "upstream": target, "reason": ""},
		{"status": 401.0, "route": "orders", "service": "orders", "consumer": "", "upstream": "", "reason": "missing_api_key",
			"upstream_us": 0.0},
		{"status": 429.0, "route": "orders", "service": "orders", "consumer": "alice", "upstream": "", "reason": "rate_limited",
			"upstream_us": 0.0},
		{"status": 502.0, "route": "down", "service": "gone", "consumer": "", "upstream": a.gatewayTarget(t, "gone"),
			"reason": "upstream_unavailable", "path": "/down"},
		{"status": 200.0, "route": "cached", "service": "orders", "consumer": "", "upstream": target, "reason": "",
			"path": "/cached", "cache": "MISS"},
		{"status": 200.0, "route": "cached", "service": "orders", "consumer": "", "upstream": "", "reason": "",
			"path": "/cached", "cache": "HIT", "upstream_us": 0.0},
	}
	for i, w := range want {
		l := lines[i]
		common := map[string]any{"msg": "request", "level": "INFO", "node": "obs1", "method": "GET", "host": host,
			"path": "/orders", "client_ip": "127.0.0.1", "cache": ""}
		for k, v := range common {
			if _, ok := w[k]; !ok {
				w[k] = v
			}
		}
		for k, v := range w {
			got, present := l[k]
			omitted := v == "" && (k == "consumer" || k == "cache" || k == "reason") // left out when empty
			if omitted && present || !omitted && got != v {
				t.Errorf("line %d: %s = %#v, want %#v (line %v)", i, k, got, v, l)
			}
		}
		checkAccessLine(t, i, l)
	}
	if up := lines[0]["upstream_us"].(float64); up < 30000 || up > lines[0]["duration_us"].(float64) {
		t.Errorf("line 0: upstream_us %v, duration_us %v; the upstream takes 30ms", up, lines[0]["duration_us"])
	}
}

// checkAccessLine checks the fields whose values vary.
func checkAccessLine(t *testing.T, i int, l map[string]any) {
	t.Helper()
	if ts, _ := l["time"].(string); ts == "" {
		t.Errorf("line %d: no time", i)
	} else if tm, err := time.Parse(time.RFC3339Nano, ts); err != nil || time.Since(tm) > time.Minute {
		t.Errorf("line %d: time %q", i, ts)
	}
	hexOf := regexp.MustCompile(`^[0-9a-f]+$`)
	for k, n := range map[string]int{"trace_id": 32} {
		if s, _ := l[k].(string); len(s) != n || !hexOf.MatchString(s) || strings.Trim(s, "0") == "" {
			t.Errorf("line %d: %s %q", i, k, s)
		}
	}
	if id, _ := l["request_id"].(string); id == "" {
		t.Errorf("line %d: no request_id", i)
	}
	for _, k := range []string{"bytes", "duration_us", "upstream_us"} {
		if v, ok := l[k].(float64); !ok || v < 0 {
			t.Errorf("line %d: %s = %v", i, k, l[k])
		}
	}
	if l["bytes"].(float64) == 0 {
		t.Errorf("line %d: no body bytes counted", i)
	}
}

func readJSONLines(t *testing.T, path string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for _, line := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("access log line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}
