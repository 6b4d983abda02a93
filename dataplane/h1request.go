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
	return parseRequestInto(buf, max, new(parsedRequest), false)
}

// parseRequestInto is parseBufferedRequest into p, which it resets
// first: the request it returns is p's, valid until p is reused. With
// withLength it also takes a request whose body is framed by a valid
// Content-Length alone (no Transfer-Encoding or Trailer), and sets
// req.ContentLength; the body, which follows the head in buf, is left to
// the caller, and req.Body is http.NoBody.
func parseRequestInto(buf []byte, max int, p *parsedRequest, withLength bool) (req *http.Request, end int, ok bool) {
	end = headEnd(buf)
	if end < 0 || end > max {
		return nil, 0, false
	}
	head := string(buf[:end])
	line, fields := headLine(head)
	p.reset()
	req = &p.req
	if !parseRequestLine(line, req, &p.url) {
		return nil, 0, false
	}
	// The Host field is kept out of the header, as http.ReadRequest does:
	// it is req.Host.
	h, host, hosts, err := parseFieldsInto(fields, "Host", p.values[:], p.header)
	if err != nil || hosts > 1 {
		return nil, 0, false
	}
	if hasBodyFraming(h) {
		if req.ContentLength, ok = plainContentLength(h, withLength); !ok {
			return nil, 0, false
		}
	}
	p.header = h
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

// parsedRequest holds what parsing a request fills in besides its head:
// the request, its URL and the values of its first fields, in one
// allocation, and the header map, which a reused parsedRequest keeps
// (emptied) for the next request.
type parsedRequest struct {
	req    http.Request
	url    url.URL
	values [12]string
	header http.Header
}

// reset empties p for the next request, keeping its header map unless
// the last request grew it past maxReusedFields: clearing a map costs
// what it has grown to, on every request after.
func (p *parsedRequest) reset() {
	h := p.header
	if len(h) > maxReusedFields {
		h = nil
	}
	clear(h)
	*p = parsedRequest{header: h}
}

// maxReusedFields is the most fields a header map may have held and still
// be reused for a connection's next request.
const maxReusedFields = 32

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
func parseRequestLine(line string, req *http.Request, scratch *url.URL) bool {
	method, rest, ok1 := strings.Cut(line, " ")
	uri, proto, ok2 := strings.Cut(rest, " ")
	if !ok1 || !ok2 || !validToken(method) || method == http.MethodConnect {
		return false
	}
	major, minor, ok := http.ParseHTTPVersion(proto)
	if !ok || major != 1 {
		return false
	}
	u := scratch
	if !parseOriginForm(uri, u) {
		var err error
		if u, err = url.ParseRequestURI(uri); err != nil {
			return false
		}
	}
	req.Method, req.RequestURI, req.URL = method, uri, u
	req.Proto, req.ProtoMajor, req.ProtoMinor = proto, major, minor
	return true
}

// parseOriginForm is url.ParseRequestURI for the common request target:
// an absolute path, with an optional query, made only of bytes that the
// path needs no escape for. It fills in *u as url.ParseRequestURI would,
// into memory the caller provides, or reports false for anything else.
func parseOriginForm(uri string, u *url.URL) bool {
	if uri == "" || uri[0] != '/' {
		return false
	}
	path, query, hasQuery := strings.Cut(uri, "?")
	for i := 0; i < len(path); i++ {
		if !plainPathBytes[path[i]] {
			return false
		}
	}
	for i := 0; i < len(query); i++ {
		if c := query[i]; c < 0x21 || c == 0x7f { // controls and spaces, which url.Parse refuses
			return false
		}
	}
	*u = url.URL{Path: path, RawQuery: query}
	if hasQuery && query == "" && strings.Count(uri, "?") == 1 {
		u.ForceQuery = true
	}
	return true
}

// plainPathBytes are the bytes a URL path holds unescaped: those for
// which url.URL.EscapedPath gives back the path unchanged.
var plainPathBytes = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for _, c := range "-_.~$&+,/:;=@" {
		t[c] = true
	}
	return t
}()

// plainContentLength returns the body length of a request framed by a
// valid Content-Length alone, as http.ReadRequest reads it, and false for
// any other framing or when allowed is false.
func plainContentLength(h http.Header, allowed bool) (int64, bool) {
	_, te := h["Transfer-Encoding"]
	_, tr := h["Trailer"]
	if !allowed || te || tr {
		return 0, false
	}
	n, err := contentLength(h)
	return n, err == nil && n >= 0
}

// hasBodyFraming reports fields that give a request a body or trailers.
func hasBodyFraming(h http.Header) bool {
	_, cl := h["Content-Length"]
	_, te := h["Transfer-Encoding"]
	_, tr := h["Trailer"]
	return cl || te || tr
}
