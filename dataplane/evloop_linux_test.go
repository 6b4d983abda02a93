//go:build linux

package dataplane

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/waitfor"
	"github.com/tollgate/tollgate/store"
)

// The whole package's tests also run with TOLLGATE_TEST_ENGINE=epoll
// (make test); these are the engine's own.

// newTextEcho answers "METHOD path body".
func newTextEcho(t *testing.T) string {
	srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s %s", r.Method, r.URL.Path, b)
	}))
	return srv.URL
}

func startEpoll(t *testing.T, cfg *store.Config, opts Options) *testGateway {
	t.Helper()
	opts.Engine = EngineEpoll
	return startGateway(t, cfg, opts)
}

func TestEpollServesOnTheLoop(t *testing.T) {
	gw := startEpoll(t, oneRoute(1, newTextEcho(t), store.Route{Paths: []string{"/"}}), Options{})
	for i := range 20 {
		resp, body := gw.get(t, fmt.Sprintf("/n/%d", i))
		if resp.StatusCode != 200 || string(body) != fmt.Sprintf("GET /n/%d ", i) {
			t.Fatalf("#%d: %d %s", i, resp.StatusCode, body)
		}
		if resp.Header.Get(headerRequestID) == "" {
			t.Fatalf("#%d: no request id", i)
		}
	}
	served, handedOff, _ := gw.loopCounts()
	if served < 20 || handedOff != 0 {
		t.Errorf("served %d on the loops, handed off %d: want 20 and 0", served, handedOff)
	}
	gw.logs.waitLog(t, func(r map[string]slog.Value) bool { return r["path"].String() == "/n/19" && r["status"].Int64() == 200 })
	if err := gw.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if after, _, _ := gw.loopCounts(); after != served {
		t.Errorf("after Shutdown the loops count %d requests served, want the %d counted before", after, served)
	}
}

// confChunkedPost is an HTTP/1.1 POST of body to path, chunked.
func confChunkedPost(path, body string) string {
	return fmt.Sprintf("POST %s HTTP/1.1\r\nHost: tollgate.test\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n", path, len(body), body)
}

// TestEpollHandsOverMidConnection: a request whose body the loop does not
// take in (chunked) moves the connection to the goroutine server between
// two requests the loop served, with nothing lost or reordered.
func TestEpollHandsOverMidConnection(t *testing.T) {
	gw := startEpoll(t, oneRoute(1, newTextEcho(t), store.Route{Paths: []string{"/"}}), Options{})
	cc := confDial(t, gw.addr)
	for i, tt := range []struct{ raw, want string }{
		{confGet("/a"), "GET /a "}, {confChunkedPost("/b", "hello"), "POST /b hello"}, {confGet("/c"), "GET /c "},
	} {
		method := strings.Fields(tt.raw)[0]
		resp, body := cc.do(t, method, tt.raw)
		if resp.StatusCode != 200 || body != tt.want {
			t.Fatalf("#%d: %d %q, want %q", i, resp.StatusCode, body, tt.want)
		}
	}
	// Pipelined: the loop's answer, then the handed-over ones, in order.
	cc = confDial(t, gw.addr)
	if err := cc.write(confGet("/p1") + confChunkedPost("/p2", "xy") + confGet("/p3")); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"GET /p1 ", "POST /p2 xy", "GET /p3 "} {
		resp, body, err := cc.read(strings.Fields(want)[0])
		if err != nil || resp.StatusCode != 200 || body != want {
			t.Fatalf("pipelined %q: %v %v %q", want, resp, err, body)
		}
	}
	_, handedOff, _ := gw.loopCounts()
	if handedOff != 2 {
		t.Errorf("handed off %d connections, want 2", handedOff)
	}
}

// TestEpollServesBodiesOnTheLoop: requests with a Content-Length body up
// to evMaxBody are proxied by the loop, pipelined or not, with the body
// byte for byte; a larger one is handed over and still arrives whole.
func TestEpollServesBodiesOnTheLoop(t *testing.T) {
	gw := startEpoll(t, oneRoute(1, newTextEcho(t), store.Route{Paths: []string{"/"}}), Options{})
	max := strings.Repeat("m", evMaxBody)
	cc := confDial(t, gw.addr)
	for i, tt := range []struct{ raw, want string }{
		{confPost("/a", "hello"), "POST /a hello"},
		{"PUT /b HTTP/1.1\r\nHost: tollgate.test\r\nContent-Length: 0\r\n\r\n", "PUT /b "},
		{"DELETE /c HTTP/1.1\r\nHost: tollgate.test\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc", "DELETE /c abc"},
		{confPost("/d", max), "POST /d " + max},
		{confGet("/e"), "GET /e "},
	} {
		method := strings.Fields(tt.raw)[0]
		resp, body := cc.do(t, method, tt.raw)
		if resp.StatusCode != 200 || body != tt.want {
			t.Fatalf("#%d: %d %.40q, want %.40q", i, resp.StatusCode, body, tt.want)
		}
	}
	cc = confDial(t, gw.addr)
	if err := cc.write(confPost("/p1", "one") + confGet("/p2") + confPost("/p3", "GET /p4 HTTP/1.1\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"POST /p1 one", "GET /p2 ", "POST /p3 GET /p4 HTTP/1.1\r\n\r\n"} {
		resp, body, err := cc.read(strings.Fields(want)[0])
		if err != nil || resp.StatusCode != 200 || body != want {
			t.Fatalf("pipelined %q: %v %v %q", want, resp, err, body)
		}
	}
	if served, handedOff, _ := gw.loopCounts(); handedOff != 0 || served < 8 {
		t.Fatalf("served %d on the loops, handed off %d: want 8 and 0", served, handedOff)
	}
	over := max + "!"
	if resp, body := cc.do(t, "POST", confPost("/big", over)); resp.StatusCode != 200 || body != "POST /big "+over {
		t.Fatalf("a body over evMaxBody: %d, %d bytes", resp.StatusCode, len(body))
	}
	if _, handedOff, _ := gw.loopCounts(); handedOff != 1 {
		t.Errorf("handed off %d connections after a body over evMaxBody, want 1", handedOff)
	}
}

// TestEpollSlowBodyIsHandedOver: a body whose rest does not come within
// evBodyWait moves the connection to the goroutine server, which reads
// the rest when it comes.
func TestEpollSlowBodyIsHandedOver(t *testing.T) {
	gw := startEpoll(t, oneRoute(1, newTextEcho(t), store.Route{Paths: []string{"/"}}), Options{})
	cc := confDial(t, gw.addr)
	raw := confPost("/slow", "0123456789")
	if err := cc.write(raw[:len(raw)-4]); err != nil {
		t.Fatal(err)
	}
	waitfor.Condition(t, waitTimeout, "the connection handed over", func() bool {
		_, handedOff, _ := gw.loopCounts()
		return handedOff == 1
	})
	if err := cc.write(raw[len(raw)-4:]); err != nil {
		t.Fatal(err)
	}
	if resp, body, err := cc.read("POST"); err != nil || resp.StatusCode != 200 || body != "POST /slow 0123456789" {
		t.Fatalf("%v %v %q", resp, err, body)
	}
	cc.inSync(t)
}

// TestEpollServesTransformRoutes: header transforms are inline: the
// loops apply them, to upstream answers and gateway errors alike.
func TestEpollServesTransformRoutes(t *testing.T) {
	gw := checkTransforms(t, func(cfg *store.Config) *testGateway { return startEpoll(t, cfg, Options{}) })
	if served, handedOff, _ := gw.loopCounts(); handedOff != 0 || served < 3 {
		t.Errorf("served %d on the loops, handed off %d: want 3 and 0", served, handedOff)
	}
}

// TestEpollServesNamedTargets: a service given by name is served by the
// loops once the background lookup has an address, with the name kept in
// the Host field (before that, see TestEpollServesNamesNotYetResolved).
func TestEpollServesNamedTargets(t *testing.T) {
	echo := newEcho(t)
	named := "localhost:" + strings.TrimPrefix(echo.URL, "http://127.0.0.1:")
	gw := startEpoll(t, oneRoute(1, "http://"+named, store.Route{Paths: []string{"/"}}), Options{})
	waitfor.Condition(t, waitTimeout, "the target's name resolved", func() bool {
		return gw.snap.Load().router.services[0].dialable()
	})
	if got := gw.snap.Load().router.services[0].targets[0].dialAddr(); got != echo.Listener.Addr().String() {
		t.Fatalf("the loops dial %q, want %q", got, echo.Listener.Addr())
	}
	_, before, _ := gw.loopCounts()
	for i := range 5 {
		resp, body := gw.get(t, fmt.Sprintf("/n/%d", i))
		if got := decodeSeen(t, body); resp.StatusCode != 200 || got.Host != named {
			t.Fatalf("#%d: %d, the upstream saw Host %q, want %q", i, resp.StatusCode, got.Host, named)
		}
	}
	if _, handedOff, _ := gw.loopCounts(); handedOff != before {
		t.Errorf("handed off %d connections after the name resolved", handedOff-before)
	}
}

// inlineNamed is a named InlinePolicy that answers 401 itself when the
// request has X-Reject.
type inlineNamed string

func (p inlineNamed) Name() string { return string(p) }

func (p inlineNamed) Wrap(next Handler) Handler {
	return func(rc *RequestContext) {
		if p.Before(rc) {
			next(rc)
		}
	}
}

func (p inlineNamed) Before(rc *RequestContext) bool {
	if rc.Request.Header.Get("X-Reject") != "" {
		rc.Reject(http.StatusUnauthorized, "unauthorized", "no")
		return false
	}
	return true
}

// TestEpollRecordsSpans: with tracing on, the loops serve the route and
// record each sampled request's span with the steps the goroutine path
// times: each named policy, then the upstream.
func TestEpollRecordsSpans(t *testing.T) {
	echo := newEcho(t)
	cfg := oneRoute(1, echo.URL, store.Route{Paths: []string{"/api"}})
	cfg.Tracing = &store.Tracing{OTLPEndpoint: "http://collector:4318"}
	sink := newSpanSink()
	gw := startEpoll(t, cfg, Options{Spans: sink, TraceSample: 1, Policies: func(*store.Config, *store.Route) ([]Policy, error) {
		return []Policy{inlineNamed("auth:test"), inlineNamed("second")}, nil
	}})
	resp, body := gw.get(t, "/api/x", "Traceparent", testTP)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	rec := recv(t, sink.got, "a span record")
	if got := decodeSeen(t, body).Header.Get(headerTraceparent); got != "00-"+testTraceID+"-"+hex.EncodeToString(rec.Access.SpanID[:])+"-01" {
		t.Errorf("the upstream saw traceparent %q, span id %x", got, rec.Access.SpanID)
	}
	if hex.EncodeToString(rec.ParentID[:]) != testParent || rec.Access.Status != 200 || rec.Name != "route" {
		t.Errorf("record %+v, access %+v", rec, rec.Access)
	}
	checkSteps(t, rec, "auth:test", "second", UpstreamStep)
	if resp, _ := gw.get(t, "/api/x", "X-Reject", "1"); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("status %d", resp.StatusCode)
	}
	checkSteps(t, recv(t, sink.got, "the rejected request's span"), "auth:test")
	if served, handedOff, _ := gw.loopCounts(); handedOff != 0 || served != 2 {
		t.Errorf("served %d on the loops, handed off %d: want 2 and 0", served, handedOff)
	}
}

// TestEpollMirrors: the loops serve a mirrored route, and the shadow
// gets each request with its body.
func TestEpollMirrors(t *testing.T) {
	primary, shadow := newBodyRecorder(t, "primary"), newBodyRecorder(t, "shadow")
	gw := startEpoll(t, mirrorConfig(primary.url, shadow.url, store.Mirror{}), Options{})
	cc := confDial(t, gw.addr)
	for _, body := range []string{"hello", "", strings.Repeat("b", evMaxBody)} {
		if resp, got := cc.do(t, "POST", confPost("/m", body)); resp.StatusCode != 200 || got != "primary" {
			t.Fatalf("%d %q", resp.StatusCode, got)
		}
		want := sha256.Sum256([]byte(body))
		if got := recv(t, primary.hashes, "the primary's body"); got != want {
			t.Errorf("the primary got another body than %.20q", body)
		}
		if got := recv(t, shadow.hashes, "the shadow's body"); got != want {
			t.Errorf("the shadow got another body than %.20q", body)
		}
	}
	if served, handedOff, _ := gw.loopCounts(); handedOff != 0 || served != 3 {
		t.Errorf("served %d on the loops, handed off %d: want 3 and 0", served, handedOff)
	}
}

// TestEpollPolicyRoutesGoToGoroutines: a route whose chain has a policy
// that is not inline is served by the goroutine server, policy included.
func TestEpollPolicyRoutesGoToGoroutines(t *testing.T) {
	echo := newEcho(t)
	tagged := policyFunc(func(next Handler) Handler {
		return func(rc *RequestContext) {
			rc.Writer.Header().Set("X-Policy", "ran")
			next(rc)
		}
	})
	gw := startEpoll(t, oneRoute(1, echo.URL, store.Route{Paths: []string{"/"}}), Options{
		Policies: func(*store.Config, *store.Route) ([]Policy, error) { return []Policy{tagged}, nil },
	})
	resp, body := gw.get(t, "/x")
	if resp.StatusCode != 200 || resp.Header.Get("X-Policy") != "ran" {
		t.Fatalf("%d %v %s", resp.StatusCode, resp.Header, body)
	}
	gw.get(t, "/y")
	if st := gw.LoopStats(); st.HandedOff != 1 || st.TakenBack != 0 {
		t.Errorf("handed off %d, given back %d: want 1 and 0 (the route is the reason)", st.HandedOff, st.TakenBack)
	}
}

// TestEpollLargeResponseIsStreamed: a body larger than the loop buffers
// goes through a goroutine whole, and the connection serves on.
func TestEpollLargeResponseIsStreamed(t *testing.T) {
	big := strings.Repeat("0123456789abcdef", 20<<10) // 320 KiB
	up := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/big" {
			w.Header().Set("Content-Length", fmt.Sprint(len(big)))
			io.WriteString(w, big)
			return
		}
		io.WriteString(w, "small")
	}))
	gw := startEpoll(t, oneRoute(1, up.URL, store.Route{Paths: []string{"/"}}), Options{})
	cc := confDial(t, gw.addr)
	for range 2 {
		if resp, body := cc.do(t, "GET", confGet("/big")); resp.StatusCode != 200 || body != big {
			t.Fatalf("big: %d, %d bytes", resp.StatusCode, len(body))
		}
		if resp, body := cc.do(t, "GET", confGet("/small")); resp.StatusCode != 200 || body != "small" {
			t.Fatalf("small: %d %q", resp.StatusCode, body)
		}
	}
	// The connection comes back to the loops after each stream: at once,
	// or, when the stream's client watch read the first byte of the next
	// request, once the goroutine server has answered that one.
	waitfor.Condition(t, waitTimeout, "the connection given back after each stream", func() bool {
		return gw.LoopStats().TakenBack == 2
	})
	if st := gw.LoopStats(); st.Streamed != 2 {
		t.Errorf("streamed %d, want 2", st.Streamed)
	}
}

// TestEpollGivesConnectionsBack: a connection handed over for a request
// the loops do not take in (a chunked or large body), or for a response
// too large to buffer, comes back to the loops once idle; one handed over
// for its route stays with the goroutine server.
func TestEpollGivesConnectionsBack(t *testing.T) {
	gw := startEpoll(t, oneRoute(1, newTextEcho(t), store.Route{Paths: []string{"/"}}), Options{})
	large := strings.Repeat("l", evMaxBody+1)
	cc := confDial(t, gw.addr)
	for i, tt := range []struct{ raw, want string }{
		{confChunkedPost("/a", "hello"), "POST /a hello"},
		{confGet("/b"), "GET /b "},
		{confPost("/c", large), "POST /c " + large},
		{confGet("/d"), "GET /d "},
		{confGet("/e"), "GET /e "},
	} {
		method := strings.Fields(tt.raw)[0]
		resp, body := cc.do(t, method, tt.raw)
		if resp.StatusCode != 200 || body != tt.want {
			t.Fatalf("#%d: %d %.40q, want %.40q", i, resp.StatusCode, body, tt.want)
		}
	}
	if st := gw.LoopStats(); st.HandedOff != 2 || st.TakenBack != 2 || st.Served != 3 {
		t.Errorf("handed off %d, given back %d, served on the loops %d: want 2, 2 and 3", st.HandedOff, st.TakenBack, st.Served)
	}
}

// TestEpollStreamingBodyFlowsEarly: the first piece of a response whose
// body has no end yet reaches the client before the upstream sends the
// rest (server-sent events and the like).
func TestEpollStreamingBodyFlowsEarly(t *testing.T) {
	release := make(chan struct{})
	up := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "data: first\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		io.WriteString(w, "data: second\n\n")
	}))
	gw := startEpoll(t, oneRoute(1, up.URL, store.Route{Paths: []string{"/"}}), Options{})
	cc := confDial(t, gw.addr)
	if err := cc.write(confGet("/events")); err != nil {
		t.Fatal(err)
	}
	_ = cc.c.SetReadDeadline(time.Now().Add(waitTimeout))
	resp, err := http.ReadResponse(cc.br, nil)
	if err != nil {
		t.Fatal(err)
	}
	first := make([]byte, len("data: first\n\n"))
	if _, err := io.ReadFull(resp.Body, first); err != nil || string(first) != "data: first\n\n" {
		t.Fatalf("first event: %q %v", first, err)
	}
	close(release)
	rest, err := io.ReadAll(resp.Body)
	if err != nil || string(rest) != "data: second\n\n" {
		t.Fatalf("rest: %q %v", rest, err)
	}
}

// TestMaxConnsQueuesClients: beyond Options.MaxConns a client waits in
// the accept queue until a connection closes (with either engine).
func TestMaxConnsQueuesClients(t *testing.T) {
	echo := newEcho(t)
	gw := startGateway(t, oneRoute(1, echo.URL, store.Route{Paths: []string{"/"}}), Options{MaxConns: 1})
	a := confDial(t, gw.addr)
	if resp, _ := a.do(t, "GET", confGet("/a")); resp.StatusCode != 200 {
		t.Fatalf("a: %d", resp.StatusCode)
	}
	b := confDial(t, gw.addr)
	if err := b.write(confGet("/b")); err != nil {
		t.Fatal(err)
	}
	_ = b.c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if _, err := b.br.Peek(1); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("a second connection over MaxConns 1 was served: %v", err)
	}
	a.c.Close()
	if resp, _, err := b.read("GET"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("b after a closed: %v %v", resp, err)
	}
}

// TestEpollUpstreamClosesIdle: a pooled upstream connection the upstream
// closes is noticed, and the next request goes on a new one.
func TestEpollUpstreamClosesIdle(t *testing.T) {
	conns := make(chan net.Conn, 4)
	addr := rawUpstream(t, func(c net.Conn, br *bufio.Reader) {
		if _, err := readHead(br); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		conns <- c
	})
	gw := startEpoll(t, oneRoute(1, "http://"+addr, store.Route{Paths: []string{"/"}}), Options{})
	cc := confDial(t, gw.addr)
	for i := range 3 {
		if resp, body := cc.do(t, "GET", confGet("/")); resp.StatusCode != 200 || body != "ok" {
			t.Fatalf("#%d: %d %q", i, resp.StatusCode, body)
		}
		recv(t, conns, "the upstream connection").Close() // rawUpstream closes it as serve returns
	}
}

// gatePolicy is an InlinePolicy: it refuses requests with X-Deny and
// marks the others.
type gatePolicy struct{ inline bool }

func (p gatePolicy) Wrap(next Handler) Handler {
	return func(rc *RequestContext) {
		if p.Before(rc) {
			next(rc)
		}
	}
}

func (gatePolicy) Before(rc *RequestContext) bool {
	if rc.Request.Header.Get("X-Deny") != "" {
		rc.Reject(http.StatusUnauthorized, "denied", "denied by the gate")
		return false
	}
	rc.Request.Header.Set("X-Gate", "passed")
	rc.Writer.Header().Set("X-Gate-Seen", "yes") // relayed with the upstream's head
	return true
}

func (p gatePolicy) Inline() bool { return p.inline }

// TestEpollRunsInlinePolicies: a route whose policies are all inline is
// served on the loop, refusals included; one that says it is not inline
// after all goes to goroutines.
func TestEpollRunsInlinePolicies(t *testing.T) {
	up := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Header.Get("X-Gate"))
	}))
	for _, inline := range []bool{true, false} {
		gw := startEpoll(t, oneRoute(1, up.URL, store.Route{Paths: []string{"/"}}), Options{
			Policies: func(*store.Config, *store.Route) ([]Policy, error) { return []Policy{gatePolicy{inline}}, nil },
		})
		if resp, body := gw.get(t, "/ok"); resp.StatusCode != 200 || string(body) != "passed" || resp.Header.Get("X-Gate-Seen") != "yes" {
			t.Fatalf("inline %v: %d %q %v", inline, resp.StatusCode, body, resp.Header)
		}
		resp, body := gw.get(t, "/no", "X-Deny", "1")
		checkGatewayError(t, resp, body, http.StatusUnauthorized, "denied")
		served, handedOff, _ := gw.loopCounts()
		if inline && (served != 2 || handedOff != 0) || !inline && handedOff == 0 {
			t.Errorf("inline %v: served %d on the loop, handed off %d", inline, served, handedOff)
		}
	}
}

// TestEpollSpreadsConnections: connections dialled in a row are spread
// evenly over the loops, though the kernel wakes the same loop for most
// of them.
func TestEpollSpreadsConnections(t *testing.T) {
	gw := startEpoll(t, oneRoute(1, newTextEcho(t), store.Route{Paths: []string{"/"}}), Options{EventLoops: 2})
	for range 64 {
		confDial(t, gw.addr)
	}
	loops := reviewLoops(evServer(t, gw))
	counts := make([]int, len(loops))
	waitfor.Condition(t, waitTimeout, "the loops to open all 64 connections", func() bool {
		total := 0
		for i, l := range loops {
			onLoop(t, l, func() { counts[i] = l.clients })
			total += counts[i]
		}
		return total == 64
	})
	for i, n := range counts {
		if n < 28 || n > 36 {
			t.Errorf("loop %d holds %d of 64 connections, want about 32 (%v)", i, n, counts)
		}
	}
}
