//go:build linux

package dataplane

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/tollgate/tollgate/store"
)

// nestedPanicEngines runs f on the goroutine server (the reference) and on
// the epoll engine sending with sendto (no io_uring: the default in
// containers whose seccomp profile refuses io_uring_setup).
func nestedPanicEngines(t *testing.T, f func(t *testing.T, opts Options)) {
	for _, opts := range []Options{{Engine: EngineGoroutine}, {Engine: EngineEpoll, DisableIOURing: true}} {
		t.Run(opts.Engine, func(t *testing.T) { f(t, opts) })
	}
}

// closedWithin reports whether the server ends cc's connection (EOF or
// reset, nothing more to read) before d passes.
func closedWithin(cc *confConn, d time.Duration) (bool, string) {
	_ = cc.c.SetReadDeadline(time.Now().Add(d))
	b, err := cc.br.Peek(1)
	switch {
	case err == io.EOF || errors.Is(err, syscall.ECONNRESET):
		return true, ""
	case err != nil:
		return false, err.Error()
	}
	return false, "unexpected bytes " + string(b)
}

// Found by review, fixed in evClient.resume: when a
// request's answer is written synchronously (sendto), x.end serves the
// client's next, pipelined, request from inside the handling of the
// *upstream* socket's event. A panic in that request's inline policy
// was recovered by dispatch for the upstream's descriptor: abandon found
// the upstream idle, closed it, and left the client alone, never answered
// nor closed. The goroutine server, and the loop when the panic comes
// from the client's own event, close the connection; now so does resume.
func TestNestedPolicyPanicClosesTheClient(t *testing.T) {
	nestedPanicEngines(t, func(t *testing.T, opts Options) {
		up := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
		opts.Policies = func(*store.Config, *store.Route) ([]Policy, error) { return []Policy{panicPolicy{}}, nil }
		gw := startGateway(t, oneRoute(1, up.URL, store.Route{Paths: []string{"/"}}), opts)
		cc := confDial(t, gw.addr)
		if err := cc.write(confGet("/ok") + confGet("/panic")); err != nil {
			t.Fatal(err)
		}
		resp, body, err := cc.read("GET")
		if err != nil || resp.StatusCode != 200 || body != "ok" {
			t.Fatalf("first request: %v %q %v", resp, body, err)
		}
		if closed, why := closedWithin(cc, 3*time.Second); !closed {
			t.Errorf("the connection whose pipelined request panicked in a policy is still open after 3s (%s)", why)
		}
		cc.c.Close() // before Shutdown, which would wait for the stuck connection
	})
}

// Found by review, fixed in evClient.resume: the same nested serve runs
// from the deadline scan when a request times out: evUpstream.expire -> timedOut -> attemptFailed -> fail -> end ->
// resume -> serve -> the pipelined request's policy. scan runs outside
// dispatch's recover, so a policy panic there killed the whole process
// (what TestEvReview2PolicyPanicKillsProcess fixed for dispatch). Run in a
// child process, since the failure is the process dying.
func TestPolicyPanicAfterTimeoutSparesTheProcess(t *testing.T) {
	if engine := os.Getenv("NESTED_PANIC_ENGINE"); engine != "" {
		addr := rawUpstream(t, func(c net.Conn, br *bufio.Reader) {
			_, _ = readHead(br)
			_ = c.SetReadDeadline(time.Now().Add(waitTimeout))
			_, _ = br.ReadByte() // never answers
		})
		cfg := oneRoute(1, "http://"+addr, store.Route{Paths: []string{"/"}})
		cfg.Services[0].Timeout = store.Duration(200 * time.Millisecond)
		gw := startGateway(t, cfg, Options{Engine: engine, DisableIOURing: true,
			Policies: func(*store.Config, *store.Route) ([]Policy, error) { return []Policy{panicPolicy{}}, nil }})
		cc := confDial(t, gw.addr)
		if err := cc.write(confGet("/slow") + confGet("/panic")); err != nil {
			t.Fatal(err)
		}
		if resp, _, err := cc.read("GET"); err != nil || resp.StatusCode != http.StatusGatewayTimeout {
			t.Fatalf("first request: %v %v, want 504", resp, err)
		}
		if closed, why := closedWithin(cc, 3*time.Second); !closed {
			t.Errorf("connection not closed after the panic (%s)", why)
		}
		cc.c.Close()
		return
	}
	for _, engine := range []string{EngineGoroutine, EngineEpoll} {
		t.Run(engine, func(t *testing.T) {
			inChildProcess(t, "TestPolicyPanicAfterTimeoutSparesTheProcess", "NESTED_PANIC_ENGINE="+engine,
				"the gateway process failed")
		})
	}
}

// The same stuck connection as TestNestedPolicyPanicClosesTheClient
// desynchronised a pipelining client: the request after the panicking one
// stayed buffered, and the client's next write made the loop serve it, so
// the client read /after's answer in the place of /panic's. The
// goroutine server closes the connection after /ok.
func TestNestedPolicyPanicKeepsPipelineInStep(t *testing.T) {
	nestedPanicEngines(t, func(t *testing.T, opts Options) {
		up := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.URL.Path) }))
		opts.Policies = func(*store.Config, *store.Route) ([]Policy, error) { return []Policy{panicPolicy{}}, nil }
		gw := startGateway(t, oneRoute(1, up.URL, store.Route{Paths: []string{"/"}}), opts)
		cc := confDial(t, gw.addr)
		if err := cc.write(confGet("/ok") + confGet("/panic") + confGet("/after")); err != nil {
			t.Fatal(err)
		}
		if resp, body, err := cc.read("GET"); err != nil || resp.StatusCode != 200 || body != "/ok" {
			t.Fatalf("first request: %v %q %v", resp, body, err)
		}
		_ = cc.write(confGet("/later")) // may fail: the connection should be closed
		if resp, body, err := cc.read("GET"); err == nil {
			t.Errorf("the client got %d %q as the answer to its second request, /panic", resp.StatusCode, body)
		}
		cc.c.Close()
	})
}
