//go:build linux

package dataplane

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/waitfor"
	"github.com/tollgate/tollgate/store"
)

// tlsBig is what the TLS tests' upstream answers /big with: 2 MiB.
var tlsBig = strings.Repeat("0123456789abcdef", 128<<10)

// startEpollTLS serves, on the event loops, a TLS listener whose one
// route goes to an upstream that answers /big with tlsBig, holds /slow
// until the gateway leaves (got says it arrived), and answers anything
// else with "METHOD path body X-Forwarded-Proto".
func startEpollTLS(t *testing.T, opts Options) (gw *testGateway, addr string, roots *x509.CertPool, got chan struct{}) {
	got = make(chan struct{}, 1)
	up := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/big":
			w.Header().Set("Content-Length", fmt.Sprint(len(tlsBig)))
			io.WriteString(w, tlsBig)
		case "/slow":
			got <- struct{}{}
			<-r.Context().Done()
		default:
			b, _ := io.ReadAll(r.Body)
			fmt.Fprintf(w, "%s %s %s %s", r.Method, r.URL.Path, b, r.Header.Get("X-Forwarded-Proto"))
		}
	}))
	cert, key, x := selfSigned(t, "a.test")
	cfg := oneRoute(1, up.URL, store.Route{Paths: []string{"/"}})
	cfg.Certificates = []store.Certificate{{Name: "a", Cert: cert, Key: key, SNIs: []string{"a.test"}}}
	gw = startEpoll(t, cfg, opts)
	addr = serveTLS(t, gw)
	roots = x509.NewCertPool()
	roots.AddCert(x)
	return gw, addr, roots, got
}

// tlsConfDial opens a TLS connection offering alpn (none if nil).
func tlsConfDial(t *testing.T, addr string, roots *x509.CertPool, alpn []string) *confConn {
	t.Helper()
	cc, _ := tlsConfDialHeld(t, addr, roots, alpn)
	return cc
}

// tlsConfDialHeld is tlsConfDial whose records can be held back and then
// sent in one write (heldConn).
func tlsConfDialHeld(t *testing.T, addr string, roots *x509.CertPool, alpn []string) (*confConn, *heldConn) {
	t.Helper()
	raw, err := net.DialTimeout("tcp", addr, waitTimeout)
	if err != nil {
		t.Fatal(err)
	}
	held := &heldConn{Conn: raw}
	c := tls.Client(held, &tls.Config{RootCAs: roots, ServerName: "a.test", NextProtos: alpn})
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(waitTimeout))
	if err := c.Handshake(); err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Time{})
	if p := c.ConnectionState().NegotiatedProtocol; p != "" && p != "http/1.1" {
		t.Fatalf("negotiated %q", p)
	}
	return &confConn{c: c, br: bufio.NewReader(c)}, held
}

// heldConn collects what is written while hold is set; release sends it
// in one write.
type heldConn struct {
	net.Conn
	hold bool
	buf  []byte
}

func (h *heldConn) Write(p []byte) (int, error) {
	if h.hold {
		h.buf = append(h.buf, p...)
		return len(p), nil
	}
	return h.Conn.Write(p)
}

func (h *heldConn) release() error {
	h.hold = false
	_, err := h.Conn.Write(h.buf)
	h.buf = nil
	return err
}

// TestEpollTLSServesOnTheLoop: requests over TLS, with http/1.1 by ALPN
// or no ALPN, are served on the loops, many on one connection, a POST
// body included, with X-Forwarded-Proto https and an access log record.
func TestEpollTLSServesOnTheLoop(t *testing.T) {
	gw, addr, roots, _ := startEpollTLS(t, Options{})
	for _, alpn := range [][]string{{"http/1.1"}, nil} {
		before := gw.LoopStats()
		cc := tlsConfDial(t, addr, roots, alpn)
		const n = 50
		for i := range n {
			resp, body := cc.do(t, "GET", confGet(fmt.Sprintf("/n/%d", i)))
			if want := fmt.Sprintf("GET /n/%d  https", i); resp.StatusCode != 200 || body != want {
				t.Fatalf("ALPN %q #%d: %d %q, want %q", alpn, i, resp.StatusCode, body, want)
			}
		}
		if resp, body := cc.do(t, "POST", confPost("/p", "hello")); resp.StatusCode != 200 || body != "POST /p hello https" {
			t.Fatalf("ALPN %q: POST: %d %q", alpn, resp.StatusCode, body)
		}
		after := gw.LoopStats()
		if served := after.Served - before.Served; served != n+1 || after.HandedOff != before.HandedOff {
			t.Errorf("ALPN %q: served %d on the loops, handed off %d: want %d and 0", alpn, served, after.HandedOff-before.HandedOff, n+1)
		}
	}
	gw.logs.waitLog(t, func(r map[string]slog.Value) bool { return r["path"].String() == "/p" && r["status"].Int64() == 200 })
}

// TestEpollTLSHandsOverAndContinues: a 2 MiB answer is streamed by a
// goroutine and a large body is read by the goroutine server, each in the
// middle of a connection the loops serve; the connection goes on, with
// its TLS state, and comes back to the loops after each.
func TestEpollTLSHandsOverAndContinues(t *testing.T) {
	gw, addr, roots, _ := startEpollTLS(t, Options{})
	cc := tlsConfDial(t, addr, roots, []string{"http/1.1"})
	large := strings.Repeat("l", evMaxBody+1)
	for i, tt := range []struct{ raw, want string }{
		{confGet("/a"), "GET /a  https"},
		{confGet("/big"), tlsBig},
		{confGet("/b"), "GET /b  https"},
		{confPost("/c", large), "POST /c " + large + " https"},
		{confGet("/d"), "GET /d  https"},
		{confGet("/big"), tlsBig},
		{confGet("/e"), "GET /e  https"},
	} {
		method := strings.Fields(tt.raw)[0]
		resp, body := cc.do(t, method, tt.raw)
		if resp.StatusCode != 200 || body != tt.want {
			t.Fatalf("#%d: %d, %d bytes %.40q, want %.40q", i, resp.StatusCode, len(body), body, tt.want)
		}
	}
	// Given to a loop after the handshake, then after each hand-over.
	waitfor.Condition(t, waitTimeout, "the connection given back after each hand-over", func() bool {
		return gw.LoopStats().TakenBack == 4
	})
	if st := gw.LoopStats(); st.Streamed != 2 || st.HandedOff != 1 || st.Served < 2 {
		t.Errorf("streamed %d, handed off %d, served on the loops %d: want 2, 1 and at least 2", st.Streamed, st.HandedOff, st.Served)
	}
}

// TestEpollTLSClientGone: a TLS client that leaves while its request
// waits on the upstream is logged 499, and the listener serves on.
func TestEpollTLSClientGone(t *testing.T) {
	gw, addr, roots, got := startEpollTLS(t, Options{})
	cc := tlsConfDial(t, addr, roots, nil)
	if err := cc.write(confGet("/slow")); err != nil {
		t.Fatal(err)
	}
	recv(t, got, "the upstream to get the request")
	cc.c.Close()
	gw.logs.waitLog(t, func(r map[string]slog.Value) bool {
		return r["path"].String() == "/slow" && r["status"].Int64() == statusClientClosed
	})
	next := tlsConfDial(t, addr, roots, nil)
	if resp, body := next.do(t, "GET", confGet("/next")); resp.StatusCode != 200 || body != "GET /next  https" {
		t.Errorf("next request: %d %q", resp.StatusCode, body)
	}
	if st := gw.LoopStats(); st.Served == 0 || st.HandedOff != 0 {
		t.Errorf("served %d on the loops, handed off %d: want both requests on the loops", st.Served, st.HandedOff)
	}
}

// TestEpollTLSStillNegotiatesH2: the listener whose HTTP/1.1 clients the
// loops serve still speaks HTTP/2 to clients that offer it.
func TestEpollTLSStillNegotiatesH2(t *testing.T) {
	gw, addr, roots, _ := startEpollTLS(t, Options{})
	c := tlsClient(t, &tls.Config{RootCAs: roots, ServerName: "a.test"})
	c.Timeout = waitTimeout
	resp, err := c.Get("https://" + addr + "/h2")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.ProtoMajor != 2 || string(body) != "GET /h2  https" {
		t.Fatalf("%s %d %q %v, want HTTP/2", resp.Proto, resp.StatusCode, body, err)
	}
	cc := tlsConfDial(t, addr, roots, []string{"http/1.1"})
	if resp, body := cc.do(t, "GET", confGet("/h1")); resp.StatusCode != 200 || body != "GET /h1  https" {
		t.Fatalf("HTTP/1.1: %d %q", resp.StatusCode, body)
	}
	if st := gw.LoopStats(); st.Served != 1 {
		t.Errorf("served %d on the loops, want the HTTP/1.1 request alone", st.Served)
	}
}

// TestEpollTLSPipelinedRecords: requests that arrive in one segment, each
// in records of its own, are all answered: the loop reads what crypto/tls
// holds without waiting for an event that will not come.
func TestEpollTLSPipelinedRecords(t *testing.T) {
	gw, addr, roots, _ := startEpollTLS(t, Options{})
	cc, held := tlsConfDialHeld(t, addr, roots, []string{"http/1.1"})
	held.hold = true
	for i := range 5 {
		if err := cc.write(confGet(fmt.Sprintf("/q/%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := held.release(); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		resp, body, err := cc.read("GET")
		if want := fmt.Sprintf("GET /q/%d  https", i); err != nil || resp.StatusCode != 200 || body != want {
			t.Fatalf("#%d: %v %q, want %q", i, err, body, want)
		}
	}
	if st := gw.LoopStats(); st.Served != 5 || st.HandedOff != 0 {
		t.Errorf("served %d on the loops, handed off %d: want 5 and 0", st.Served, st.HandedOff)
	}
}

// TestEpollTLSLimits: a TLS client over the header or body limit gets the
// goroutine server's 431 or 413, as on a plain connection.
func TestEpollTLSLimits(t *testing.T) {
	_, addr, roots, _ := startEpollTLS(t, Options{MaxHeaderBytes: 4 << 10, MaxRequestBodyBytes: 1 << 10})
	cc := tlsConfDial(t, addr, roots, nil)
	big := "GET /h HTTP/1.1\r\nHost: a.test\r\nX-Big: " + strings.Repeat("a", 5<<10) + "\r\n\r\n"
	resp, body := cc.do(t, "GET", big)
	checkGatewayError(t, resp, []byte(body), http.StatusRequestHeaderFieldsTooLarge, "headers_too_large")
	cc = tlsConfDial(t, addr, roots, nil)
	resp, body = cc.do(t, "POST", confPost("/b", strings.Repeat("x", 2<<10)))
	checkGatewayError(t, resp, []byte(body), http.StatusRequestEntityTooLarge, "body_too_large")
	cc = tlsConfDial(t, addr, roots, nil)
	if resp, body := cc.do(t, "POST", confPost("/ok", "fine")); resp.StatusCode != 200 || body != "POST /ok fine https" {
		t.Errorf("under the limits: %d %q", resp.StatusCode, body)
	}
}
