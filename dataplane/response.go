package dataplane

import (
	"errors"
	"fmt"
	"io"
	"net/http"
)

// respond streams the upstream's response to the client: status, headers
// without hop-by-hop ones, body and trailers.
func (g *Gateway) respond(rc *RequestContext, resp *http.Response, idle idleTimer) {
	removeHopByHop(resp.Header)
	removeGatewayOnly(resp.Header)
	removeGatewayOnly(resp.Trailer) // nor announced as a trailer
	h := rc.Writer.Header()
	for k, vv := range resp.Header {
		h[k] = vv
	}
	h[headerRequestID] = []string{rc.RequestID}
	for k := range resp.Trailer {
		h.Add("Trailer", k)
	}
	rc.Writer.WriteHeader(resp.StatusCode)
	var flusher http.Flusher
	if resp.ContentLength == -1 { // a stream of unknown length: pass on each piece at once
		flusher, _ = rc.Writer.(http.Flusher)
	}
	if flusher != nil {
		flusher.Flush()
	}
	err := g.copyBody(rc.Writer, resp.Body, flusher, idle)
	idle.stop()
	if err != nil && !errors.Is(err, errClientGone) && retract(rc, resp) {
		rc.fail(err) // nothing reached the client: a gateway error, not a broken 200
		return
	}
	if err != nil {
		rc.err = err
		// A truncated body must not look complete; a gone client needs nothing.
		rc.abort = rc.Request.Context().Err() == nil && !errors.Is(err, errClientGone)
		return
	}
	// Asked again: a writer that captures the response (the cache's) may
	// hand out another map once the header is written.
	h = rc.Writer.Header()
	removeGatewayOnly(resp.Trailer) // the values arrive with the body's end
	for k, vv := range resp.Trailer {
		h[http.TrailerPrefix+k] = vv
	}
	rc.complete = true
}

// retract takes back a response whose body broke off before any of it
// was sent, removing the upstream's fields from the header, when the
// writer allows (see responseWriter.retract).
func retract(rc *RequestContext, resp *http.Response) bool {
	r, ok := rc.Writer.(interface{ retract() bool })
	if !ok || !r.retract() {
		return false
	}
	h := rc.Writer.Header()
	for k := range resp.Header {
		delete(h, k)
	}
	delete(h, "Trailer")
	return true
}

// copyBody streams src to dst, flushing after each write when f is set,
// and bounding each read by idle. A read failure wraps errUpstreamAborted,
// a write failure errClientGone.
func (g *Gateway) copyBody(dst io.Writer, src io.Reader, f http.Flusher, idle idleTimer) error {
	bp := g.bufs.Get().(*[]byte)
	defer g.bufs.Put(bp)
	buf := *bp
	for {
		idle.reset()
		n, rerr := src.Read(buf)
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return fmt.Errorf("%w: %w", errClientGone, werr)
			}
			if f != nil {
				f.Flush()
			}
		}
		switch {
		case rerr == io.EOF:
			return nil
		case rerr != nil:
			return fmt.Errorf("%w: %w", errUpstreamAborted, rerr)
		}
	}
}
