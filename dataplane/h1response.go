package dataplane

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// h1BodyBuffer is how much of a body of undeclared length the writer holds
// back: a handler that writes no more and returns gets a Content-Length
// answer; a longer body, or a Flush, makes it chunked.
const h1BodyBuffer = 4096

// h1ResponseWriter is the http.ResponseWriter of an h1ServerConn. The
// status line and header are written when the first body bytes are
// flushed, or when the handler returns; until then small bodies are held
// so that they can be framed with a Content-Length.
type h1ResponseWriter struct {
	c      *h1ServerConn
	req    *http.Request // nil when answering a request that could not be read
	header http.Header   // reused between requests of the connection

	status      int
	wroteHeader bool  // WriteHeader was called with a final status
	sentHeader  bool  // the status line and header are in bw
	declared    int64 // Content-Length the handler set; -1: none
	written     int64 // body bytes accepted
	chunked     bool
	closeAfter  bool // close the connection after this response
	hijacked    bool
	broken      bool   // the response cannot be completed: close
	aborted     bool   // the handler panicked: send nothing more
	held        []byte // body bytes held back before the header
}

// reset prepares the writer for req.
func (w *h1ResponseWriter) reset(c *h1ServerConn, req *http.Request) {
	h := w.header
	if h == nil {
		h = make(http.Header, 8)
	}
	clear(h)
	*w = h1ResponseWriter{c: c, req: req, header: h, declared: -1, held: w.held[:0]}
	if req != nil && req.Close {
		w.closeAfter = true
	}
}

// retract takes back a final status that has not reached the client:
// nothing of the response is sent or held, so the handler may answer
// anew. The header map is left to the caller. It reports false, and
// changes nothing, once anything was sent.
func (w *h1ResponseWriter) retract() bool {
	if w.sentHeader || w.hijacked || w.aborted || w.written > 0 {
		return false
	}
	w.wroteHeader, w.status, w.declared = false, 0, -1
	return true
}

// relayed records a response that was written past the writer (see
// h1relay.go): status with a body of n bytes, all sent.
func (w *h1ResponseWriter) relayed(status int, n int64) {
	w.wroteHeader, w.sentHeader, w.status = true, true, status
	w.declared, w.written = n, n
}

// Header returns the header to be sent.
func (w *h1ResponseWriter) Header() http.Header { return w.header }

// WriteHeader records the status. 1xx statuses other than 101 are sent at
// once as interim responses; a second final status is ignored.
func (w *h1ResponseWriter) WriteHeader(code int) {
	if w.hijacked || w.wroteHeader {
		return
	}
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		w.writeInterim(code)
		return
	}
	w.wroteHeader, w.status = true, code
	if cl := w.header.Get("Content-Length"); cl != "" {
		if n, err := strconv.ParseInt(cl, 10, 64); err == nil && n >= 0 {
			w.declared = n
		} else {
			w.header.Del("Content-Length")
		}
	}
}

// writeInterim sends a 1xx response with the current header.
func (w *h1ResponseWriter) writeInterim(code int) {
	w.c.continueMu.Lock()
	defer w.c.continueMu.Unlock()
	bw := w.c.bw
	bw.WriteString(statusLine(code))
	writeResponseFields(bw, w.header, true)
	bw.WriteString("\r\n")
	if err := bw.Flush(); err != nil {
		w.broken = true
	}
}

// bodyAllowed reports whether the response may carry a body.
func (w *h1ResponseWriter) bodyAllowed() bool {
	if w.req != nil && w.req.Method == http.MethodHead {
		return false
	}
	return w.status != http.StatusNoContent && w.status != http.StatusNotModified && w.status >= 200
}

// Write sends body bytes, holding small ones back until it knows how to
// frame the body.
func (w *h1ResponseWriter) Write(p []byte) (int, error) {
	if w.hijacked {
		return 0, http.ErrHijacked
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !w.bodyAllowed() {
		if w.req != nil && w.req.Method == http.MethodHead {
			return len(p), nil
		}
		return 0, http.ErrBodyNotAllowed
	}
	if w.declared >= 0 && w.written+int64(len(p)) > w.declared {
		return 0, http.ErrContentLength
	}
	w.written += int64(len(p))
	if !w.sentHeader {
		if w.declared < 0 && len(w.held)+len(p) <= h1BodyBuffer {
			w.held = append(w.held, p...)
			return len(p), nil
		}
		w.sendHeader(false)
	}
	return w.writeBody(p)
}

// writeBody writes p as it is or as one chunk.
func (w *h1ResponseWriter) writeBody(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	bw := w.c.bw
	if w.chunked {
		bw.Write(strconv.AppendInt(bw.AvailableBuffer(), int64(len(p)), 16))
		bw.WriteString("\r\n")
	}
	n, err := bw.Write(p)
	if w.chunked && err == nil {
		_, err = bw.WriteString("\r\n")
	}
	if err != nil {
		w.broken = true
	}
	return n, err
}

// sendHeader writes the status line and the header. final is true when
// the handler has returned, so a held body's length is known.
func (w *h1ResponseWriter) sendHeader(final bool) {
	w.startHeader()
	bw := w.c.bw
	bw.WriteString(statusLine(w.status))
	if _, set := w.header["Date"]; !set { // a nil value suppresses it
		bw.WriteString("Date: ")
		bw.Write(httpDate())
		bw.WriteString("\r\n")
	}
	if w.header["Connection"] != nil && hasToken(w.header["Connection"], "close") {
		w.closeAfter = true
	}
	writeResponseFields(bw, w.header, true)
	w.writeFraming(bw, final)
	bw.WriteString("\r\n")
	if len(w.held) > 0 {
		held := w.held
		w.held = w.held[:0]
		w.writeBody(held)
	}
}

// startHeader marks the header sent, so that no 100 Continue can follow,
// and decides whether the connection is closed after this response: once
// Shutdown has closed the listener, or when what is left of the request
// body cannot be drained.
func (w *h1ResponseWriter) startHeader() {
	c := w.c
	c.continueMu.Lock()
	w.sentHeader, c.headerStarted = true, true
	c.continueMu.Unlock()
	if c.srv.draining.Load() {
		w.closeAfter = true
	}
	if w.req == nil {
		return
	}
	if b, ok := w.req.Body.(*h1RequestBody); ok && !b.unreadFits(w.req.ContentLength) {
		w.closeAfter = true
	}
}

// writeContinue sends 100 Continue unless the response has started; the
// request body calls it, possibly from a transport's goroutine.
func (w *h1ResponseWriter) writeContinue() error {
	c := w.c
	c.continueMu.Lock()
	defer c.continueMu.Unlock()
	if c.headerStarted {
		return nil
	}
	c.bw.WriteString("HTTP/1.1 100 Continue\r\n\r\n")
	return c.bw.Flush()
}

// writeFraming decides and writes how the body is delimited.
func (w *h1ResponseWriter) writeFraming(bw *bufio.Writer, final bool) {
	switch {
	case !w.bodyAllowed():
		if w.declared >= 0 && w.req != nil && w.req.Method == http.MethodHead {
			writeContentLength(bw, w.declared)
		}
	case w.declared >= 0:
		writeContentLength(bw, w.declared)
	case final:
		writeContentLength(bw, int64(len(w.held)))
	case w.req != nil && w.req.ProtoAtLeast(1, 1):
		w.chunked = true
		bw.WriteString("Transfer-Encoding: chunked\r\n")
	default: // HTTP/1.0: the end of the connection ends the body
		w.closeAfter = true
	}
	if w.closeAfter {
		bw.WriteString("Connection: close\r\n")
	} else if w.req != nil && !w.req.ProtoAtLeast(1, 1) {
		bw.WriteString("Connection: keep-alive\r\n")
	}
}

func writeContentLength(bw *bufio.Writer, n int64) {
	bw.WriteString("Content-Length: ")
	bw.Write(strconv.AppendInt(bw.AvailableBuffer(), n, 10))
	bw.WriteString("\r\n")
}

// Flush sends the header and what is buffered to the client at once.
func (w *h1ResponseWriter) Flush() {
	if w.hijacked {
		return
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !w.sentHeader {
		w.sendHeader(false)
	}
	if err := w.c.bw.Flush(); err != nil {
		w.broken = true
	}
}

// FlushError is Flush reporting the write error, for ResponseController.
func (w *h1ResponseWriter) FlushError() error {
	w.Flush()
	if w.broken {
		return net.ErrClosed
	}
	return nil
}

// EnableFullDuplex is a no-op: the server always lets the handler read the
// request body after it started writing the response.
func (w *h1ResponseWriter) EnableFullDuplex() error { return nil }

// Hijack hands the connection to the handler, with the bytes already read
// from it in the returned reader. The server forgets the connection.
func (w *h1ResponseWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if w.hijacked {
		return nil, nil, http.ErrHijacked
	}
	if w.sentHeader {
		return nil, nil, errors.New("hijack after the response header was sent")
	}
	c := w.c
	c.watch.stop()
	if c.lr.hasByte && c.br.Buffered() == 0 {
		_, _ = c.br.Peek(1) // move the byte the watch read into the buffer
	}
	w.hijacked = true
	c.srv.remove(c) // Shutdown does not wait for upgraded connections
	return c.nc, bufio.NewReadWriter(c.br, c.bw), nil
}

// finish completes the response after the handler returned and reports
// whether the connection may be kept.
func (w *h1ResponseWriter) finish() bool {
	if w.aborted { // what was flushed stays sent; the rest is dropped
		if w.sentHeader {
			_ = w.c.bw.Flush()
		}
		return false
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !w.sentHeader {
		w.sendHeader(true)
	}
	bw := w.c.bw
	if w.chunked && !w.broken {
		bw.WriteString("0\r\n")
		writeTrailers(bw, w.header)
		bw.WriteString("\r\n")
	}
	if w.declared >= 0 && w.written < w.declared && w.bodyAllowed() {
		w.broken = true // the client waits for bytes that will not come
	}
	if err := bw.Flush(); err != nil {
		w.broken = true
	}
	return !w.closeAfter && !w.broken
}

// writeResponseFields writes the header fields of h, except those the
// writer frames itself, trailers and invalid names (as net/http drops
// them); line breaks in values become spaces.
func writeResponseFields(bw *bufio.Writer, h http.Header, skipFraming bool) {
	for k, vv := range h {
		if skipFraming && responseFramingField(k) || strings.HasPrefix(k, http.TrailerPrefix) || !validToken(k) {
			continue
		}
		for _, v := range vv {
			bw.WriteString(k)
			bw.WriteString(": ")
			writeFieldValue(bw, v)
			bw.WriteString("\r\n")
		}
	}
}

// responseFramingField reports the fields the writer sets itself.
func responseFramingField(k string) bool {
	switch k {
	case "Content-Length", "Transfer-Encoding", "Connection":
		return true
	}
	return false
}

// writeTrailers writes the trailer fields: those announced in the Trailer
// header and set after it, and those named with http.TrailerPrefix.
func writeTrailers(bw *bufio.Writer, h http.Header) {
	for _, names := range h["Trailer"] {
		for name := range strings.SplitSeq(names, ",") {
			k := http.CanonicalHeaderKey(strings.TrimSpace(name))
			for _, v := range h[k] {
				if !responseFramingField(k) && validToken(k) {
					bw.WriteString(k + ": ")
					writeFieldValue(bw, v)
					bw.WriteString("\r\n")
				}
			}
		}
	}
	for k, vv := range h {
		if name, ok := strings.CutPrefix(k, http.TrailerPrefix); ok && validToken(name) {
			for _, v := range vv {
				bw.WriteString(http.CanonicalHeaderKey(name) + ": ")
				writeFieldValue(bw, v)
				bw.WriteString("\r\n")
			}
		}
	}
}

// writeFieldValue writes v with CR and LF replaced by spaces, so a value
// cannot start a new header line.
func writeFieldValue(bw *bufio.Writer, v string) {
	if strings.ContainsAny(v, "\r\n") {
		v = strings.NewReplacer("\r", " ", "\n", " ").Replace(v)
	}
	bw.WriteString(v)
}

// statusLines caches "HTTP/1.1 <code> <text>\r\n" for codes 100-599.
var statusLines = func() (t [600]string) {
	for code := 100; code < len(t); code++ {
		text := http.StatusText(code)
		if text == "" {
			text = "status code " + strconv.Itoa(code)
		}
		t[code] = "HTTP/1.1 " + strconv.Itoa(code) + " " + text + "\r\n"
	}
	return t
}()

func statusLine(code int) string {
	if code >= 100 && code < len(statusLines) {
		return statusLines[code]
	}
	return "HTTP/1.1 " + strconv.Itoa(code) + " status code\r\n"
}

// dateValue is the current Date header value, formatted once a second.
type dateValue struct {
	unix int64
	text []byte
}

var currentDate atomic.Pointer[dateValue]

// httpDate returns the Date header value for now (RFC 9110 IMF-fixdate).
func httpDate() []byte {
	now := time.Now()
	if d := currentDate.Load(); d != nil && d.unix == now.Unix() {
		return d.text
	}
	d := &dateValue{unix: now.Unix(), text: now.UTC().AppendFormat(nil, http.TimeFormat)}
	currentDate.Store(d)
	return d.text
}
