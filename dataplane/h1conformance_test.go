package dataplane

// Raw-wire conformance tests for the plain HTTP/1.1 listener (Serve). They
// speak bytes over TCP and hold any server behind Serve to what net/http
// does, so that a hand-written HTTP/1.1 server can replace it safely.

import (
	"bufio"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tollgate/tollgate/store"
)

// confUpstream is an upstream with a few fixed behaviours, counting the
// requests it gets:
//
//	/echo        "METHOD /path BODY"
//	/sum         "LEN:SHA256" of the body
//	/head        "hello world" with an explicit Content-Length (none sent on HEAD)
//	/status/204  204, /status/304: 304
//	/flush       a small body flushed before returning (chunked to the gateway)
//	/trailer     "payload" followed by the trailer X-Checksum
type confUpstream struct {
	url   string
	calls atomic.Int64
}

func newConfUpstream(t *testing.T) *confUpstream {
	u := &confUpstream{}
	u.url = newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.calls.Add(1)
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		switch r.URL.Path {
		case "/sum":
			fmt.Fprintf(w, "%d:%x", len(body), sha256.Sum256(body))
		case "/head":
			w.Header().Set("Content-Length", "11")
			if r.Method != "HEAD" {
				_, _ = io.WriteString(w, "hello world")
			}
		case "/status/204":
			w.WriteHeader(http.StatusNoContent)
		case "/status/304":
			w.WriteHeader(http.StatusNotModified)
		case "/flush":
			_, _ = io.WriteString(w, "small body")
			_ = http.NewResponseController(w).Flush()
		case "/trailer":
			w.Header().Set("Trailer", "X-Checksum")
			_, _ = io.WriteString(w, "payload")
			w.Header().Set("X-Checksum", "abc123")
		default:
			fmt.Fprintf(w, "%s %s %s", r.Method, r.URL.Path, body)
		}
	})).URL
	return u
}

// startConf starts a confUpstream and a gateway routing everything to it.
func startConf(t *testing.T, opts Options) (*testGateway, *confUpstream) {
	up := newConfUpstream(t)
	return startGateway(t, oneRoute(1, up.url, store.Route{Paths: []string{"/"}}), opts), up
}

// confConn is a raw client connection to the gateway.
type confConn struct {
	c  net.Conn
	br *bufio.Reader
}

func confDial(t *testing.T, addr string) *confConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, waitTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &confConn{c: c, br: bufio.NewReader(c)}
}

func (cc *confConn) write(raw string) error {
	_ = cc.c.SetWriteDeadline(time.Now().Add(waitTimeout))
	_, err := io.WriteString(cc.c, raw)
	return err
}

// read reads one response to a method request, with its whole body (and
// trailers).
func (cc *confConn) read(method string) (*http.Response, string, error) {
	_ = cc.c.SetReadDeadline(time.Now().Add(waitTimeout))
	resp, err := http.ReadResponse(cc.br, &http.Request{Method: method})
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp, string(body), err
}

// do writes raw and reads the response, failing the test on any error.
func (cc *confConn) do(t *testing.T, method, raw string) (*http.Response, string) {
	t.Helper()
	if err := cc.write(raw); err != nil {
		t.Fatal(err)
	}
	resp, body, err := cc.read(method)
	if err != nil {
		t.Fatalf("reading the response to %q: %v", raw, err)
	}
	return resp, body
}

// expectClosed fails unless the server closes the connection with nothing
// more to read.
func (cc *confConn) expectClosed(t *testing.T) {
	t.Helper()
	_ = cc.c.SetReadDeadline(time.Now().Add(waitTimeout))
	b, err := cc.br.Peek(1)
	switch {
	case err == io.EOF || errors.Is(err, syscall.ECONNRESET):
	case err != nil:
		t.Fatalf("connection not closed: %v", err)
	default:
		t.Fatalf("unexpected bytes after the response: %q", b)
	}
}

// confGet is a minimal HTTP/1.1 GET of path.
// inSync checks that the connection still reads requests where they
// start: a plain GET on it is answered as itself.
func (cc *confConn) inSync(t *testing.T) {
	t.Helper()
	if resp, body := cc.do(t, "GET", confGet("/next")); resp.StatusCode != 200 || body != "GET /next " {
		t.Fatalf("next request: %d %q", resp.StatusCode, body)
	}
}

func confGet(path string) string { return "GET " + path + " HTTP/1.1\r\nHost: tollgate.test\r\n\r\n" }

// confPost is an HTTP/1.1 POST of body to path with a Content-Length.
func confPost(path, body string) string {
	return fmt.Sprintf("POST %s HTTP/1.1\r\nHost: tollgate.test\r\nContent-Length: %d\r\n\r\n%s", path, len(body), body)
}

// TestH1ConfKeepAlive pins that one connection serves several requests in turn.
func TestH1ConfKeepAlive(t *testing.T) {
	t.Parallel()
	gw, _ := startConf(t, Options{})
	cc := confDial(t, gw.addr)
	for i := range 3 {
		resp, body := cc.do(t, "POST", confPost(fmt.Sprintf("/echo/%d", i), "x"))
		if want := fmt.Sprintf("POST /echo/%d x", i); resp.StatusCode != 200 || body != want {
			t.Fatalf("request %d: %d %q, want 200 %q", i, resp.StatusCode, body, want)
		}
	}
}

// TestH1ConfPipelining pins that requests written back to back in one
// segment are all answered, in order.
func TestH1ConfPipelining(t *testing.T) {
	t.Parallel()
	gw, _ := startConf(t, Options{})
	cc := confDial(t, gw.addr)
	if err := cc.write(confPost("/one", "1") + confGet("/two") + confPost("/three", "3")); err != nil {
		t.Fatal(err)
	}
	for _, want := range []struct{ method, body string }{{"POST", "POST /one 1"}, {"GET", "GET /two "}, {"POST", "POST /three 3"}} {
		resp, body, err := cc.read(want.method)
		if err != nil || resp.StatusCode != 200 || body != want.body {
			t.Fatalf("got %v %q (%v), want 200 %q", resp, body, err, want.body)
		}
	}
}

// TestH1ConfConnectionClose pins when the server closes the connection after
// a response: HTTP/1.0 without keep-alive and "Connection: close" close it,
// HTTP/1.0 with "Connection: keep-alive" keeps it.
func TestH1ConfConnectionClose(t *testing.T) {
	t.Parallel()
	gw, _ := startConf(t, Options{})
	tests := []struct {
		name, req string
		closes    bool
	}{
		{"HTTP/1.0", "GET /a HTTP/1.0\r\nHost: tollgate.test\r\n\r\n", true},
		{"HTTP/1.0 keep-alive", "GET /a HTTP/1.0\r\nHost: tollgate.test\r\nConnection: keep-alive\r\n\r\n", false},
		{"HTTP/1.1 close", "GET /a HTTP/1.1\r\nHost: tollgate.test\r\nConnection: close\r\n\r\n", true},
		{"HTTP/1.1 close, mixed case", "GET /a HTTP/1.1\r\nHost: tollgate.test\r\nconnection: Close\r\n\r\n", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cc := confDial(t, gw.addr)
			resp, body := cc.do(t, "GET", tt.req)
			if resp.StatusCode != 200 || body != "GET /a " {
				t.Fatalf("%d %q", resp.StatusCode, body)
			}
			if tt.closes {
				cc.expectClosed(t)
				return
			}
			if resp, body := cc.do(t, "GET", tt.req); resp.StatusCode != 200 || body != "GET /a " {
				t.Fatalf("second request: %d %q", resp.StatusCode, body)
			}
		})
	}
}

// TestH1ConfChunkedRequest pins that a chunked request body reaches the
// upstream whole, whatever the chunk syntax.
func TestH1ConfChunkedRequest(t *testing.T) {
	t.Parallel()
	gw, _ := startConf(t, Options{})
	const head = "POST /echo HTTP/1.1\r\nHost: tollgate.test\r\nTransfer-Encoding: chunked\r\n\r\n"
	tests := []struct{ name, chunks, want string }{
		{"two chunks", "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", "hello world"},
		{"upper-case hex", "B\r\nhello world\r\n0\r\n\r\n", "hello world"},
		{"chunk extension", "5;name=value\r\nhello\r\n0\r\n\r\n", "hello"},
		{"trailer", "5\r\nhello\r\n0\r\nX-Sum: 1\r\n\r\n", "hello"},
		{"empty", "0\r\n\r\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cc := confDial(t, gw.addr)
			resp, body := cc.do(t, "POST", head+tt.chunks)
			if want := "POST /echo " + tt.want; resp.StatusCode != 200 || body != want {
				t.Fatalf("%d %q, want 200 %q", resp.StatusCode, body, want)
			}
			// The chunked body was consumed exactly: the connection is in sync.
			cc.inSync(t)
		})
	}
}

// TestH1ConfExpectContinue pins that a client sending "Expect: 100-continue"
// gets "100 Continue" before it sends the body, then the final response.
func TestH1ConfExpectContinue(t *testing.T) {
	t.Parallel()
	gw, _ := startConf(t, Options{})
	cc := confDial(t, gw.addr)
	if err := cc.write("POST /echo HTTP/1.1\r\nHost: tollgate.test\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, _, err := cc.read("POST")
	if err != nil || resp.StatusCode != http.StatusContinue {
		t.Fatalf("interim response %v, %v; want 100 Continue", resp, err)
	}
	if err := cc.write("hello"); err != nil {
		t.Fatal(err)
	}
	resp, body, err := cc.read("POST")
	if err != nil || resp.StatusCode != 200 || body != "POST /echo hello" {
		t.Fatalf("final response %v %q, %v", resp, body, err)
	}
}

// TestH1ConfNoBody pins responses that carry no body (HEAD, 204, 304): the
// headers arrive, no body bytes do, and the connection stays in sync.
func TestH1ConfNoBody(t *testing.T) {
	t.Parallel()
	gw, _ := startConf(t, Options{})
	tests := []struct {
		name, method, path string
		status             int
		contentLength      string // as the upstream states it; "" for none
	}{
		{"HEAD", "HEAD", "/head", 200, "11"},
		{"204", "GET", "/status/204", 204, ""},
		{"304", "GET", "/status/304", 304, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cc := confDial(t, gw.addr)
			resp, body := cc.do(t, tt.method, tt.method+" "+tt.path+" HTTP/1.1\r\nHost: tollgate.test\r\n\r\n")
			if resp.StatusCode != tt.status || body != "" {
				t.Fatalf("%d %q, want %d and no body", resp.StatusCode, body, tt.status)
			}
			if got := resp.Header.Get("Content-Length"); got != tt.contentLength {
				t.Errorf("Content-Length %q, want %q", got, tt.contentLength)
			}
			if len(resp.TransferEncoding) != 0 {
				t.Errorf("Transfer-Encoding %v on a response without a body", resp.TransferEncoding)
			}
			// A stray body byte would break the parsing of the next response.
			if resp, body := cc.do(t, "GET", confGet("/head")); resp.StatusCode != 200 || body != "hello world" {
				t.Fatalf("next request: %d %q", resp.StatusCode, body)
			}
		})
	}
}

// TestH1ConfMalformed pins that broken requests get a 400 without reaching
// the upstream, and that the connection is then closed.
func TestH1ConfMalformed(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, req string }{
		// At least 14 bytes: net/http waits for that many to rule out the
		// h2c preface before it parses anything.
		{"garbage request line", "HELLO-NOT-HTTP\r\n\r\n"},
		{"header without colon", "GET / HTTP/1.1\r\nHost: tollgate.test\r\nNoColonHere\r\n\r\n"},
		{"two Content-Length values", "POST / HTTP/1.1\r\nHost: tollgate.test\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd"},
		{"invalid Content-Length", "POST / HTTP/1.1\r\nHost: tollgate.test\r\nContent-Length: abc\r\n\r\n"},
		{"negative Content-Length", "POST / HTTP/1.1\r\nHost: tollgate.test\r\nContent-Length: -1\r\n\r\n"},
		{"HTTP/1.1 without Host", "GET / HTTP/1.1\r\n\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			gw, up := startConf(t, Options{})
			cc := confDial(t, gw.addr)
			resp, _ := cc.do(t, "GET", tt.req)
			if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("status %d, want 400", resp.StatusCode)
			}
			cc.expectClosed(t)
			if n := up.calls.Load(); n != 0 {
				t.Errorf("the upstream got %d requests", n)
			}
		})
	}
}

// TestH1ConfSmuggling pins the guard against request smuggling with both
// Content-Length and Transfer-Encoding: chunked. net/http lets chunked win
// and drops Content-Length (RFC 9112 6.3 allows that); refusing with 400
// and closing is allowed too. Framing by Content-Length never is.
func TestH1ConfSmuggling(t *testing.T) {
	t.Parallel()
	gw, up := startConf(t, Options{})
	cc := confDial(t, gw.addr)
	// By Content-Length the body would be "5\r\nh" and the rest a new request.
	resp, body := cc.do(t, "POST", "POST /echo HTTP/1.1\r\nHost: tollgate.test\r\nContent-Length: 4\r\n"+
		"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
	switch resp.StatusCode {
	case http.StatusBadRequest:
		cc.expectClosed(t)
		if n := up.calls.Load(); n != 0 {
			t.Errorf("the upstream got %d requests", n)
		}
	case http.StatusOK:
		t.Log("framed by chunked encoding, Content-Length ignored")
		if body != "POST /echo hello" {
			t.Fatalf("body %q: the request was not framed by chunked encoding", body)
		}
		cc.inSync(t)
	default:
		t.Fatalf("status %d %q, want 400 or chunked framing", resp.StatusCode, body)
	}
}

// TestH1ConfResponseFraming pins that upstream responses of unknown length
// (flushed, so chunked at the gateway) reach the client whole and correctly
// framed, and that chunked response trailers are passed on.
func TestH1ConfResponseFraming(t *testing.T) {
	t.Parallel()
	gw, _ := startConf(t, Options{})
	tests := []struct {
		path, body string
		trailer    http.Header
	}{
		{"/flush", "small body", nil},
		{"/trailer", "payload", http.Header{"X-Checksum": {"abc123"}}},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			t.Parallel()
			cc := confDial(t, gw.addr)
			resp, body := cc.do(t, "GET", confGet(tt.path))
			if resp.StatusCode != 200 || body != tt.body {
				t.Fatalf("%d %q, want 200 %q", resp.StatusCode, body, tt.body)
			}
			chunked := len(resp.TransferEncoding) == 1 && resp.TransferEncoding[0] == "chunked"
			if !chunked && resp.ContentLength != int64(len(tt.body)) {
				t.Errorf("neither chunked nor a right Content-Length: %v, %d", resp.TransferEncoding, resp.ContentLength)
			}
			for k := range tt.trailer {
				if got := resp.Trailer.Get(k); got != tt.trailer.Get(k) {
					t.Errorf("trailer %s = %q, want %q (trailers %v)", k, got, tt.trailer.Get(k), resp.Trailer)
				}
			}
			cc.inSync(t)
		})
	}
}

// TestH1ConfDate pins that proxied responses carry a valid Date header.
func TestH1ConfDate(t *testing.T) {
	t.Parallel()
	gw, _ := startConf(t, Options{})
	cc := confDial(t, gw.addr)
	for _, path := range []string{"/echo", "/status/204", "/flush"} {
		resp, _ := cc.do(t, "GET", confGet(path))
		if _, err := http.ParseTime(resp.Header.Get("Date")); err != nil {
			t.Errorf("%s: Date %q: %v", path, resp.Header.Get("Date"), err)
		}
	}
}

// TestH1ConfLargeUpload pins that a 1 MiB body of known length reaches the
// upstream intact.
func TestH1ConfLargeUpload(t *testing.T) {
	t.Parallel()
	gw, _ := startConf(t, Options{})
	data := strings.Repeat("0123456789abcdef", 64<<10)
	cc := confDial(t, gw.addr)
	resp, body := cc.do(t, "POST", confPost("/sum", data))
	if want := fmt.Sprintf("%d:%x", len(data), sha256.Sum256([]byte(data))); resp.StatusCode != 200 || body != want {
		t.Fatalf("%d %q, want 200 %q", resp.StatusCode, body, want)
	}
}

// TestH1ConfConcurrentConns pins that many keep-alive connections served at
// once each get their own answers.
func TestH1ConfConcurrentConns(t *testing.T) {
	t.Parallel()
	const conns, requests = 8, 200
	gw, up := startConf(t, Options{})
	var wg sync.WaitGroup
	for c := range conns {
		cc := confDial(t, gw.addr)
		wg.Go(func() {
			for i := range requests {
				msg := fmt.Sprintf("c%d-r%d", c, i)
				if err := cc.write(confPost("/echo", msg)); err != nil {
					t.Errorf("conn %d: %v", c, err)
					return
				}
				resp, body, err := cc.read("POST")
				if want := "POST /echo " + msg; err != nil || resp.StatusCode != 200 || body != want {
					t.Errorf("conn %d request %d: %v %q (%v), want 200 %q", c, i, resp, body, err, want)
					return
				}
			}
		})
	}
	wg.Wait()
	if n := up.calls.Load(); n != conns*requests {
		t.Errorf("the upstream got %d requests, want %d", n, conns*requests)
	}
}

// TestH1ConfHeaderLimit pins that a request head over MaxHeaderBytes gets a
// 431 without reaching the upstream. Up to twice the limit it is the
// gateway's JSON 431 and net/http keeps the connection; beyond, net/http
// refuses the head itself and closes. Either way a 431 that says
// "Connection: close" must close, and one that does not must leave the
// connection usable.
func TestH1ConfHeaderLimit(t *testing.T) {
	t.Parallel()
	gw, up := startConf(t, Options{MaxHeaderBytes: 4096})
	for _, size := range []int{6 << 10, 20 << 10} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			before := up.calls.Load()
			cc := confDial(t, gw.addr)
			resp, body := cc.do(t, "GET", "GET / HTTP/1.1\r\nHost: tollgate.test\r\nX-Big: "+strings.Repeat("a", size)+"\r\n\r\n")
			if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
				t.Fatalf("%d %q, want 431", resp.StatusCode, body)
			}
			if n := up.calls.Load() - before; n != 0 {
				t.Errorf("the upstream got %d requests", n)
			}
			if resp.Close {
				cc.expectClosed(t)
				return
			}
			if resp, body := cc.do(t, "GET", confGet("/next")); resp.StatusCode != 200 || body != "GET /next " {
				t.Fatalf("next request after a 431 that kept the connection: %d %q", resp.StatusCode, body)
			}
		})
	}
}
