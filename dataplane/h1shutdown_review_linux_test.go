package dataplane

// Review tests of a8289f3 ("dataplane: close no client connection until
// the listener is closed"): graceful Shutdown must close idle keep-alive
// connections promptly and give every client that connected before the
// listener closed an answer. Both failed on that commit (the causes were
// older) and pass since the fix that followed.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/waitfor"
	"github.com/tollgate/tollgate/store"
)

// reviewShutdownPrompt bounds a Shutdown that has only idle keep-alive
// connections to close: Shutdown closes those every 10 ms.
const reviewShutdownPrompt = time.Second

// TestReviewDrainingStreamedIdleConnDelaysShutdown: after a response too
// large for the loop's buffer was streamed (evescalate_linux.go), the
// goroutine server adopts the keep-alive connection (h1Server.adopt) as a
// brand-new connection: state connNew, accepted now. Shutdown's closeIdle
// leaves a connNew connection alone for h1NewConnGrace (5 s), so an idle
// keep-alive client whose last answer was streamed holds Shutdown for 5 s
// instead of being closed at once. The goroutine engine (reference)
// closes the same idle client at once.
func TestReviewDrainingStreamedIdleConnDelaysShutdown(t *testing.T) {
	big := strings.Repeat("0123456789abcdef", 8<<10) // 128 KiB > evMaxResponse
	onEngines(t, func(t *testing.T, engine string) {
		up := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", fmt.Sprint(len(big)))
			_, _ = io.WriteString(w, big)
		}))
		gw := startGateway(t, oneRoute(1, up.URL, store.Route{Paths: []string{"/"}}), Options{Engine: engine})
		s := evServer(t, gw)
		cc := confDial(t, gw.addr)
		if resp, body := cc.do(t, "GET", confGet("/big")); resp.StatusCode != 200 || body != big || resp.Close {
			t.Fatalf("big: %d, %d bytes, close %v", resp.StatusCode, len(body), resp.Close)
		}
		// The client is idle on a keep-alive connection the server holds.
		waitfor.Condition(t, waitTimeout, "the idle keep-alive connection", func() bool {
			// With the loops, the connection is adopted idle after the
			// stream, then given back to a loop (giveBack), idle again.
			for _, c := range s.h1tlsConns() {
				if c.state.Load() == connIdle {
					return true
				}
			}
			return false
		})
		if engine == EngineEpoll {
			if _, _, streamed := gw.loopCounts(); streamed != 1 {
				t.Fatalf("streamed %d, want 1", streamed)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), reviewShutdownPrompt)
		defer cancel()
		start := time.Now()
		err := gw.Shutdown(ctx)
		if err != nil {
			t.Errorf("Shutdown with one idle keep-alive client: %v after %v; want it closed and Shutdown done at once",
				err, time.Since(start).Round(time.Millisecond))
		}
		cc.expectClosed(t)
	})
}

// TestReviewDrainingH2ClientAcceptedBeforeShutdown: a client whose
// connection was accepted before Shutdown (by the accept loop, or taken in
// from the listener's queue by serveQueued/drainBacklog precisely so that
// it is served, not reset) is served when it speaks HTTP/1.1
// (TestH1TLSReviewShutdownSparesHandshake), but not when it speaks
// HTTP/2: Shutdown closes h2ln right after the listener (and h2.Serve
// returns), so the TLS handshake that negotiates h2, or the h2c preface,
// that arrives a moment later finds push failing, and the connection is
// closed without an answer (h1Server.handshake, h1ServerConn.serve
// handOffH2). The listener's queue is taken in (serveQueued,
// drainBacklog) precisely for such clients, which connected just before
// the listener closed; those that speak HTTP/2 are dropped anyway.
func TestReviewDrainingH2ClientAcceptedBeforeShutdown(t *testing.T) {
	cases := []struct {
		name   string
		engine string
		tls    bool
	}{
		{"tls-h2", EngineGoroutine, true},
		{"h2c-goroutine", EngineGoroutine, false},
		{"h2c-epoll", EngineEpoll, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			echo := newTextEcho(t)
			cfg := oneRoute(1, echo, store.Route{Paths: []string{"/"}})
			var roots *x509.CertPool
			if tc.tls {
				cert, key, x := selfSigned(t, "a.test")
				cfg.Certificates = []store.Certificate{{Name: "a", Cert: cert, Key: key, SNIs: []string{"a.test"}}}
				roots = x509.NewCertPool()
				roots.AddCert(x)
			}
			gw := startGateway(t, cfg, Options{Engine: tc.engine})
			addr := gw.addr
			if tc.tls {
				addr = serveTLS(t, gw)
			}
			s := h1tlsServer(t, gw.Gateway, tc.tls)
			if !tc.tls {
				s = evServer(t, gw)
			}
			raw, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer raw.Close()
			_ = raw.SetDeadline(time.Now().Add(waitTimeout))
			waitfor.Condition(t, waitTimeout, "the connection to be accepted", func() bool { return connCount(s) == 1 })

			shut := startShutdown(t, gw.Gateway, s)
			// The client's first bytes arrive after Shutdown closed the
			// listener and began to wait for the connections it holds,
			// this one included (it is new: h1NewConnGrace).
			waitfor.Condition(t, waitTimeout, "Shutdown to wait for the connections", func() bool {
				s.mu.Lock()
				defer s.mu.Unlock()
				return s.draining.Load() && s.done != nil
			})

			var conn net.Conn = raw
			tr := &http.Transport{}
			used := false
			dial := func(ctx context.Context, _, _ string) (net.Conn, error) {
				if used { // a retry (after a GOAWAY, say): the listener is closed
					return (&net.Dialer{}).DialContext(ctx, "tcp", addr)
				}
				used = true
				return conn, nil
			}
			url := "http://" + addr + "/h2"
			if tc.tls {
				tlsConn := tls.Client(raw, &tls.Config{RootCAs: roots, ServerName: "a.test", NextProtos: []string{"h2"}})
				if err := tlsConn.Handshake(); err != nil {
					t.Fatalf("handshake of a connection accepted before Shutdown: %v", err)
				}
				if p := tlsConn.ConnectionState().NegotiatedProtocol; p != "h2" {
					t.Fatalf("negotiated %q, want h2", p)
				}
				conn = tlsConn
				tr.ForceAttemptHTTP2 = true
				tr.TLSClientConfig = &tls.Config{RootCAs: roots, ServerName: "a.test"}
				tr.DialTLSContext = dial
				url = "https://a.test/h2"
			} else {
				tr.Protocols = h2cProtocols()
				tr.DialContext = dial
			}
			defer tr.CloseIdleConnections()
			resp, err := (&http.Client{Transport: tr, Timeout: waitTimeout}).Get(url)
			if errors.Is(err, syscall.ECONNREFUSED) {
				t.Logf("told to go away, and refused on a new connection: %v", err)
				if err := recv(t, shut, "Shutdown"); err != nil {
					t.Errorf("Shutdown: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("HTTP/2 request on a connection accepted before Shutdown: %v; want an answer or a refused connection", err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.ProtoMajor != 2 || resp.StatusCode != 200 || string(body) != "GET /h2 " {
				t.Errorf("got %s %d %q", resp.Proto, resp.StatusCode, body)
			}
			if err := recv(t, shut, "Shutdown"); err != nil {
				t.Errorf("Shutdown: %v", err)
			}
		})
	}
}
