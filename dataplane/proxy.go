package dataplane

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// proxy is the last Handler of every chain: it sends the request to the
// route's service and streams the answer back.
func (g *Gateway) proxy(rc *RequestContext) {
	up := rc.route.service
	rc.upstream = up.host
	in := rc.Request
	if in.ContentLength != 0 {
		// Let the upstream answer while the client is still sending.
		_ = http.NewResponseController(rc.Writer).EnableFullDuplex()
	}
	ctx, cancel := context.WithCancelCause(in.Context())
	defer cancel(nil)
	resp, err := roundTrip(ctx, cancel, up, outbound(ctx, rc))
	if err != nil {
		rc.fail(err)
		return
	}
	defer resp.Body.Close()
	g.respond(rc, resp)
}

// roundTrip sends out and waits for the response headers for at most the
// service's timeout, counted from the start (dial, request body and
// waiting); the response body is not bounded by it. Errors carry the context's cause (errUpstreamTimeout,
// or context.Canceled when the client went away) for classify.
func roundTrip(ctx context.Context, cancel context.CancelCauseFunc, up *upstream, out *http.Request) (*http.Response, error) {
	timer := time.AfterFunc(up.timeout, func() { cancel(errUpstreamTimeout) })
	resp, err := up.transport.RoundTrip(out)
	fired := !timer.Stop()
	switch {
	case err != nil:
		if cause := context.Cause(ctx); cause != nil {
			return nil, fmt.Errorf("proxy to %s: %w: %w", up.host, cause, err)
		}
		return nil, fmt.Errorf("proxy to %s: %w", up.host, err)
	case fired: // the headers won the race, but the body is already cancelled
		resp.Body.Close()
		return nil, fmt.Errorf("proxy to %s: %w", up.host, errUpstreamTimeout)
	}
	return resp, nil
}

// outbound builds the upstream request: the route's target URL (so the
// Host header is the upstream's; the client's goes in X-Forwarded-Host),
// the client's headers without hop-by-hop ones, forwarding headers added,
// and the client's body streamed through.
func outbound(ctx context.Context, rc *RequestContext) *http.Request {
	in := rc.Request
	out := in.WithContext(ctx)
	out.URL = rc.route.service.target(in.URL, rc.route.prefix, rc.route.stripPath)
	out.Host = ""
	out.RequestURI = ""
	out.Close = false
	out.Header = in.Header.Clone()
	if out.Header == nil {
		out.Header = http.Header{}
	}
	if in.ContentLength == 0 {
		out.Body, out.GetBody = nil, nil
	}
	// Shared, not copied: the server fills in the values once the client's
	// body is read, before the transport sends them.
	out.Trailer = in.Trailer
	keepTE := hasToken(out.Header["Te"], "trailers")
	removeHopByHop(out.Header)
	setForwarded(out.Header, in, rc.RequestID)
	if keepTE {
		out.Header["Te"] = []string{"trailers"}
	}
	return out
}
