package dataplane

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/waitfor"
	"github.com/tollgate/tollgate/store"
)

// h1tlsServer waits for the gateway's h1Server (TLS or plain) to be registered.
func h1tlsServer(t *testing.T, g *Gateway, wantTLS bool) *h1Server {
	t.Helper()
	var found *h1Server
	waitfor.Condition(t, waitTimeout, "the server to register", func() bool {
		g.srvMu.Lock()
		defer g.srvMu.Unlock()
		for s := range g.servers {
			if h, ok := s.(*h1Server); ok && (h.tls != nil) == wantTLS {
				found = h
				return true
			}
		}
		return false
	})
	return found
}

func (s *h1Server) h1tlsConns() []*h1ServerConn {
	s.mu.Lock()
	defer s.mu.Unlock()
	var cs []*h1ServerConn
	for c := range s.conns {
		cs = append(cs, c)
	}
	return cs
}

// TestH1TLSReviewShutdownSparesHandshake: a client whose connection was
// accepted just before Shutdown, and which is still in its TLS handshake,
// must be served (as net/http did: a StateNew connection is not idle for
// its first 5 s). The h1Server treats the connection as idle during the
// handshake and closes it under the client.
func TestH1TLSReviewShutdownSparesHandshake(t *testing.T) {
	gw, addr, roots := startTLSGateway(t)
	s := h1tlsServer(t, gw.Gateway, true)

	raw, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	_ = raw.SetDeadline(time.Now().Add(waitTimeout))
	waitfor.Condition(t, waitTimeout, "the connection to be accepted", func() bool { return len(s.h1tlsConns()) == 1 })

	shut := startShutdown(t, gw.Gateway, s)

	tc := tls.Client(raw, &tls.Config{RootCAs: roots, ServerName: "a.test", NextProtos: []string{"http/1.1"}})
	if err := tc.Handshake(); err != nil {
		t.Fatalf("handshake of a connection accepted before Shutdown: %v", err)
	}
	if _, err := io.WriteString(tc, "GET /x HTTP/1.1\r\nHost: a.test\r\n\r\n"); err != nil {
		t.Fatalf("writing the request: %v", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(tc), nil)
	if err != nil {
		t.Fatalf("request on a connection accepted before Shutdown: %v", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("status %d, want 200", resp.StatusCode)
	}
	if err := recv(t, shut, "Shutdown"); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

// TestH1TLSReviewShutdownKeepsLinger: a connection lingering after a
// refused upload (the client still sending) is marked idle before close()
// lingers, so Shutdown's closeIdle closes it at once: the client still
// sending then gets a reset, which the linger exists to prevent.
func TestH1TLSReviewShutdownKeepsLinger(t *testing.T) {
	up := newConfUpstream(t)
	gw := startGateway(t, oneRoute(1, up.url, store.Route{Paths: []string{"/"}}), Options{MaxRequestBodyBytes: 1 << 10})
	s := h1tlsServer(t, gw.Gateway, false)

	conn, err := net.Dial("tcp", gw.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(waitTimeout))
	const size = 8 << 20
	head := "POST /echo HTTP/1.1\r\nHost: tollgate.test\r\nContent-Length: " + strconv.Itoa(size) + "\r\n\r\n"
	if _, err := io.WriteString(conn, head+strings.Repeat("x", 4096)); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("reading the 413: %v", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d, want 413", resp.StatusCode)
	}

	// Shutdown begins while the server lingers on the connection; the
	// client goes on sending the body for a while (well within h1Linger
	// and h1LingerBytes), then ends it.
	shut := startShutdown(t, gw.Gateway, s)
	chunk := make([]byte, 1024)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for i := range 40 { // 200 ms, 40 KiB
		<-tick.C
		if _, err := conn.Write(chunk); err != nil {
			t.Fatalf("write %d while the server should linger: %v", i, err)
		}
	}
	_ = conn.(*net.TCPConn).CloseWrite()
	if _, err := io.Copy(io.Discard, br); err != nil && !errors.Is(err, io.EOF) {
		t.Fatalf("the connection was reset, not closed: %v", err)
	}
	if err := recv(t, shut, "Shutdown"); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

// startShutdown runs gw.Shutdown in the background and returns its result
// channel once s has begun shutting down.
func startShutdown(t *testing.T, gw *Gateway, s *h1Server) <-chan error {
	t.Helper()
	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		shut <- gw.Shutdown(ctx)
	}()
	waitfor.Condition(t, waitTimeout, "Shutdown to begin", s.shutting.Load)
	return shut
}
