package dataplane

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/store"
)

// FuzzH1Server sends arbitrary bytes to the HTTP/1.1 server, over a real
// loopback connection that the client then half-closes. Whatever the
// bytes, the gateway must not panic, must end the exchange (no hang), and
// everything it writes back must be well-formed HTTP/1.1 responses, one
// after another: no torn or doubled framing that a client or an
// intermediary could read as something else.
func FuzzH1Server(f *testing.F) {
	addr := startFuzzGateway(f)
	for _, seed := range []string{
		"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\nhello",
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nshort",
		"GET / HTTP/1.0\r\n\r\n",
		"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET / HTTP/1.0\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
		"GET http://x/ HTTP/1.1\r\nHost: b\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\n X: folded\r\n\r\n",
		"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
		"HELLO\r\n\r\n",
		"\r\n\r\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		out, err := exchangeRaw(addr, in)
		if err != nil {
			t.Fatalf("input %q: %v (after %q)", in, err, out)
		}
		if bytes.HasPrefix(in, []byte("PRI")) {
			return // handed to net/http's HTTP/2 server: its frames are not ours to check
		}
		if err := checkResponses(out); err != nil {
			t.Fatalf("input %q: answer %q: %v", in, out, err)
		}
	})
}

// startFuzzGateway serves a gateway with one catch-all route whose
// upstream, in memory, reads the request body and echoes its length.
func startFuzzGateway(f *testing.F) string {
	g := New(Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), ReadHeaderTimeout: 2 * time.Second,
		MaxRequestBodyBytes: 1 << 20})
	cfg := &store.Config{Version: 1, Services: []store.Service{{Name: "up", URL: "http://upstream.invalid"}},
		Routes: []store.Route{{Name: "all", Service: "up"}}}
	if err := g.Update(cfg); err != nil {
		f.Fatal(err)
	}
	g.snap.Load().router.services[0].transport = readingUpstream{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	go g.Serve(ln)
	f.Cleanup(func() { ln.Close() })
	return ln.Addr().String()
}

// readingUpstream reads the whole request body and answers up to 6 bytes
// (none to HEAD, so that every answer's framing is told by its header
// alone, as checkResponses reads it without the requests).
type readingUpstream struct{}

func (readingUpstream) RoundTrip(req *http.Request) (*http.Response, error) {
	n, err := io.Copy(io.Discard, req.Body)
	if err != nil {
		return nil, err
	}
	if req.Method == http.MethodHead {
		n = 0
	}
	body := strings.Repeat("x", int(n%7))
	return &http.Response{StatusCode: http.StatusOK, ContentLength: int64(len(body)), Header: http.Header{},
		Body: io.NopCloser(strings.NewReader(body))}, nil
}

// exchangeRaw writes in on a new connection, half-closes it and returns
// everything the server writes until it closes.
func exchangeRaw(addr string, in []byte) ([]byte, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	go func() {
		_, _ = c.Write(in)
		_ = c.(*net.TCPConn).CloseWrite()
	}()
	out, err := io.ReadAll(c)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return out, errors.New("the server neither answered nor closed within 5s")
	}
	return out, nil // a reset after the answers is fine
}

// checkResponses checks that out is a sequence of whole HTTP/1.1
// responses. Bodies are framed by Content-Length or chunked encoding; a
// response framed by the end of the connection must be the last.
func checkResponses(out []byte) error {
	br := bufio.NewReader(bytes.NewReader(out))
	for {
		if _, err := br.Peek(1); err == io.EOF {
			return nil
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return err
		}
		if !strings.HasPrefix(resp.Proto, "HTTP/1.1") {
			return errors.New("not an HTTP/1.1 response: " + resp.Proto)
		}
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			return err
		}
	}
}
