package dataplane

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/tollgate/tollgate/store"
)

// waitTimeout bounds every wait in these tests.
const waitTimeout = 10 * time.Second

// testGateway is a Gateway serving on a real loopback listener.
type testGateway struct {
	*Gateway
	url    string // http://127.0.0.1:port
	addr   string
	client *http.Client
	logs   *logSink
}

// startGateway serves a new Gateway on 127.0.0.1:0 and, if cfg is not nil,
// loads it. Cleanup shuts it down and checks Serve's result.
func startGateway(t *testing.T, cfg *store.Config, opts Options) *testGateway {
	t.Helper()
	sink := newLogSink()
	if opts.Logger == nil {
		opts.Logger = slog.New(sink)
	}
	// make test runs the package once per engine: "" is epoll, with
	// io_uring sends where the kernel has them; epoll-sendto is epoll
	// without io_uring, also for the tests that ask for epoll.
	env := os.Getenv("TOLLGATE_TEST_ENGINE")
	if opts.Engine == "" {
		opts.Engine = env
	}
	if env == "epoll-sendto" {
		if opts.Engine == env {
			opts.Engine = EngineEpoll
		}
		opts.DisableIOURing = true
	}
	g := New(opts)
	if cfg != nil {
		if err := g.Update(cfg); err != nil {
			t.Fatal(err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- g.Serve(ln) }()
	tr := &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		if err := g.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve returned %v, want http.ErrServerClosed", err)
		}
	})
	addr := ln.Addr().String()
	return &testGateway{Gateway: g, url: "http://" + addr, addr: addr, client: &http.Client{Transport: tr}, logs: sink}
}

// get sends a GET with optional headers and returns the response with its
// body read.
func (tg *testGateway) get(t *testing.T, path string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest("GET", tg.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := tg.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

// oneRoute is a config with one service at url and one route to it.
func oneRoute(version uint64, url string, route store.Route) *store.Config {
	route.Service = "svc"
	if route.Name == "" {
		route.Name = "route"
	}
	return &store.Config{
		Version:  version,
		Services: []store.Service{{Name: "svc", URL: url}},
		Routes:   []store.Route{route},
	}
}

// gatewayErrorBody decodes a gateway error response body.
func gatewayErrorBody(t *testing.T, body []byte) errorDetail {
	t.Helper()
	var e errorBody
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("body %q is not a gateway error: %v", body, err)
	}
	return e.Error
}

// checkGatewayError asserts a gateway-generated error response.
func checkGatewayError(t *testing.T, resp *http.Response, body []byte, status int, code string) {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("status = %d, want %d (body %s)", resp.StatusCode, status, body)
	}
	if got := resp.Header.Get(headerError); got != code {
		t.Errorf("%s = %q, want %q", headerError, got, code)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	e := gatewayErrorBody(t, body)
	id := resp.Header.Get(headerRequestID)
	if e.Code != code || e.Message == "" || id == "" || e.RequestID != id {
		t.Errorf("error body %+v, X-Request-Id %q", e, id)
	}
}

// freePort returns an address nothing listens on.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func mustURL(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// recv waits for a value on ch, failing the test after waitTimeout.
func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitTimeout):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// logSink is a slog.Handler that hands every access log record to a
// channel, so tests can wait for one.
type logSink struct{ records chan map[string]slog.Value }

func newLogSink() *logSink { return &logSink{records: make(chan map[string]slog.Value, 1024)} }

func (s *logSink) Enabled(context.Context, slog.Level) bool { return true }
func (s *logSink) WithAttrs([]slog.Attr) slog.Handler       { return s }
func (s *logSink) WithGroup(string) slog.Handler            { return s }

func (s *logSink) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "request" {
		return nil
	}
	attrs := map[string]slog.Value{}
	r.Attrs(func(a slog.Attr) bool { attrs[a.Key] = a.Value; return true })
	select {
	case s.records <- attrs:
	default: // tests that do not read the log must not block the gateway
	}
	return nil
}

// waitLog returns the first access log record for which match is true.
func (s *logSink) waitLog(t *testing.T, match func(map[string]slog.Value) bool) map[string]slog.Value {
	t.Helper()
	deadline := time.After(waitTimeout)
	var seen []string
	for {
		select {
		case rec := <-s.records:
			if match(rec) {
				return rec
			}
			if len(seen) < 10 {
				seen = append(seen, fmt.Sprintf("%s %s %d %s", rec["method"], rec["path"], rec["status"].Int64(), rec["route"]))
			}
		case <-deadline:
			t.Fatalf("timed out waiting for an access log record; seen meanwhile: %q", seen)
		}
	}
}
