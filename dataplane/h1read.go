package dataplane

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"net/textproto"
	"strconv"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// framing is how the body of a response read by the h1Client ends.
type framing struct {
	length  int64 // bytes of a Content-Length body; -1: not by length
	chunked bool  // chunked transfer coding, then trailer fields
	toClose bool  // the body runs to the end of the connection
}

func (f framing) empty() bool { return f.length == 0 }

var noBody = framing{}

// parseResponseHead parses a response head read by readMessageHead for
// req, with the framing rules of RFC 9112 §6.3 as net/http applies them:
// no body for HEAD, 1xx, 204 and 304; chunked (the only transfer coding
// accepted) over Content-Length, whose field is then dropped; several
// Content-Length fields only if equal; with neither, the body runs to
// the close of the connection.
func parseResponseHead(head string, req *http.Request) (*http.Response, framing, error) {
	line, fields := headLine(head)
	resp := &http.Response{Request: req}
	if err := parseStatusLine(line, resp); err != nil {
		return nil, noBody, err
	}
	if len(head) > maxPinnedHead { // see parseHeaderFields
		resp.Status, resp.Proto = strings.Clone(resp.Status), strings.Clone(resp.Proto)
	}
	h, err := parseHeaderFields(fields)
	if err != nil {
		return nil, noBody, err
	}
	resp.Header = h
	fixPragmaCacheControl(h)
	resp.Close = closeAfter(resp.ProtoMinor, h)
	chunked, err := transferChunked(resp.ProtoMinor, h)
	if err != nil {
		return nil, noBody, err
	}
	length, err := contentLength(h)
	if err != nil {
		return nil, noBody, err
	}
	if chunked {
		if resp.Trailer, err = declaredTrailer(h); err != nil {
			return nil, noBody, err
		}
	}
	code := resp.StatusCode
	switch {
	case req.Method == http.MethodHead || code/100 == 1 || code == http.StatusNoContent || code == http.StatusNotModified:
		resp.ContentLength = 0
		if req.Method == http.MethodHead {
			resp.ContentLength = length // what a GET would have had
		}
		return resp, noBody, nil
	case chunked:
		delete(h, "Content-Length")
		resp.ContentLength, resp.TransferEncoding = -1, []string{"chunked"}
		return resp, framing{length: -1, chunked: true}, nil
	case length >= 0:
		resp.ContentLength = length
		return resp, framing{length: length}, nil
	}
	resp.ContentLength, resp.Close = -1, true
	return resp, framing{length: -1, toClose: true}, nil
}

// parseStatusLine fills in the status and protocol of resp from
// "HTTP/1.1 200 OK".
func parseStatusLine(line string, resp *http.Response) error {
	proto, status, ok := strings.Cut(line, " ")
	if !ok {
		return fmt.Errorf("malformed status line %q", clip(line))
	}
	major, minor, ok := http.ParseHTTPVersion(proto)
	if !ok || major != 1 {
		return fmt.Errorf("malformed HTTP version in status line %q", clip(line))
	}
	code, _, _ := strings.Cut(status, " ")
	n, err := strconv.Atoi(code)
	if len(code) != 3 || err != nil || n < 100 {
		return fmt.Errorf("malformed status code in status line %q", clip(line))
	}
	resp.Proto, resp.ProtoMajor, resp.ProtoMinor = proto, major, minor
	resp.Status, resp.StatusCode = strings.TrimLeft(status, " "), n
	return nil
}

// fixPragmaCacheControl reads "Pragma: no-cache" without a Cache-Control
// as "Cache-Control: no-cache", as net/http does (RFC 9111 §5.4), so an
// HTTP/1.0 upstream's no-cache keeps its meaning for the cache plugin.
func fixPragmaCacheControl(h http.Header) {
	if p := h["Pragma"]; len(p) > 0 && p[0] == "no-cache" {
		if _, ok := h["Cache-Control"]; !ok {
			h["Cache-Control"] = []string{"no-cache"}
		}
	}
}

// closeAfter reports whether the connection ends after this message:
// "Connection: close", or HTTP/1.0 without "keep-alive".
func closeAfter(minor int, h http.Header) bool {
	conn := h["Connection"]
	if minor == 0 {
		return !httpguts.HeaderValuesContainsToken(conn, "keep-alive") ||
			httpguts.HeaderValuesContainsToken(conn, "close")
	}
	return httpguts.HeaderValuesContainsToken(conn, "close")
}

// transferChunked reports a chunked body. Transfer-Encoding is ignored
// in HTTP/1.0; any coding other than chunked alone is refused.
func transferChunked(minor int, h http.Header) (bool, error) {
	te, ok := h["Transfer-Encoding"]
	if !ok {
		return false, nil
	}
	delete(h, "Transfer-Encoding")
	if minor == 0 {
		return false, nil
	}
	if len(te) != 1 || !strings.EqualFold(textproto.TrimString(te[0]), "chunked") {
		return false, fmt.Errorf("unsupported transfer encoding %q", te)
	}
	return true, nil
}

// contentLength returns the Content-Length, or -1 without one. Several
// fields must agree, and are collapsed into one.
func contentLength(h http.Header) (int64, error) {
	cl := h["Content-Length"]
	if len(cl) == 0 {
		return -1, nil
	}
	first := textproto.TrimString(cl[0])
	for _, v := range cl[1:] {
		if textproto.TrimString(v) != first {
			return 0, fmt.Errorf("differing Content-Length fields %q", cl)
		}
	}
	if len(cl) > 1 {
		h["Content-Length"] = cl[:1]
	}
	n, err := strconv.ParseUint(first, 10, 63)
	if err != nil || first == "" || first[0] == '+' {
		return 0, fmt.Errorf("invalid Content-Length %q", clip(first))
	}
	return int64(n), nil
}

// declaredTrailer returns the fields a chunked response announces in its
// Trailer header, with nil values until the trailer section is read, and
// removes the header, as net/http does.
func declaredTrailer(h http.Header) (http.Header, error) {
	vv, ok := h["Trailer"]
	if !ok {
		return nil, nil
	}
	delete(h, "Trailer")
	trailer := make(http.Header)
	for _, v := range vv {
		for name := range strings.SplitSeq(v, ",") {
			name = textproto.CanonicalMIMEHeaderKey(textproto.TrimString(name))
			switch name {
			case "Transfer-Encoding", "Trailer", "Content-Length":
				return nil, fmt.Errorf("bad trailer key %q", name)
			case "":
				continue
			}
			trailer[name] = nil
		}
	}
	return trailer, nil
}

// bodyReader reads a response body as its framing says, from the
// connection's buffered reader.
type bodyReader struct {
	br      *bufio.Reader
	f       framing
	left    int64     // bytes left of a Content-Length body
	chunks  io.Reader // the chunked decoder
	resp    *http.Response
	scratch *[]byte // for the trailer section
}

func newBodyReader(br *bufio.Reader, f framing, resp *http.Response, scratch *[]byte) bodyReader {
	r := bodyReader{br: br, f: f, left: f.length, resp: resp, scratch: scratch}
	if f.chunked {
		r.chunks = httputil.NewChunkedReader(br)
	}
	return r
}

// Read returns io.EOF at the body's end, and io.ErrUnexpectedEOF when
// the connection ends before a body of known length or a chunked one
// does.
func (r *bodyReader) Read(p []byte) (int, error) {
	switch {
	case r.f.chunked:
		n, err := r.chunks.Read(p)
		if err == io.EOF {
			err = r.readTrailer()
		}
		return n, err
	case r.f.toClose:
		return r.br.Read(p)
	}
	if r.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.left {
		p = p[:r.left]
	}
	n, err := r.br.Read(p)
	r.left -= int64(n)
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// h1MaxTrailerBytes bounds a response's trailer section: net/http refused
// one it could not see the end of in its read buffer, which was this size.
const h1MaxTrailerBytes = h1BufferSize

// readTrailer reads the trailer section after the last chunk into
// resp.Trailer, and returns io.EOF once it is read.
func (r *bodyReader) readTrailer() error {
	b, err := r.br.Peek(2)
	switch {
	case len(b) < 2:
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return err
	case b[0] == '\r' && b[1] == '\n':
		_, _ = r.br.Discard(2)
		return io.EOF
	case b[0] == '\n' || b[0] == '\r':
		return errors.New("malformed end of chunked body")
	}
	head, err := readMessageHead(r.br, r.scratch, h1MaxTrailerBytes)
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	if err == nil && !strings.HasSuffix(head, "\r\n\r\n") {
		err = errors.New("not ended by CRLF CRLF") // as net/http requires
	}
	if err != nil {
		return fmt.Errorf("reading the trailer: %w", err)
	}
	fields, err := parseHeaderFields(head)
	if err != nil {
		return fmt.Errorf("reading the trailer: %w", err)
	}
	if r.resp.Trailer == nil {
		r.resp.Trailer = make(http.Header, len(fields))
	}
	for k, vv := range fields {
		r.resp.Trailer[k] = vv
	}
	return io.EOF
}
