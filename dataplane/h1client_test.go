package dataplane

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// countingServer is an httptest server that counts the connections it
// accepted and closed.
type countingServer struct {
	*httptest.Server
	opened, closed atomic.Int64
}

func newCountingServer(t *testing.T, h http.Handler) *countingServer {
	t.Helper()
	cs := &countingServer{Server: httptest.NewUnstartedServer(h)}
	cs.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			cs.opened.Add(1)
		case http.StateClosed, http.StateHijacked:
			cs.closed.Add(1)
		}
	}
	cs.Start()
	t.Cleanup(cs.Close)
	return cs
}

// newTestH1 returns the pool transportCache builds for a plain-http
// upstream, which must be an h1Client.
func newTestH1(t *testing.T, readTimeout time.Duration) *h1Client {
	t.Helper()
	tc := transportCache{maxIdlePerHost: 4, idleTimeout: time.Minute}
	p := tc.newTransport(transportKey{scheme: "http", connectTimeout: time.Second, readTimeout: readTimeout}, nil)
	c, ok := p.(*h1Client)
	if !ok {
		t.Fatalf("plain http pool is %T, want *h1Client", p)
	}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// h1Do sends one request through c and returns the status and the whole
// body.
func h1Do(t *testing.T, c http.RoundTripper, method, url string, body io.Reader) (int, string, error) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.RoundTrip(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// h1Get sends a GET for url through c and returns the response with its
// body unread.
func h1Get(t *testing.T, c http.RoundTripper, url string) *http.Response {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func TestH1ResponseFramingAndReuse(t *testing.T) {
	srv := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/length":
			w.Header().Set("Content-Length", "5")
			io.WriteString(w, "hello")
		case "/chunked":
			io.WriteString(w, "part one, ")
			w.(http.Flusher).Flush() // no Content-Length: chunked
			io.WriteString(w, "part two")
		case "/empty":
			w.Header().Set("Content-Length", "0")
		case "/nocontent":
			w.WriteHeader(http.StatusNoContent)
		case "/notmodified":
			w.WriteHeader(http.StatusNotModified)
		case "/continue":
			w.WriteHeader(http.StatusEarlyHints)
			io.WriteString(w, "after 103")
		}
	}))
	tests := []struct {
		method, path string
		status       int
		body         string
	}{
		{"GET", "/length", 200, "hello"},
		{"GET", "/chunked", 200, "part one, part two"},
		{"GET", "/empty", 200, ""},
		{"HEAD", "/length", 200, ""},
		{"GET", "/nocontent", 204, ""},
		{"GET", "/notmodified", 304, ""},
		{"GET", "/continue", 200, "after 103"},
	}
	c := newTestH1(t, time.Second)
	for range 3 {
		for _, tt := range tests {
			status, body, err := h1Do(t, c, tt.method, srv.URL+tt.path, nil)
			if err != nil || status != tt.status || body != tt.body {
				t.Errorf("%s %s = %d %q, %v; want %d %q", tt.method, tt.path, status, body, err, tt.status, tt.body)
			}
		}
	}
	if n := srv.opened.Load(); n != 1 {
		t.Errorf("%d requests in sequence opened %d connections, want 1", 3*len(tests), n)
	}
}

func TestH1ServerConnectionClose(t *testing.T) {
	srv := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		io.WriteString(w, "bye")
	}))
	c := newTestH1(t, time.Second)
	for range 3 {
		if status, body, err := h1Do(t, c, "GET", srv.URL, nil); err != nil || status != 200 || body != "bye" {
			t.Fatalf("GET = %d %q, %v", status, body, err)
		}
	}
	if n := srv.opened.Load(); n != 3 {
		t.Errorf("opened %d connections, want one per request (3)", n)
	}
	waitFor(t, "the server to see every connection closed", func() bool { return srv.closed.Load() == 3 }, nil)
}

func TestH1RequestBodies(t *testing.T) {
	srv := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		fmt.Fprintf(w, "%d %q %d", r.ContentLength, r.TransferEncoding, len(b))
	}))
	c := newTestH1(t, time.Second)
	tests := []struct {
		name string
		body io.Reader
		want string
	}{
		{"none", nil, `0 [] 0`},
		{"1KiB", bytes.NewReader(make([]byte, 1<<10)), `1024 [] 1024`},
		{"64KiB", bytes.NewReader(make([]byte, h1MaxBody)), `65536 [] 65536`},
		{"over 64KiB (fallback)", bytes.NewReader(make([]byte, h1MaxBody+1)), `65537 [] 65537`},
		{"unknown length (fallback)", io.MultiReader(strings.NewReader("abc")), `-1 ["chunked"] 3`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body, err := h1Do(t, c, "POST", srv.URL, tt.body)
			if err != nil || status != 200 || body != tt.want {
				t.Errorf("POST = %d %q, %v; want 200 %q", status, body, err, tt.want)
			}
		})
	}
}

// TestH1StaleConnRetry: a server that closes idle connections right
// after each response; the next request finds its pooled connection dead
// and must still succeed: sent again if it has no body, or sent on a new
// connection at once because the probe found the old one closed (the
// body, as the gateway's, cannot be sent twice).
func TestH1StaleConnRetry(t *testing.T) {
	srv := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		io.WriteString(w, "ok "+string(b))
	}))
	c := newTestH1(t, time.Second)
	for i, body := range []string{"", "", "a body", ""} {
		req, _ := http.NewRequest("POST", srv.URL, strings.NewReader(body))
		req.GetBody = nil
		resp, err := c.RoundTrip(req)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || string(got) != "ok "+body {
			t.Fatalf("request %d = %q, %v", i, got, err)
		}
		// The server drops the idle connection; wait until it did.
		want := int64(i + 1)
		waitFor(t, "the connection to be pooled", func() bool { return c.pool.idleCount() == 1 }, nil)
		srv.CloseClientConnections()
		waitFor(t, "the server to close the idle connection", func() bool { return srv.closed.Load() == want }, nil)
	}
	if n := srv.opened.Load(); n != 4 {
		t.Errorf("opened %d connections, want 4", n)
	}
}

func TestH1ReadTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer close(release)
	c := newTestH1(t, 50*time.Millisecond)
	start := time.Now()
	_, _, err := h1Do(t, c, "GET", srv.URL, nil)
	if err == nil || !isTimeout(err) || classify(err).status != http.StatusGatewayTimeout {
		t.Fatalf("err = %v; want a timeout that maps to 504", err)
	}
	if d := time.Since(start); d > waitTimeout/2 {
		t.Errorf("the read timeout fired after %v", d)
	}
	waitFor(t, "the connection to be closed", func() bool { return srv.closed.Load() == 1 }, nil)
}

func TestH1ContextCancel(t *testing.T) {
	release := make(chan struct{})
	arrived := make(chan struct{}, 2)
	srv := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/body" {
			io.WriteString(w, "first part")
			w.(http.Flusher).Flush()
		}
		arrived <- struct{}{}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer close(release)
	c := newTestH1(t, time.Minute)

	t.Run("mid-body", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/body", nil)
		resp, err := c.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		recv(t, arrived, "the request to reach the server")
		buf := make([]byte, len("first part"))
		if _, err := io.ReadFull(resp.Body, buf); err != nil {
			t.Fatal(err)
		}
		cancel()
		if _, err := resp.Body.Read(buf); !errors.Is(err, context.Canceled) {
			t.Errorf("read after cancel: %v, want context.Canceled", err)
		}
	})
	t.Run("waiting for headers", func(t *testing.T) {
		ctx, cancel := context.WithCancelCause(context.Background())
		req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/head", nil)
		go func() {
			<-arrived
			cancel(errUpstreamTimeout)
		}()
		if _, err := c.RoundTrip(req); !errors.Is(err, errUpstreamTimeout) {
			t.Errorf("err = %v, want the context's cause", err)
		}
	})
	waitFor(t, "both connections to be closed", func() bool { return srv.closed.Load() == 2 }, nil)
}

func TestH1DialFailure(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there any more
	c := newTestH1(t, time.Second)
	_, _, err = h1Do(t, c, "POST", "http://"+addr+"/", strings.NewReader("body"))
	if !errors.Is(err, errConnect) {
		t.Errorf("err = %v, want errConnect", err)
	}
}

// TestH1CloseBeforeEOF: a body closed with a small rest already buffered
// keeps its connection; one with a large rest loses it.
func TestH1CloseBeforeEOF(t *testing.T) {
	srv := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := 100
		if r.URL.Path == "/large" {
			n = 1 << 20
		}
		w.Header().Set("Content-Length", fmt.Sprint(n))
		w.Write(bytes.Repeat([]byte("x"), n))
	}))
	c := newTestH1(t, time.Second)
	get := func(path string) {
		resp := h1Get(t, c, srv.URL+path)
		buf := make([]byte, 10)
		if _, err := io.ReadFull(resp.Body, buf); err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if _, err := resp.Body.Read(buf); err == nil {
			t.Error("read after Close succeeded")
		}
	}
	get("/small")
	get("/small")
	if n := srv.opened.Load(); n != 1 {
		t.Errorf("small rests: %d connections, want 1", n)
	}
	get("/large")
	get("/small")
	if n := srv.opened.Load(); n != 2 {
		t.Errorf("after a large rest: %d connections, want 2", n)
	}
}

func TestH1IdleConnectionsClosed(t *testing.T) {
	srv := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	c := newTestH1(t, time.Second)
	c.pool.idleTimeout = 20 * time.Millisecond
	if _, _, err := h1Do(t, c, "GET", srv.URL, nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the janitor to close the idle connection", func() bool { return srv.closed.Load() == 1 }, nil)
	if n := c.pool.idleCount(); n != 0 {
		t.Errorf("%d connections still pooled", n)
	}

	c.pool.idleTimeout = time.Minute
	if _, _, err := h1Do(t, c, "GET", srv.URL, nil); err != nil {
		t.Fatal(err)
	}
	c.CloseIdleConnections()
	waitFor(t, "CloseIdleConnections to close it", func() bool { return srv.closed.Load() == 2 }, nil)
	if _, _, err := h1Do(t, c, "GET", srv.URL, nil); err != nil {
		t.Fatalf("the pool is unusable after CloseIdleConnections: %v", err)
	}
}

func TestH1MaxIdlePerHost(t *testing.T) {
	const parallel = 8
	gate := make(chan struct{})
	arrived := make(chan struct{}, parallel)
	srv := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-gate
	}))
	c := newTestH1(t, waitTimeout)
	errs := make(chan error, parallel)
	for range parallel {
		go func() {
			_, _, err := h1Do(t, c, "GET", srv.URL, nil)
			errs <- err
		}()
	}
	for range parallel {
		recv(t, arrived, "every request to be in flight")
	}
	close(gate)
	for range parallel {
		if err := recv(t, errs, "the requests to finish"); err != nil {
			t.Error(err)
		}
	}
	if n := c.pool.idleCount(); n != c.pool.maxIdle {
		t.Errorf("%d idle connections, want maxIdle %d", n, c.pool.maxIdle)
	}
	waitFor(t, "the surplus connections to close", func() bool { return srv.closed.Load() == parallel-int64(c.pool.maxIdle) }, nil)
}

// idleCount is the number of idle connections in the pool.
func (p *h1Pool) idleCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, list := range p.idle {
		n += len(list)
	}
	return n
}
