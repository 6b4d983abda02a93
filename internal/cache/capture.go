package cache

import (
	"bytes"
	"maps"
	"net/http"
	"strconv"
	"time"
)

// capture is the Writer of a request the cache fetches: it streams the
// response to the client while keeping a copy of its body, up to the
// entry cap, for the cache. A body without Content-Length (chunked) is
// kept too, and counts as complete only when the data plane says it
// delivered it whole (dataplane.RequestContext.ResponseComplete). The inner chain writes its header fields into
// a map of capture's own (a copy of the client's at the start), so the
// fields the upstream set can be told from those that outer policies set.
// When the client's own If-None-Match or If-Modified-Since matches a 200,
// the client gets a 304 while the body is still copied for the cache.
type capture struct {
	w      http.ResponseWriter // the client's writer
	header http.Header         // the fields the inner chain writes
	outer  http.Header         // header as it started: same value slices
	now    func() time.Time

	revalidating bool // a 304 answers the cache, not the client
	maxEntry     int64
	head         bool        // a HEAD request: no body follows
	auth         bool        // the request carried credentials
	cond         http.Header // the client's header, when it is conditional

	wroteHeader bool
	swallowed   bool // a 304 to the cache's revalidation: not sent
	silent      bool // the client gets a 304: the body is not sent
	status      int
	respTime    time.Time
	fresh       freshness
	storable    bool  // RFC 9111 and the config allow storing it
	tooBig      bool  // the body is over the cap, or its length is invalid
	keep        bool  // the body is still being copied
	want        int64 // the body's length; -1: unknown (no Content-Length)
	body        []byte
	failed      bool // a write to the client failed
	// delivered is the data plane's word that the body reached its end
	// (set after the inner chain returns); it completes a body of
	// unknown length.
	delivered bool
}

// newCapture wraps w for a request; auth says it carried credentials.
func newCapture(w http.ResponseWriter, r *http.Request, auth bool, p *Policy, revalidating bool) *capture {
	header := w.Header().Clone()
	c := &capture{
		w: w, header: header, outer: maps.Clone(header), now: p.now,
		revalidating: revalidating, maxEntry: p.maxEntry, head: r.Method == http.MethodHead, auth: auth,
	}
	if _, ok := r.Header["If-None-Match"]; ok || r.Header.Get("If-Modified-Since") != "" {
		c.cond = r.Header
	}
	return c
}

// Header returns the map the inner chain writes the response fields to;
// once the response is sent, the client's (for trailers).
func (c *capture) Header() http.Header {
	if c.wroteHeader && !c.swallowed {
		return c.w.Header()
	}
	return c.header
}

// WriteHeader decides whether the response can be stored and sends it
// on, unless it is a 304 to the cache's own revalidation.
func (c *capture) WriteHeader(code int) {
	if c.wroteHeader {
		return
	}
	if code < 200 {
		c.sync()
		c.w.WriteHeader(code)
		return
	}
	c.wroteHeader, c.status, c.respTime = true, code, c.now()
	if c.revalidating && code == http.StatusNotModified {
		c.swallowed = true
		return
	}
	c.fresh, c.storable = analyze(code, c.header, c.auth, c.respTime)
	if c.storable {
		c.sizeBody(code)
	}
	c.sync()
	h := c.w.Header()
	h[headerXCache] = []string{StatusMiss}
	if c.cond != nil && code == http.StatusOK && notModified(c.cond, c.header) {
		// The cache asked for the full response; the client gets its 304.
		c.silent, code = true, http.StatusNotModified
		delete(h, "Content-Length")
		delete(h, "Content-Type")
	}
	c.w.WriteHeader(code)
}

// sizeBody decides whether the body is copied: when its declared length
// is within the cap, or when it has none (it is then copied until it
// outgrows the cap, and kept only if delivered whole).
func (c *capture) sizeBody(code int) {
	if c.head || code == http.StatusNoContent {
		c.keep = true
		return
	}
	cl, ok := c.header["Content-Length"]
	if !ok {
		c.keep, c.want = true, -1
		return
	}
	n, err := strconv.ParseInt(cl[0], 10, 64)
	if err != nil || n < 0 || n > c.maxEntry {
		c.tooBig = true
		return
	}
	c.keep, c.want, c.body = true, n, make([]byte, 0, n)
}

// sync makes the client's header what the inner chain left in its map.
func (c *capture) sync() {
	h := c.w.Header()
	for k := range h {
		if _, ok := c.header[k]; !ok {
			delete(h, k)
		}
	}
	for k, vv := range c.header {
		h[k] = vv
	}
}

// Write copies b for the cache while it fits and sends it to the client.
func (c *capture) Write(b []byte) (int, error) {
	if !c.wroteHeader {
		c.WriteHeader(http.StatusOK)
	}
	if c.swallowed {
		return len(b), nil
	}
	if c.keep {
		c.copyBody(b)
	}
	if c.silent {
		return len(b), nil
	}
	n, err := c.w.Write(b)
	if err != nil {
		c.failed = true
	}
	return n, err
}

// copyBody keeps b while the body stays within its declared length, or
// within the cap when it declared none.
func (c *capture) copyBody(b []byte) {
	n := int64(len(c.body) + len(b))
	switch {
	case c.want >= 0 && n > c.want:
		c.keep, c.body = false, nil
	case c.want < 0 && n > c.maxEntry:
		c.keep, c.body, c.tooBig = false, nil, true
	default:
		c.body = append(c.body, b...)
	}
}

// Flush sends buffered data to the client.
func (c *capture) Flush() {
	if !c.wroteHeader {
		c.WriteHeader(http.StatusOK)
	}
	if f, ok := c.w.(http.Flusher); ok && !c.swallowed && !c.silent {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the client's writer.
func (c *capture) Unwrap() http.ResponseWriter { return c.w }

// complete reports whether the whole body was copied and sent: all its
// declared length, or, without one, all the data plane delivered.
func (c *capture) complete() bool {
	if !c.keep || c.failed {
		return false
	}
	switch {
	case c.head || c.status == http.StatusNoContent:
		return true
	case c.want < 0:
		return c.delivered
	}
	return int64(len(c.body)) == c.want
}

// storedBody returns the body to store. A body that came without
// Content-Length is copied to its exact size, and h (the stored fields)
// gets its Content-Length, so that a hit declares its length.
func (c *capture) storedBody(h http.Header) []byte {
	if c.want >= 0 || c.head || c.status == http.StatusNoContent {
		return c.body
	}
	h["Content-Length"] = []string{strconv.Itoa(len(c.body))}
	return bytes.Clone(c.body)
}

// stored returns the fields to store: those the inner chain set, without
// the gateway's per-request ones.
func (c *capture) stored() http.Header {
	h := make(http.Header, len(c.header))
	for k, vv := range c.header {
		if ov, ok := c.outer[k]; ok && sameSlice(ov, vv) {
			continue // an outer policy's field, not the response's
		}
		h[k] = vv
	}
	for _, k := range [...]string{"X-Request-Id", headerXCache, "Age"} {
		delete(h, k)
	}
	return h
}

// sameSlice reports whether a and b are the same slice.
func sameSlice(a, b []string) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

// statusWriter records the status of a response the cache bypasses and
// marks it X-Cache: BYPASS.
type statusWriter struct {
	http.ResponseWriter
	status int
}

// WriteHeader implements http.ResponseWriter.
func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
		w.Header()[headerXCache] = []string{StatusBypass}
	}
	w.ResponseWriter.WriteHeader(code)
}

// Write implements http.ResponseWriter.
func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

// Flush sends buffered data to the client.
func (w *statusWriter) Flush() {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the client's writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
