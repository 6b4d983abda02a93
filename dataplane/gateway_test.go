package dataplane

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/store"
)

// seen is what the echo upstream reports about the request it got.
type seen struct {
	URI    string
	Host   string
	Header http.Header
}

// newEcho starts an upstream that answers with a JSON description of the
// request it received.
func newEcho(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(seen{URI: r.URL.RequestURI(), Host: r.Host, Header: r.Header})
	}))
	t.Cleanup(srv.Close)
	return srv
}

func decodeSeen(t *testing.T, body []byte) seen {
	t.Helper()
	var s seen
	if err := json.Unmarshal(body, &s); err != nil {
		t.Fatalf("upstream body %q: %v", body, err)
	}
	return s
}

func TestProxyPaths(t *testing.T) {
	echo := newEcho(t)
	tests := []struct {
		name, base string
		route      store.Route
		path, want string
	}{
		{"plain", "", store.Route{Paths: []string{"/api"}}, "/api/users/7?x=1", "/api/users/7?x=1"},
		{"strip", "", store.Route{Paths: []string{"/api"}, StripPath: true}, "/api/users/7?x=1", "/users/7?x=1"},
		{"strip whole path", "", store.Route{Paths: []string{"/api"}, StripPath: true}, "/api", "/"},
		{"base path", "/base", store.Route{Paths: []string{"/api"}}, "/api/users", "/base/api/users"},
		{"base path and strip", "/base", store.Route{Paths: []string{"/api/"}, StripPath: true}, "/api/users", "/base/users"},
		{"no paths", "/base", store.Route{StripPath: true}, "/x/y", "/base/x/y"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gw := startGateway(t, oneRoute(1, echo.URL+tt.base, tt.route), Options{})
			resp, body := gw.get(t, tt.path)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			if got := decodeSeen(t, body); got.URI != tt.want {
				t.Errorf("upstream saw %q, want %q", got.URI, tt.want)
			}
		})
	}
}

func TestNoRouteAndNoConfig(t *testing.T) {
	gw := startGateway(t, nil, Options{})
	resp, body := gw.get(t, "/nothing")
	checkGatewayError(t, resp, body, http.StatusServiceUnavailable, "no_config")
	if gw.Version() != 0 {
		t.Errorf("Version before Update = %d", gw.Version())
	}

	echo := newEcho(t)
	if err := gw.Update(oneRoute(7, echo.URL, store.Route{Paths: []string{"/api"}})); err != nil {
		t.Fatal(err)
	}
	if gw.Version() != 7 {
		t.Errorf("Version = %d, want 7", gw.Version())
	}
	resp, body = gw.get(t, "/nothing")
	checkGatewayError(t, resp, body, http.StatusNotFound, "no_route")
}

func TestBadGatewayVsUpstreamError(t *testing.T) {
	boom := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "upstream broke", http.StatusInternalServerError)
	}))
	t.Cleanup(boom.Close)
	cfg := &store.Config{
		Version:  1,
		Services: []store.Service{{Name: "down", URL: "http://" + freePort(t)}, {Name: "boom", URL: boom.URL}},
		Routes: []store.Route{
			{Name: "down", Service: "down", Paths: []string{"/down"}},
			{Name: "boom", Service: "boom", Paths: []string{"/boom"}},
		},
	}
	gw := startGateway(t, cfg, Options{})

	resp, body := gw.get(t, "/down")
	checkGatewayError(t, resp, body, http.StatusBadGateway, "upstream_unavailable")

	resp, body = gw.get(t, "/boom")
	if resp.StatusCode != http.StatusInternalServerError || resp.Header.Get(headerError) != "" {
		t.Errorf("upstream 500: status %d, %s %q", resp.StatusCode, headerError, resp.Header.Get(headerError))
	}
	if strings.TrimSpace(string(body)) != "upstream broke" || resp.Header.Get(headerRequestID) == "" {
		t.Errorf("upstream 500: body %q, request id %q", body, resp.Header.Get(headerRequestID))
	}
}

// TestUpstreamCannotForgeGatewayError checks that an upstream's answer
// dressed as the gateway's (its X-Tollgate-Error field and JSON body)
// reaches the client without the field, so the header still tells the
// gateway's answers from the upstream's: on the loop's relay (a
// Content-Length body), on the general path (a chunked one), with the
// field name in lower case, and as a trailer field.
func TestUpstreamCannotForgeGatewayError(t *testing.T) {
	const forged = `{"error":{"code":"upstream_unavailable","message":"forged","request_id":"x"}}`
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/lower":
			w.Header()["x-tollgate-error"] = []string{"upstream_unavailable"}
		default:
			w.Header().Set(headerError, "upstream_unavailable")
		}
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/trailer" { // the marker as a trailer field instead
			w.Header().Del(headerError)
			w.Header().Set("Trailer", headerError)
			w.WriteHeader(http.StatusBadGateway)
			_, _ = io.WriteString(w, forged)
			w.Header().Set(headerError, "upstream_unavailable")
			return
		}
		if r.URL.Path == "/chunked" {
			w.WriteHeader(http.StatusBadGateway)
			_, _ = io.WriteString(w, forged)
			w.(http.Flusher).Flush()
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(forged)))
		w.WriteHeader(http.StatusBadGateway)
		_, _ = io.WriteString(w, forged)
	}))
	t.Cleanup(up.Close)
	cfg := &store.Config{
		Version:  1,
		Services: []store.Service{{Name: "up", URL: up.URL}},
		Routes:   []store.Route{{Name: "all", Service: "up", Paths: []string{"/"}}},
	}
	gw := startGateway(t, cfg, Options{})
	for _, path := range []string{"/length", "/chunked", "/lower", "/trailer"} {
		resp, body := gw.get(t, path)
		if resp.StatusCode != http.StatusBadGateway || string(body) != forged {
			t.Errorf("%s: status %d, body %q: the upstream's answer should pass as it is", path, resp.StatusCode, body)
		}
		for _, fields := range []http.Header{resp.Header, resp.Trailer} {
			for name := range fields {
				if strings.EqualFold(name, headerError) {
					t.Errorf("%s: the upstream's %s reached the client: %q", path, name, fields[name])
				}
			}
		}
		if resp.Header.Get(headerRequestID) == "" {
			t.Errorf("%s: no %s", path, headerRequestID)
		}
	}
}

// blockingUpstream answers only when release is closed. Every request
// arriving is reported on arrived, every request the gateway abandons on
// gone.
type blockingUpstream struct {
	*httptest.Server
	arrived, gone chan struct{}
	release       chan struct{}
}

func newBlockingUpstream(t *testing.T, body string) *blockingUpstream {
	b := &blockingUpstream{arrived: make(chan struct{}, 1024), gone: make(chan struct{}, 1024), release: make(chan struct{})}
	b.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.arrived <- struct{}{}
		select {
		case <-b.release:
			_, _ = io.WriteString(w, body)
		case <-r.Context().Done():
			b.gone <- struct{}{}
		}
	}))
	t.Cleanup(b.Server.Close)
	t.Cleanup(func() {
		select {
		case <-b.release:
		default:
			close(b.release)
		}
	})
	return b
}

func TestUpstreamTimeout(t *testing.T) {
	up := newBlockingUpstream(t, "late")
	cfg := oneRoute(1, up.URL, store.Route{})
	cfg.Services[0].Timeout = store.Duration(100 * time.Millisecond)
	gw := startGateway(t, cfg, Options{})

	resp, body := gw.get(t, "/slow")
	checkGatewayError(t, resp, body, http.StatusGatewayTimeout, "upstream_timeout")
	recv(t, up.gone, "the upstream request to be cancelled")
}

func TestClientGoneIsLogged499(t *testing.T) {
	up := newBlockingUpstream(t, "late")
	gw := startGateway(t, oneRoute(1, up.URL, store.Route{Name: "slow"}), Options{})

	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", gw.url+"/slow", nil)
	done := make(chan error, 1)
	go func() {
		resp, err := gw.client.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	recv(t, up.arrived, "the request to reach the upstream")
	cancel()
	if err := recv(t, done, "the client to give up"); !errors.Is(err, context.Canceled) {
		t.Errorf("client error = %v", err)
	}
	recv(t, up.gone, "the upstream request to be cancelled")
	rec := gw.logs.waitLog(t, func(r map[string]slog.Value) bool { return r["route"].String() == "slow" })
	if rec["status"].Int64() != statusClientClosed {
		t.Errorf("logged status %v, want 499", rec["status"])
	}
}

func TestRequestID(t *testing.T) {
	echo := newEcho(t)
	gw := startGateway(t, oneRoute(1, echo.URL, store.Route{}), Options{})
	tests := []struct {
		name, sent string
		keep       bool
	}{
		{"generated", "", false},
		{"kept", "client-id-42", true},
		{"too long", strings.Repeat("a", 129), false},
		{"longest kept", strings.Repeat("b", 128), true},
		{"control character", "bad\tid", false},
	}
	ids := map[string]bool{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var hdr []string
			if tt.sent != "" {
				hdr = []string{headerRequestID, tt.sent}
			}
			resp, body := gw.get(t, "/", hdr...)
			id := resp.Header.Get(headerRequestID)
			if upstreamID := decodeSeen(t, body).Header.Get(headerRequestID); upstreamID != id || id == "" {
				t.Fatalf("response id %q, upstream saw %q", id, upstreamID)
			}
			if (id == tt.sent) != tt.keep || !validRequestID(id) || ids[id] {
				t.Errorf("sent %q, got %q (keep=%v, seen before=%v)", tt.sent, id, tt.keep, ids[id])
			}
			ids[id] = true
		})
	}
}

// newHopUpstream is an echo upstream whose answers carry hop-by-hop
// headers (X-Up-Hop, Keep-Alive, Proxy-Up) and one end-to-end (X-Kept).
func newHopUpstream(t *testing.T) *httptest.Server {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Connection", "X-Up-Hop")
		h.Set("X-Up-Hop", "1")
		h.Set("Keep-Alive", "timeout=9")
		h.Set("Proxy-Up", "x")
		h.Set("X-Kept", "yes")
		_ = json.NewEncoder(w).Encode(seen{URI: r.URL.RequestURI(), Host: r.Host, Header: r.Header})
	}))
	t.Cleanup(up.Close)
	return up
}

func TestForwardedAndHopByHopHeaders(t *testing.T) {
	up := newHopUpstream(t)
	gw := startGateway(t, oneRoute(1, up.URL, store.Route{}), Options{})

	raw := "GET /fwd HTTP/1.1\r\nHost: API.example.com:8080\r\nConnection: keep-alive, X-Hop\r\n" +
		"X-Hop: secret\r\nKeep-Alive: timeout=5\r\nProxy-Authorization: Basic eA==\r\nProxy-Foo: bar\r\n" +
		"Upgrade: websocket\r\nTE: trailers, deflate\r\nX-Forwarded-For: 10.0.0.1\r\nVia: 1.0 edge\r\n\r\n"
	resp, body := rawRequest(t, gw.addr, raw)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	got := decodeSeen(t, body)
	for _, h := range []string{"X-Hop", "Keep-Alive", "Proxy-Authorization", "Proxy-Foo", "Upgrade", "Connection"} {
		if v, ok := got.Header[h]; ok {
			t.Errorf("upstream got hop-by-hop %s: %q", h, v)
		}
	}
	want := map[string]string{
		"Te": "trailers", "X-Forwarded-For": "10.0.0.1, 127.0.0.1", "X-Forwarded-Proto": "http",
		"X-Forwarded-Host": "API.example.com:8080", "Via": "1.0 edge,1.1 tollgate",
		headerRequestID: resp.Header.Get(headerRequestID),
	}
	for h, v := range want {
		if g := strings.Join(got.Header[h], ","); g != v {
			t.Errorf("upstream %s = %q, want %q", h, g, v)
		}
	}
	if got.Host != strings.TrimPrefix(up.URL, "http://") {
		t.Errorf("upstream Host = %q, want the upstream's own", got.Host)
	}
	for _, h := range []string{"X-Up-Hop", "Proxy-Up", "Keep-Alive"} {
		if v, ok := resp.Header[h]; ok {
			t.Errorf("client got hop-by-hop %s: %q", h, v)
		}
	}
	if resp.Header.Get("X-Kept") != "yes" {
		t.Errorf("end-to-end response header lost: %v", resp.Header)
	}
}

// rawRequest writes one hand-made HTTP/1.1 request and reads the answer.
func rawRequest(t *testing.T, addr, raw string) (*http.Response, []byte) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, raw); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
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

func TestTrailers(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Trailer", "X-Checksum")
		_, _ = io.WriteString(w, "payload")
		w.Header().Set("X-Checksum", "abc/"+r.Trailer.Get("X-Client-Sum"))
	}))
	t.Cleanup(up.Close)
	gw := startGateway(t, oneRoute(1, up.URL, store.Route{}), Options{})

	req, _ := http.NewRequest("POST", gw.url+"/t", io.NopCloser(strings.NewReader("body")))
	req.Trailer = http.Header{"X-Client-Sum": {"123"}}
	resp, err := gw.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if string(body) != "payload" || resp.Trailer.Get("X-Checksum") != "abc/123" {
		t.Errorf("body %q, trailers %v", body, resp.Trailer)
	}
}
