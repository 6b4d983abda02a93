package dataplane

import (
	"bufio"
	"bytes"
	"net/http"
	"net/url"
	"strings"
)

// readBufferedRequest is the fast path of reading a request: it parses a
// request whose whole head is already in br, and that has no body, with
// the rules of http.ReadRequest, into one string for the head. Anything
// else (a head not yet whole or over max bytes, a body, CONNECT, any
// error) returns ok false with br untouched, for http.ReadRequest to read
// and, if need be, refuse.
func readBufferedRequest(br *bufio.Reader, max int) (req *http.Request, ok bool) {
	buf, _ := br.Peek(br.Buffered())
	req, end, ok := parseBufferedRequest(buf, max)
	if ok {
		_, _ = br.Discard(end)
	}
	return req, ok
}

// parseBufferedRequest is readBufferedRequest on the bytes of buf: it
// returns the request and the length of its head, or ok false.
func parseBufferedRequest(buf []byte, max int) (req *http.Request, end int, ok bool) {
	end = headEnd(buf)
	if end < 0 || end > max {
		return nil, 0, false
	}
	head := string(buf[:end])
	line, fields := headLine(head)
	req = &http.Request{}
	if !parseRequestLine(line, req) {
		return nil, 0, false
	}
	// The Host field is kept out of the header, as http.ReadRequest does:
	// it is req.Host.
	h, host, hosts, err := parseFields(fields, "Host")
	if err != nil || hasBodyFraming(h) || hosts > 1 {
		return nil, 0, false
	}
	req.Header = h
	req.Host = req.URL.Host
	if req.Host == "" {
		req.Host = host
	}
	fixPragmaCacheControl(h)
	req.Close = closeAfter(req.ProtoMinor, h)
	req.Body = http.NoBody
	return req, end, true
}

// headEnd returns the length of the head at the start of buf, up to and
// including the empty line that ends it, or -1 if buf holds no whole
// head or starts with an empty line.
func headEnd(buf []byte) int {
	if len(buf) == 0 || buf[0] == '\r' || buf[0] == '\n' {
		return -1
	}
	for i := 0; ; {
		j := bytes.IndexByte(buf[i:], '\n')
		if j < 0 {
			return -1
		}
		i += j + 1
		switch rest := buf[i:]; {
		case len(rest) > 0 && rest[0] == '\n':
			return i + 1
		case len(rest) > 1 && rest[0] == '\r' && rest[1] == '\n':
			return i + 2
		}
	}
}

// parseRequestLine fills in req from "GET /path HTTP/1.1": a token
// method, a URI that url.ParseRequestURI takes, HTTP/1.x. CONNECT is left
// to http.ReadRequest.
func parseRequestLine(line string, req *http.Request) bool {
	method, rest, ok1 := strings.Cut(line, " ")
	uri, proto, ok2 := strings.Cut(rest, " ")
	if !ok1 || !ok2 || !validToken(method) || method == http.MethodConnect {
		return false
	}
	major, minor, ok := http.ParseHTTPVersion(proto)
	if !ok || major != 1 {
		return false
	}
	u, err := url.ParseRequestURI(uri)
	if err != nil {
		return false
	}
	req.Method, req.RequestURI, req.URL = method, uri, u
	req.Proto, req.ProtoMajor, req.ProtoMinor = proto, major, minor
	return true
}

// hasBodyFraming reports fields that give a request a body or trailers.
func hasBodyFraming(h http.Header) bool {
	_, cl := h["Content-Length"]
	_, te := h["Transfer-Encoding"]
	_, tr := h["Trailer"]
	return cl || te || tr
}
