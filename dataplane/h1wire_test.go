package dataplane

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// rawUpstream accepts connections on loopback and runs serve on each;
// cleanup closes the listener and waits for every serve to return.
func rawUpstream(t *testing.T, serve func(c net.Conn, br *bufio.Reader)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return serveRaw(t, ln, serve)
}

// serveRaw runs serve on every connection ln accepts, until the test
// ends, and returns ln's address.
func serveRaw(t *testing.T, ln net.Listener, serve func(c net.Conn, br *bufio.Reader)) string {
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				serve(c, bufio.NewReader(c))
			})
		}
	})
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	return ln.Addr().String()
}

// readHead reads a request head up to the blank line.
func readHead(br *bufio.Reader) (string, error) {
	var head strings.Builder
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return head.String(), err
		}
		if line == "\r\n" {
			return head.String(), nil
		}
		head.WriteString(line)
	}
}

func TestH1RequestWireFormat(t *testing.T) {
	heads := make(chan string, 4)
	addr := rawUpstream(t, func(c net.Conn, br *bufio.Reader) {
		for {
			head, err := readHead(br)
			if err != nil {
				return
			}
			heads <- head
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
		}
	})
	c := newTestH1(t, time.Second)
	tests := []struct {
		name  string
		req   func() *http.Request
		want  []string // lines in this order
		avoid []string
	}{{
		name: "proxied GET",
		req: func() *http.Request {
			return &http.Request{
				Method: "GET",
				URL:    &url.URL{Scheme: "http", Host: addr, Path: "/a b/c/d", RawPath: "/a%20b/c%2Fd", RawQuery: "x=1&y=%20"},
				Header: http.Header{"X-Multi": {"one", "two"}, "Content-Length": {"999"}, "Accept": {" text/plain "}},
			}
		},
		want:  []string{"GET /a%20b/c%2Fd?x=1&y=%20 HTTP/1.1\r\nHost: " + addr + "\r\n", "X-Multi: one\r\n", "X-Multi: two\r\n"},
		avoid: []string{"User-Agent", "Content-Length: 999", "Connection"},
	}, {
		name: "Host header and empty POST",
		req: func() *http.Request {
			return &http.Request{Method: "POST", Host: "api.example", URL: &url.URL{Scheme: "http", Host: addr}, Header: http.Header{"Accept": {"text/plain"}}}
		},
		want:  []string{"POST / HTTP/1.1\r\nHost: api.example\r\n", "Content-Length: 0\r\n"},
		avoid: []string{"User-Agent", "Transfer-Encoding"},
	}, {
		name: "client's User-Agent and Connection: close",
		req: func() *http.Request {
			return &http.Request{Method: "GET", Close: true, URL: &url.URL{Scheme: "http", Host: addr, Path: "/"}, Header: http.Header{"User-Agent": {"curl/8"}}}
		},
		want: []string{"User-Agent: curl/8\r\n", "Connection: close\r\n"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := c.RoundTrip(tt.req())
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			head := recv(t, heads, "the request head")
			if strings.Contains(tt.name, "GET") && !strings.Contains(head, "Accept: ") && len(tt.req().Header["Accept"]) > 0 {
				t.Errorf("Accept header missing:\n%s", head)
			}
			rest := head
			for _, w := range tt.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("head lacks %q (in order):\n%s", w, head)
				}
				rest = rest[i+len(w):]
			}
			for _, a := range tt.avoid {
				if strings.Contains(head, a) {
					t.Errorf("head has %q:\n%s", a, head)
				}
			}
		})
	}
}

func TestH1RefusesBrokenMessages(t *testing.T) {
	addr := rawUpstream(t, func(c net.Conn, br *bufio.Reader) {
		if _, err := readHead(br); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nX-Big: ")
		c.Write(bytes.Repeat([]byte("x"), h1MaxHeaderBytes+1))
		io.WriteString(c, "\r\n\r\n")
	})
	c := newTestH1(t, waitTimeout)
	u := &url.URL{Scheme: "http", Host: addr, Path: "/"}
	for _, h := range []http.Header{
		{"X-Split": {"a\r\nX-Injected: 1"}},
		{"Bad Name": {"x"}},
	} {
		if _, err := c.RoundTrip(&http.Request{Method: "GET", URL: u, Header: h}); err == nil {
			t.Errorf("header %q was sent", h)
		}
	}
	_, err := c.RoundTrip(&http.Request{Method: "GET", URL: u, Header: http.Header{}})
	if err == nil || !strings.Contains(err.Error(), "exceed") {
		t.Errorf("response headers over 1 MiB: err = %v", err)
	}
}

func TestH1InterimAndEarlyResponses(t *testing.T) {
	addr := rawUpstream(t, func(c net.Conn, br *bufio.Reader) {
		head, err := readHead(br)
		if err != nil {
			return
		}
		if strings.HasPrefix(head, "GET") {
			io.WriteString(c, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\n\r\n"+
				"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
			return
		}
		// A POST is refused before its body is read, and the server closes.
		io.WriteString(c, "HTTP/1.1 413 Payload Too Large\r\nContent-Length: 4\r\nConnection: close\r\n\r\nnope")
		c.(*net.TCPConn).CloseWrite()
		io.Copy(io.Discard, br)
	})
	c := newTestH1(t, time.Second)
	if status, body, err := h1Do(t, c, "GET", "http://"+addr+"/", nil); err != nil || status != 200 || body != "ok" {
		t.Errorf("after 1xx: %d %q, %v", status, body, err)
	}
	status, body, err := h1Do(t, c, "POST", "http://"+addr+"/", bytes.NewReader(make([]byte, h1MaxBody)))
	if err != nil || status != http.StatusRequestEntityTooLarge || body != "nope" {
		t.Errorf("early answer: %d %q, %v", status, body, err)
	}
}
