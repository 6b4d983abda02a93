package dataplane

import (
	"bufio"
	"bytes"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
	"time"
	"unsafe"
)

// readTestResponse parses raw as the h1Client does and reads the body.
func readTestResponse(raw string, method string) (*http.Response, string, error) {
	resp, body, _, err := readTestResponseRest([]byte(raw), method, false)
	return resp, body, err
}

// readTestResponseRest parses raw as the h1Client does, through a read
// buffer of the client's size, and returns the response, its body and the
// bytes left on the connection. With oneByte, each read returns one byte
// (a head split across reads).
func readTestResponseRest(raw []byte, method string, oneByte bool) (*http.Response, string, string, error) {
	var src io.Reader = bytes.NewReader(raw)
	if oneByte {
		src = iotest.OneByteReader(src)
	}
	br := bufio.NewReaderSize(src, h1BufferSize)
	var scratch []byte
	head, err := readMessageHead(br, &scratch, h1MaxHeaderBytes)
	if err != nil {
		return nil, "", "", err
	}
	resp, f, err := parseResponseHead(head, &http.Request{Method: method})
	if err != nil {
		return nil, "", "", err
	}
	body := ""
	if !f.empty() {
		r := newBodyReader(br, f, resp, &scratch)
		b, err := io.ReadAll(&r)
		if err != nil {
			return nil, "", "", err
		}
		body = string(b)
	}
	rest, _ := io.ReadAll(br)
	return resp, body, string(rest), nil
}

func TestParseResponseHead(t *testing.T) {
	tests := []struct {
		name, raw, method string
		status            int
		length            int64
		body              string
		close             bool
		header            http.Header
		trailer           http.Header
	}{
		{name: "length", raw: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: 1\r\n\r\nhelloEXTRA",
			status: 200, length: 5, body: "hello", header: http.Header{"Content-Length": {"5"}, "X-A": {"1"}}},
		{name: "bare LF, repeated and lower-case names, trimmed values",
			raw:    "HTTP/1.1 201 Created\nx-a:  1 \nX-A:\t2\ncontent-length: 0\n\n",
			status: 201, header: http.Header{"X-A": {"1", "2"}, "Content-Length": {"0"}}},
		{name: "equal content lengths collapse", raw: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok",
			status: 200, length: 2, body: "ok", header: http.Header{"Content-Length": {"2"}}},
		{name: "chunked wins over length, trailers", method: "GET",
			raw:    "HTTP/1.1 200 OK\r\nContent-Length: 99\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum, x-late\r\n\r\n3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\nX-Sum: 9\r\nX-Other: y\r\n\r\n",
			status: 200, length: -1, body: "abcde", header: http.Header{},
			trailer: http.Header{"X-Sum": {"9"}, "X-Late": nil, "X-Other": {"y"}}},
		{name: "close delimited", raw: "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nto the end",
			status: 200, length: -1, body: "to the end", close: true, header: http.Header{"Connection": {"close"}}},
		{name: "no length: to the close", raw: "HTTP/1.1 200 OK\r\n\r\nall of it",
			status: 200, length: -1, body: "all of it", close: true, header: http.Header{}},
		{name: "HTTP/1.0 closes", raw: "HTTP/1.0 200 OK\r\n\r\nall", status: 200, length: -1, body: "all", close: true, header: http.Header{}},
		{name: "HEAD has no body", method: "HEAD", raw: "HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n",
			status: 200, length: 7, header: http.Header{"Content-Length": {"7"}}},
		{name: "304 has no body", raw: "HTTP/1.1 304 Not Modified\r\nContent-Length: 7\r\n\r\n",
			status: 304, header: http.Header{"Content-Length": {"7"}}},
		{name: "Pragma: no-cache reads as Cache-Control", raw: "HTTP/1.1 204 No Content\r\nPragma: no-cache\r\n\r\n",
			status: 204, header: http.Header{"Pragma": {"no-cache"}, "Cache-Control": {"no-cache"}}},
		{name: "folded value", raw: "HTTP/1.1 204 No Content\r\nX-F: a\r\n  b\r\n\r\n",
			status: 204, header: http.Header{"X-F": {"a b"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method := tt.method
			if method == "" {
				method = "GET"
			}
			resp, body, err := readTestResponse(tt.raw, method)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.status || body != tt.body || resp.Close != tt.close {
				t.Errorf("got %d %q close=%v, want %d %q close=%v", resp.StatusCode, body, resp.Close, tt.status, tt.body, tt.close)
			}
			if tt.length != 0 && resp.ContentLength != tt.length {
				t.Errorf("ContentLength = %d, want %d", resp.ContentLength, tt.length)
			}
			if !reflect.DeepEqual(resp.Header, tt.header) {
				t.Errorf("header = %v, want %v", resp.Header, tt.header)
			}
			if !reflect.DeepEqual(resp.Trailer, tt.trailer) {
				t.Errorf("trailer = %v, want %v", resp.Trailer, tt.trailer)
			}
		})
	}
}

func TestParseResponseHeadRefuses(t *testing.T) {
	for _, raw := range []string{
		"HTTP/1.1 200\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: +1\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: Content-Length\r\n\r\n",
		"HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
		"HTTP/1.1 200 OK\r\nX: a\x00b\r\n\r\n",
		"HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n",
		"HTTP/1.1 200 OK\r\nNo colon\r\n\r\n",
		"HTTP/1.1 200 OK\r\n folded first\r\n\r\n",
		"HTTP/1.1 20 OK\r\n\r\n",
		"HTTP/1.1 abc OK\r\n\r\n",
		"HTTP/2.0 200 OK\r\n\r\n",
		"HTTP/1.1\r\n\r\n",
		"\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab", // short body
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: 1\r\n", // trailer cut short
	} {
		if resp, body, err := readTestResponse(raw, "GET"); err == nil {
			t.Errorf("%q: accepted, status %d body %q", raw, resp.StatusCode, body)
		}
	}
}

// TestH1ClientPassesTrailers: trailers of a chunked upstream response
// reach resp.Trailer once the body is read, and the connection is reused.
func TestH1ClientPassesTrailers(t *testing.T) {
	addr := rawUpstream(t, func(c net.Conn, br *bufio.Reader) {
		for {
			if _, err := readHead(br); err != nil {
				return
			}
			io.WriteString(c, "HTTP/1.1 200 OK\r\nTrailer: X-Sum\r\nTransfer-Encoding: chunked\r\n\r\n"+
				"4\r\nbody\r\n0\r\nX-Sum: 42\r\n\r\n")
		}
	})
	c := newTestH1(t, time.Second)
	for range 2 {
		resp := h1Get(t, c, "http://"+addr+"/")
		if got := resp.Trailer; !reflect.DeepEqual(got, http.Header{"X-Sum": nil}) {
			t.Errorf("trailer before the body = %v", got)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || string(b) != "body" || resp.Trailer.Get("X-Sum") != "42" {
			t.Errorf("body %q, %v, trailer %v", b, err, resp.Trailer)
		}
	}
	c.pool.mu.Lock()
	n := len(c.pool.idle[addr])
	c.pool.mu.Unlock()
	if n != 1 {
		t.Errorf("%d idle connections after two requests, want 1 (reused)", n)
	}
}

// FuzzResponseHead checks the h1Client's response parser against
// net/http's, with the same read buffer, and heads split across reads for
// half the inputs: whatever it accepts, net/http accepts with the same
// status, header, length, keep-alive, body and trailer, and leaves the
// same bytes on the connection. It may refuse more.
func FuzzResponseHead(f *testing.F) {
	for _, seed := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloHTTP/1.1 200 OK\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: A\r\n\r\n3\r\nabc\r\n0\r\nA: 1\r\n\r\nNEXT",
		"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\nxNEXT",
		"HTTP/1.1 204 No Content\r\nX: a\r\n b\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nrest",
		"HTTP/1.1 200 OK\nContent-Length: 0\nContent-Length: 0\n\n",
		"HTTP/1.0 200 OK\r\nPragma: no-cache\r\nContent-Length: 0\r\n\r\n",
	} {
		f.Add([]byte(seed), false)
	}
	f.Fuzz(func(t *testing.T, raw []byte, head bool) {
		method := "GET"
		if head {
			method = "HEAD"
		}
		resp, body, rest, err := readTestResponseRest(raw, method, len(raw)%2 == 0)
		if err != nil {
			return
		}
		gr := bufio.NewReaderSize(bytes.NewReader(raw), h1BufferSize)
		want, err := http.ReadResponse(gr, &http.Request{Method: method})
		if err != nil {
			t.Fatalf("%q: accepted, net/http refuses: %v", raw, err)
		}
		wantBody, err := io.ReadAll(want.Body)
		if err != nil {
			t.Fatalf("%q: body read, net/http fails: %v", raw, err)
		}
		wantRest, _ := io.ReadAll(gr)
		delete(want.Header, "Connection") // net/http drops "close" here; the proxy drops it anyway
		delete(resp.Header, "Connection")
		switch {
		case resp.StatusCode != want.StatusCode || resp.Status != want.Status || resp.Proto != want.Proto:
			t.Fatalf("%q: status %q, net/http %q", raw, resp.Status, want.Status)
		case !maps.EqualFunc(resp.Header, want.Header, slicesEqual):
			t.Fatalf("%q: header %v, net/http %v", raw, resp.Header, want.Header)
		case resp.ContentLength != want.ContentLength || resp.Close != want.Close:
			t.Fatalf("%q: length %d close %v, net/http %d %v", raw, resp.ContentLength, resp.Close, want.ContentLength, want.Close)
		case body != string(wantBody):
			t.Fatalf("%q: body %q, net/http %q", raw, body, wantBody)
		case !maps.EqualFunc(resp.Trailer, want.Trailer, slicesEqual):
			t.Fatalf("%q: trailer %v, net/http %v", raw, resp.Trailer, want.Trailer)
		case rest != string(wantRest):
			t.Fatalf("%q: left %q, net/http %q", raw, rest, wantRest)
		}
	})
}

// TestLargeHeadIsNotPinned: the names and values of a head over
// maxPinnedHead are copies, in arrays of their own, so a short field kept
// after the others are dropped does not keep the whole head alive.
func TestLargeHeadIsNotPinned(t *testing.T) {
	raw := "HTTP/1.1 200 OK\r\nKeep-Alive: " + strings.Repeat("k", 256<<10) +
		"\r\nCache-Control: max-age=60\r\nContent-Length: 0\r\n\r\n"
	br := bufio.NewReaderSize(strings.NewReader(raw), h1BufferSize)
	var scratch []byte
	head, err := readMessageHead(br, &scratch, h1MaxHeaderBytes)
	if err != nil {
		t.Fatal(err)
	}
	resp, _, err := parseResponseHead(head, &http.Request{Method: "GET"})
	if err != nil {
		t.Fatal(err)
	}
	start := uintptr(unsafe.Pointer(unsafe.StringData(head)))
	inHead := func(s string) bool {
		p := uintptr(unsafe.Pointer(unsafe.StringData(s)))
		return s != "" && p >= start && p < start+uintptr(len(head))
	}
	for k, vv := range resp.Header {
		if inHead(k) || inHead(vv[0]) || cap(vv) != len(vv) {
			t.Errorf("%s: %q shares the head's memory, or an array with other fields", k, vv)
		}
	}
	if inHead(resp.Status) || inHead(resp.Proto) {
		t.Errorf("the status line shares the head's memory")
	}
}

// TestTrailerSectionLimit: a trailer section longer than the client's
// read buffer is refused, as net/http refused it.
func TestTrailerSectionLimit(t *testing.T) {
	long := "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n" +
		strings.Repeat("X-T: "+strings.Repeat("t", 1000)+"\r\n", 40) + "\r\n"
	if _, _, err := readTestResponse(long, "GET"); err == nil {
		t.Errorf("a 40 KB trailer section was accepted")
	}
	short := strings.Replace(long, strings.Repeat("X-T: "+strings.Repeat("t", 1000)+"\r\n", 40), "X-T: 1\r\n", 1)
	if resp, _, err := readTestResponse(short, "GET"); err != nil || resp.Trailer.Get("X-T") != "1" {
		t.Errorf("a short trailer: %v", err)
	}
}

func slicesEqual(a, b []string) bool { return reflect.DeepEqual(a, b) }

// TestParseOriginForm: the fast path for common request targets fills in
// the URL exactly as url.ParseRequestURI does, and leaves the rest to it.
func TestParseOriginForm(t *testing.T) {
	for _, tc := range []struct {
		uri  string
		fast bool
	}{
		{"/", true},
		{"/item", true},
		{"/a/b;c=d,e:f@g$h&i+j~k_l.m-n", true},
		{"/a?x=1&y=2", true},
		{"/a?", true},
		{"/a??", true},
		{"/a?q=%zz#frag\x80", true},
		{"//double/slash", true},
		{"/a%20b", false},
		{"/a b", false},
		{"/it's", false},
		{"/a#b", false},
		{"/caf\xc3\xa9", false},
		{"/a?x=\x01", false},
		{"*", false},
		{"http://h/p", false},
		{"", false},
	} {
		var got url.URL
		fast := parseOriginForm(tc.uri, &got)
		if fast != tc.fast {
			t.Errorf("%q: fast path %v, want %v", tc.uri, fast, tc.fast)
		}
		if !fast {
			continue
		}
		want, err := url.ParseRequestURI(tc.uri)
		if err != nil {
			t.Errorf("%q: taken by the fast path, url.ParseRequestURI refuses it: %v", tc.uri, err)
		} else if !reflect.DeepEqual(&got, want) {
			t.Errorf("%q: %#v, url.ParseRequestURI %#v", tc.uri, got, *want)
		}
	}
}

// FuzzRequestHead checks the server's fast request parser against
// http.ReadRequest: a request it takes, http.ReadRequest reads the same,
// consuming the same bytes. It may leave any request to http.ReadRequest.
func FuzzRequestHead(f *testing.F) {
	for _, seed := range []string{
		"GET /a?b=c HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\nGET /next",
		"GET http://h/p HTTP/1.1\r\nHost: other\r\n\r\n",
		"GET / HTTP/1.0\r\nConnection: keep-alive\r\nPragma: no-cache\r\n\r\n",
		"DELETE /x HTTP/1.1\nHost: x\nX: a\n  folded\nx-a: 1\n\n",
		"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\nx",
		"OPTIONS * HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
		"GET //x/../y%zz HTTP/1.1\r\n\r\n",
		"GET /a/b;c=d,e?x=1&y=%20#f HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /a? HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /a?? HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /it's(1)!*\x80 HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nX: a\x7fb\r\nY\x01: 1\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nX: tab\there and\x80\xff high\r\n\r\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		br := bufio.NewReaderSize(bytes.NewReader(raw), 4096)
		_, _ = br.Peek(1)
		req, ok := readBufferedRequest(br, 1<<20)
		if !ok {
			if br.Buffered() != min(len(raw), 4096) {
				t.Fatalf("%q: declined after consuming input", raw)
			}
			return
		}
		gr := bufio.NewReader(bytes.NewReader(raw))
		want, err := http.ReadRequest(gr)
		if err != nil {
			t.Fatalf("%q: accepted, http.ReadRequest refuses: %v", raw, err)
		}
		rest, _ := io.ReadAll(br)
		wantRest, _ := io.ReadAll(gr)
		switch {
		case req.Method != want.Method || req.RequestURI != want.RequestURI || !reflect.DeepEqual(req.URL, want.URL):
			t.Fatalf("%q: %s %s (%s), http.ReadRequest %s %s (%s)", raw, req.Method, req.RequestURI, req.URL, want.Method, want.RequestURI, want.URL)
		case req.Proto != want.Proto || req.ProtoMajor != want.ProtoMajor || req.ProtoMinor != want.ProtoMinor:
			t.Fatalf("%q: proto %s, http.ReadRequest %s", raw, req.Proto, want.Proto)
		case !maps.EqualFunc(req.Header, want.Header, slicesEqual):
			t.Fatalf("%q: header %v, http.ReadRequest %v", raw, req.Header, want.Header)
		case req.Host != want.Host || req.Close != want.Close || req.ContentLength != want.ContentLength:
			t.Fatalf("%q: host %q close %v length %d, http.ReadRequest %q %v %d", raw, req.Host, req.Close, req.ContentLength, want.Host, want.Close, want.ContentLength)
		case want.Body != http.NoBody || len(want.Trailer) > 0:
			t.Fatalf("%q: read without a body, http.ReadRequest has one", raw)
		case string(rest) != string(wantRest):
			t.Fatalf("%q: left %q, http.ReadRequest %q", raw, rest, wantRest)
		}
		// The event loop checks a parsed request with checkRequestHost
		// only: the parser must have refused what the rest of
		// checkRequest refuses.
		if checkRequestHost(req) == nil && len(req.Header["Expect"]) == 0 {
			if err := checkRequest(req); err != nil {
				t.Fatalf("%q: parsed and its host passes, but checkRequest refuses: %v", raw, err)
			}
		}
	})
}

// FuzzLoopRequestHead holds the event loop's parse of a request with a
// Content-Length body to http.ReadRequest: what the loop takes, net/http
// takes too, with the same head, length and body bytes.
func FuzzLoopRequestHead(f *testing.F) {
	for _, seed := range []string{
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\nx",
		"PUT /p HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabcGET / HTTP/1.1\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length:  +4 \r\n\r\nabcd",
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"POST / HTTP/1.0\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nTrailer: X\r\n\r\nab",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var p parsedRequest
		req, end, ok := parseRequestInto(raw, 1<<20, &p, true)
		if !ok {
			return
		}
		want, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(raw)))
		if err != nil {
			t.Fatalf("%q: accepted, http.ReadRequest refuses: %v", raw, err)
		}
		switch {
		case req.Method != want.Method || req.RequestURI != want.RequestURI || req.Host != want.Host || req.Close != want.Close:
			t.Fatalf("%q: %s %s host %q close %v, http.ReadRequest %s %s %q %v", raw, req.Method, req.RequestURI, req.Host, req.Close, want.Method, want.RequestURI, want.Host, want.Close)
		case !maps.EqualFunc(req.Header, want.Header, slicesEqual):
			t.Fatalf("%q: header %v, http.ReadRequest %v", raw, req.Header, want.Header)
		case req.ContentLength != want.ContentLength || len(want.TransferEncoding) > 0 || len(want.Trailer) > 0:
			t.Fatalf("%q: length %d, http.ReadRequest %d %v %v", raw, req.ContentLength, want.ContentLength, want.TransferEncoding, want.Trailer)
		}
		if n := int(req.ContentLength); end+n <= len(raw) {
			body, err := io.ReadAll(want.Body)
			if err != nil || string(body) != string(raw[end:end+n]) {
				t.Fatalf("%q: body %q, http.ReadRequest %q (%v)", raw, raw[end:end+n], body, err)
			}
		}
	})
}
