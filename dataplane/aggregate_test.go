package dataplane

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tollgate/tollgate/store"
)

// jsonUpstream starts an upstream that waits delay (or until the request
// is cancelled), then answers status with body as application/json.
func jsonUpstream(t *testing.T, delay time.Duration, status int, body string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return srv
}

// aggregateRoute is a config with one service per URL (s0, s1, ...) and an
// aggregate route on /v1/dash/{id} whose calls name them.
func aggregateRoute(onError string, urls []string, calls ...store.AggregateCall) *store.Config {
	cfg := &store.Config{Version: 1}
	for i, u := range urls {
		cfg.Services = append(cfg.Services, store.Service{Name: fmt.Sprintf("s%d", i), URL: u})
	}
	cfg.Routes = []store.Route{{Name: "dash", Paths: []string{"/v1/dash/{id}"},
		Aggregate: &store.Aggregate{OnError: onError, Calls: calls}}}
	return cfg
}

func decodeObject(t *testing.T, body []byte) map[string]json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("body %q: %v", body, err)
	}
	return m
}

func TestAggregateRunsCallsInParallel(t *testing.T) {
	delays := []time.Duration{200 * time.Millisecond, 400 * time.Millisecond, 600 * time.Millisecond}
	var urls []string
	var calls []store.AggregateCall
	for i, d := range delays {
		urls = append(urls, jsonUpstream(t, d, 200, fmt.Sprintf(`{"n":%d}`, i)).URL)
		calls = append(calls, store.AggregateCall{Name: fmt.Sprintf("p%d", i), Service: fmt.Sprintf("s%d", i), Path: "/"})
	}
	gw := startGateway(t, aggregateRoute("", urls, calls...), Options{})
	start := time.Now()
	resp, body := gw.get(t, "/v1/dash/1")
	took := time.Since(start)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("status %d, headers %v, body %s", resp.StatusCode, resp.Header, body)
	}
	if got, want := strings.TrimSpace(string(body)), `{"p0":{"n":0},"p1":{"n":1},"p2":{"n":2}}`; got != want {
		t.Errorf("body %s, want %s", got, want)
	}
	// The sum of the delays is 1.2s; in parallel it takes the slowest, 600ms.
	if took < 600*time.Millisecond || took >= time.Second {
		t.Errorf("took %v, want at least the slowest call (600ms) and well under the sum (1.2s)", took)
	}
}

func TestAggregateCallsAreInFlightTogether(t *testing.T) {
	const n = 3
	var arrived sync.WaitGroup
	arrived.Add(n)
	all := make(chan struct{})
	go func() { arrived.Wait(); close(all) }()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived.Done()
		select { // answers only once every call has arrived: sequential calls would never finish
		case <-all:
		case <-r.Context().Done():
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`true`))
	}))
	t.Cleanup(srv.Close)
	calls := []store.AggregateCall{{Name: "a", Service: "s0", Path: "/a"}, {Name: "b", Service: "s0", Path: "/b"}, {Name: "c", Service: "s0", Path: "/c"}}
	gw := startGateway(t, aggregateRoute("", []string{srv.URL}, calls...), Options{})
	resp, body := gw.get(t, "/v1/dash/1")
	if resp.StatusCode != 200 || strings.TrimSpace(string(body)) != `{"a":true,"b":true,"c":true}` {
		t.Fatalf("status %d, body %s", resp.StatusCode, body)
	}
}

func TestAggregatePathVariablesAndIdentity(t *testing.T) {
	echo := newEcho(t)
	cfg := aggregateRoute("", []string{echo.URL + "/base"},
		store.AggregateCall{Name: "user", Service: "s0", Path: "/users/{id}?by={consumer}&rid={request_id}"},
		store.AggregateCall{Name: "orders", Service: "s0", Path: "/orders", Method: "POST"})
	auth := func(next Handler) Handler {
		return func(rc *RequestContext) {
			rc.Consumer = "alice smith"
			rc.Request.Header.Set("X-Consumer", rc.Consumer)
			next(rc)
		}
	}
	gw := startGateway(t, cfg, Options{Policies: func(*store.Config, *store.Route) ([]Policy, error) {
		return []Policy{policyFunc(auth)}, nil
	}})
	resp, body := gw.get(t, "/v1/dash/a%20b?ignored=1", "X-Request-Id", "rid-7", "Accept-Encoding", "gzip", "If-None-Match", `"x"`)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d, body %s", resp.StatusCode, body)
	}
	parts := decodeObject(t, body)
	user, orders := decodeSeen(t, parts["user"]), decodeSeen(t, parts["orders"])
	if want := "/base/users/a%20b?by=alice+smith&rid=rid-7"; user.URI != want {
		t.Errorf("user call URI %q, want %q", user.URI, want)
	}
	if orders.URI != "/base/orders" {
		t.Errorf("orders call URI %q", orders.URI)
	}
	h := user.Header
	if h.Get("X-Consumer") != "alice smith" || h.Get("X-Request-Id") != "rid-7" || h.Get("X-Forwarded-For") == "" {
		t.Errorf("identity and forwarding headers not passed on: %v", h)
	}
	if h.Get("Accept-Encoding") != "identity" || h.Get("If-None-Match") != "" || h.Get("Accept") != "application/json" {
		t.Errorf("call headers %v", h)
	}
	if resp.Header.Get(headerRequestID) != "rid-7" {
		t.Errorf("X-Request-Id = %q", resp.Header.Get(headerRequestID))
	}
}

// policyFunc adapts a function to Policy.
type policyFunc func(next Handler) Handler

func (f policyFunc) Wrap(next Handler) Handler { return f(next) }

func TestAggregateFailPolicy(t *testing.T) {
	ok := jsonUpstream(t, 0, 200, `{"ok":true}`)
	tests := []struct {
		name    string
		url     string
		status  int
		code    string
		message string
	}{
		{"non-2xx", jsonUpstream(t, 0, 503, `{"down":true}`).URL, 502, "aggregate_call_failed", "upstream answered 503"},
		{"malformed JSON", jsonUpstream(t, 0, 200, `{"a":`).URL, 502, "aggregate_call_failed", "not JSON"},
		{"connection refused", "http://" + freePort(t), 502, "upstream_unavailable", "upstream connection failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := aggregateRoute(store.AggregateFail, []string{ok.URL, tt.url},
				store.AggregateCall{Name: "good", Service: "s0", Path: "/"},
				store.AggregateCall{Name: "bad", Service: "s1", Path: "/"})
			gw := startGateway(t, cfg, Options{})
			resp, body := gw.get(t, "/v1/dash/1")
			checkGatewayError(t, resp, body, tt.status, tt.code)
			msg := gatewayErrorBody(t, body).Message
			if !strings.Contains(msg, `"bad"`) || !strings.Contains(msg, tt.message) {
				t.Errorf("message %q does not name the call and %q", msg, tt.message)
			}
		})
	}
}

func TestAggregateNonJSONFails(t *testing.T) {
	text := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("hello"))
	}))
	t.Cleanup(text.Close)
	cfg := aggregateRoute(store.AggregatePartial, []string{text.URL},
		store.AggregateCall{Name: "txt", Service: "s0", Path: "/"})
	gw := startGateway(t, cfg, Options{})
	resp, body := gw.get(t, "/v1/dash/1")
	want := `{"txt":null,"errors":[{"call":"txt","error":"upstream answer is not JSON (content type \"text/plain\")"}]}`
	if resp.StatusCode != 200 || strings.TrimSpace(string(body)) != want {
		t.Fatalf("status %d, body %s", resp.StatusCode, body)
	}
}

func TestAggregatePartialPolicy(t *testing.T) {
	ok := jsonUpstream(t, 0, 200, `{"ok":true}`)
	down := jsonUpstream(t, 0, 500, `{}`)
	calls := []store.AggregateCall{
		{Name: "good", Service: "s0", Path: "/"},
		{Name: "bad", Service: "s1", Path: "/"},
	}
	gw := startGateway(t, aggregateRoute(store.AggregatePartial, []string{ok.URL, down.URL}, calls...), Options{})
	resp, body := gw.get(t, "/v1/dash/1")
	want := `{"good":{"ok":true},"bad":null,"errors":[{"call":"bad","error":"upstream answered 500"}]}`
	if resp.StatusCode != 200 || strings.TrimSpace(string(body)) != want {
		t.Fatalf("status %d, body %s\nwant %s", resp.StatusCode, body, want)
	}

	// A required call fails the answer even when the policy is partial.
	calls[1].Required = true
	gw = startGateway(t, aggregateRoute(store.AggregatePartial, []string{ok.URL, down.URL}, calls...), Options{})
	resp, body = gw.get(t, "/v1/dash/1")
	checkGatewayError(t, resp, body, http.StatusBadGateway, "aggregate_call_failed")
}

func TestAggregateCallTimeout(t *testing.T) {
	fast := jsonUpstream(t, 0, 200, `1`)
	slow := jsonUpstream(t, waitTimeout, 200, `2`)
	calls := []store.AggregateCall{
		{Name: "fast", Service: "s0", Path: "/"},
		{Name: "slow", Service: "s1", Path: "/", Timeout: store.Duration(100 * time.Millisecond)},
	}
	for _, policy := range []string{store.AggregateFail, store.AggregatePartial} {
		t.Run(policy, func(t *testing.T) {
			gw := startGateway(t, aggregateRoute(policy, []string{fast.URL, slow.URL}, calls...), Options{})
			start := time.Now()
			resp, body := gw.get(t, "/v1/dash/1")
			if took := time.Since(start); took > 5*time.Second {
				t.Errorf("took %v: the call's timeout did not end it", took)
			}
			if policy == store.AggregateFail {
				checkGatewayError(t, resp, body, http.StatusGatewayTimeout, "upstream_timeout")
				if msg := gatewayErrorBody(t, body).Message; !strings.Contains(msg, `"slow"`) {
					t.Errorf("message %q does not name the call", msg)
				}
				return
			}
			want := `{"fast":1,"slow":null,"errors":[{"call":"slow","error":"upstream timed out"}]}`
			if resp.StatusCode != 200 || strings.TrimSpace(string(body)) != want {
				t.Fatalf("status %d, body %s", resp.StatusCode, body)
			}
		})
	}
}

func TestAggregateFailCancelsOtherCalls(t *testing.T) {
	down := jsonUpstream(t, 0, 500, `{}`)
	slow := jsonUpstream(t, waitTimeout, 200, `2`)
	cfg := aggregateRoute(store.AggregateFail, []string{down.URL, slow.URL},
		store.AggregateCall{Name: "down", Service: "s0", Path: "/"},
		store.AggregateCall{Name: "slow", Service: "s1", Path: "/"})
	gw := startGateway(t, cfg, Options{})
	start := time.Now()
	resp, body := gw.get(t, "/v1/dash/1")
	checkGatewayError(t, resp, body, http.StatusBadGateway, "aggregate_call_failed")
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("took %v: the failed call did not cancel the slow one", took)
	}
}

func TestAggregateRouteWithoutServiceLogs(t *testing.T) {
	ok := jsonUpstream(t, 0, 200, `{}`)
	gw := startGateway(t, aggregateRoute("", []string{ok.URL}, store.AggregateCall{Name: "a", Service: "s0", Path: "/"}), Options{})
	if _, _, ok := gw.MatchRoute("GET", "x", "/v1/dash/1"); !ok {
		t.Error("MatchRoute does not find the aggregate route")
	}
	resp, _ := gw.get(t, "/v1/dash/1")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	rec := gw.logs.waitLog(t, func(a map[string]slog.Value) bool { return a["route"].String() == "dash" })
	if rec["status"].Int64() != 200 || rec["service"].String() != "" {
		t.Errorf("access log %v", rec)
	}
}

func TestAggregateCompileErrors(t *testing.T) {
	ok := store.AggregateCall{Name: "a", Service: "s0", Path: "/"}
	tests := []struct {
		name  string
		route store.Route
	}{
		{"unknown call service", store.Route{Name: "r", Aggregate: &store.Aggregate{Calls: []store.AggregateCall{{Name: "a", Service: "nope", Path: "/"}}}}},
		{"bad call path", store.Route{Name: "r", Aggregate: &store.Aggregate{Calls: []store.AggregateCall{{Name: "a", Service: "s0", Path: "/{x"}}}}},
		{"no calls", store.Route{Name: "r", Aggregate: &store.Aggregate{}}},
		{"no service and no aggregate", store.Route{Name: "r"}},
		{"unknown route service", store.Route{Name: "r", Service: "nope", Aggregate: &store.Aggregate{Calls: []store.AggregateCall{ok}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := &store.Config{Services: []store.Service{{Name: "s0", URL: "http://127.0.0.1:1"}}, Routes: []store.Route{tt.route}}
			if _, err := compile(cfg); !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("compile = %v, want ErrInvalidConfig", err)
			}
		})
	}
}
