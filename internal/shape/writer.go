package shape

import (
	"mime"
	"net/http"
	"strconv"
	"strings"
)

// mode is what a writer does with the response.
type mode uint8

const (
	undecided mode = iota // no status yet
	buffering             // a JSON answer, held back to be shaped
	passing               // anything else: sent through as it comes
)

// writer holds back a shapeable answer (2xx JSON, not encoded, within
// limit) until finish shapes and sends it; it passes anything else, and
// an answer that outgrows limit, through unchanged.
type writer struct {
	http.ResponseWriter
	rule   *rule
	limit  int64
	mode   mode
	status int
	buf    []byte
}

// WriteHeader decides, from the status and headers, whether to shape.
func (w *writer) WriteHeader(code int) {
	switch {
	case w.mode != undecided || code < 200: // informational, or already decided
		w.ResponseWriter.WriteHeader(code)
	case shapeable(code, w.Header(), w.limit):
		w.mode, w.status = buffering, code
	default:
		w.mode = passing
		w.ResponseWriter.WriteHeader(code)
	}
}

// Write buffers while shaping, spilling the buffer once it would exceed
// the limit.
func (w *writer) Write(b []byte) (int, error) {
	if w.mode == undecided {
		w.WriteHeader(http.StatusOK)
	}
	if w.mode == passing {
		return w.ResponseWriter.Write(b)
	}
	if int64(len(w.buf)+len(b)) > w.limit {
		if err := w.spill(); err != nil {
			return 0, err
		}
		return w.ResponseWriter.Write(b)
	}
	w.buf = append(w.buf, b...)
	return len(b), nil
}

// spill gives up shaping: it sends the status and what was buffered.
func (w *writer) spill() error {
	w.mode = passing
	w.ResponseWriter.WriteHeader(w.status)
	_, err := w.ResponseWriter.Write(w.buf)
	w.buf = nil
	return err
}

// Flush passes a flush on unless the answer is being held back.
func (w *writer) Flush() {
	if w.mode == buffering {
		return
	}
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *writer) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// finish shapes and sends a held-back answer. A body that is not valid
// JSON (or was cut short) is sent as it came.
func (w *writer) finish() {
	if w.mode != buffering {
		return
	}
	out, err := w.rule.apply(w.buf)
	if err != nil {
		_ = w.spill()
		return
	}
	h := w.Header()
	h.Set("Content-Length", strconv.Itoa(len(out)))
	h.Del("Etag") // it described the upstream's body
	h.Del("Content-Md5")
	w.mode = passing
	w.ResponseWriter.WriteHeader(w.status)
	_, _ = w.ResponseWriter.Write(out)
}

// shapeable reports whether an answer can be shaped: a 2xx with a body,
// a JSON media type, no content encoding, no trailers, and a declared
// length (if any) within limit.
func shapeable(code int, h http.Header, limit int64) bool {
	if code < 200 || code > 299 || code == http.StatusNoContent || code == http.StatusResetContent ||
		code == http.StatusPartialContent {
		return false
	}
	if enc := h.Get("Content-Encoding"); enc != "" && !strings.EqualFold(enc, "identity") {
		return false
	}
	if len(h["Trailer"]) > 0 || !isJSONType(h.Get("Content-Type")) {
		return false
	}
	if cl := h.Get("Content-Length"); cl != "" {
		n, err := strconv.ParseInt(cl, 10, 64)
		return err == nil && n <= limit
	}
	return true
}

// isJSONType reports whether a Content-Type is application/json or
// another JSON media type (application/problem+json).
func isJSONType(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	return mt == "application/json" || (strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"))
}
