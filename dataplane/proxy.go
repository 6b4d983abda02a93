package dataplane

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// proxy is the last Handler of every chain: it sends the request to a
// target of the route's service, retrying as the service allows, and
// streams the answer back.
func (g *Gateway) proxy(rc *RequestContext) {
	up := rc.route.service
	if !up.acquire() {
		rc.fail(fmt.Errorf("service %s: %w", up.name, errCircuitOpen))
		return
	}
	defer up.release()
	in := rc.Request
	if in.ContentLength != 0 {
		// Let the upstream answer while the client is still sending.
		_ = http.NewResponseController(rc.Writer).EnableFullDuplex()
	}
	ctx, cancel := context.WithCancelCause(in.Context())
	defer cancel(nil)
	if hasBody(in) {
		rc.body = &reqBody{src: in.Body, limit: rc.bodyLimit}
	}
	tee := g.startMirror(rc)
	defer tee.abort() // a body not read to the end is not copied
	x := exchange{rc: rc, up: up, ctx: ctx, cancel: cancel}
	defer rc.timeUpstream(time.Now())
	resp, t, err := x.send()
	if err != nil {
		rc.fail(err)
		// A client that left mid-body gets nothing: no empty 200 either.
		rc.abort = rc.body != nil && rc.body.clientFailed.Load()
		return
	}
	defer t.inflight.Add(-1)
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusSwitchingProtocols {
		g.switchProtocols(rc, resp)
		return
	}
	g.respond(rc, resp, x.idle())
}

// exchange is one request's way to the upstream.
type exchange struct {
	rc     *RequestContext
	up     *upstream
	ctx    context.Context
	cancel context.CancelCauseFunc
	timer  *time.Timer // the total timeout, then the body read timeout
}

// send tries targets until one answers, the attempts run out or a failure
// may not be retried. The service's timeout bounds all of it, up to the
// response headers. On success the target's in-flight count is held
// until the caller releases it.
func (x *exchange) send() (*http.Response, *target, error) {
	rc, up := x.rc, x.up
	x.timer = time.AfterFunc(up.timeout, func() { x.cancel(errUpstreamTimeout) })
	tmpl := outbound(x.ctx, rc)
	var key uint64
	if up.hashed {
		key = up.hash.key(rc)
	}
	var tried uint64
	for attempt := 1; ; attempt++ {
		t, err := up.nextTarget(key, &tried)
		if err != nil {
			x.timer.Stop()
			return nil, nil, err
		}
		rc.upstream, rc.attempts = t.addr, attempt
		resp, err := x.attempt(tmpl, t, attempt)
		if err == nil {
			return resp, t, nil
		}
		if attempt >= up.retry.attempts || !retryable(x.ctx, rc.Request, err) ||
			!sleepCtx(x.ctx, up.retry.wait(attempt)) {
			x.timer.Stop()
			return nil, nil, x.cause(t, err)
		}
	}
}

// attempt sends the request to t once and records the outcome for passive
// health checks. A response that arrives after the deadline fired is
// discarded. The first attempt sends tmpl itself; a retry sends a copy,
// since the transport may still hold on to the request it failed.
func (x *exchange) attempt(tmpl *http.Request, t *target, n int) (*http.Response, error) {
	out := tmpl
	if n == 1 {
		tmpl.URL.Host = t.addr
	} else {
		out = new(http.Request)
		*out = *tmpl
		u := *tmpl.URL
		u.Host = t.addr
		out.URL = &u
	}
	t.inflight.Add(1)
	resp, err := x.up.transport.RoundTrip(out)
	if err != nil {
		t.inflight.Add(-1)
		// A client that left or sent too much says nothing about t.
		if x.rc.Request.Context().Err() == nil && !x.rc.body.failedHere() {
			x.up.observe(t, 0)
		}
		return nil, err
	}
	x.up.observe(t, resp.StatusCode)
	if !x.timer.Stop() { // the headers won the race, but the body is already cancelled
		resp.Body.Close()
		t.inflight.Add(-1)
		return nil, fmt.Errorf("%w after the response headers", errUpstreamTimeout)
	}
	return resp, nil
}

// cause wraps a final error with the context's cause (errUpstreamTimeout,
// or context.Canceled when the client went away) for classify.
func (x *exchange) cause(t *target, err error) error {
	if b := x.rc.body; b != nil && b.tooLarge.Load() {
		return fmt.Errorf("proxy to %s: %w", t.addr, errBodyTooLarge)
	}
	if b := x.rc.body; b != nil && b.clientFailed.Load() {
		return fmt.Errorf("proxy to %s: reading the request body: %w: %w", t.addr, errClientGone, err)
	}
	if b := x.rc.body; b != nil && b.malformed.Load() {
		return fmt.Errorf("proxy to %s: reading the request body: %w: %w", t.addr, errBadRequest, err)
	}
	if cause := context.Cause(x.ctx); cause != nil {
		return fmt.Errorf("proxy to %s: %w: %w", t.addr, cause, err)
	}
	return fmt.Errorf("proxy to %s: %w", t.addr, err)
}

// idle returns the read timeout that bounds each read of the response
// body, reusing the exchange's timer.
func (x *exchange) idle() idleTimer {
	return idleTimer{x.timer, x.up.readTimeout}
}

// idleTimer cancels the exchange when a body read takes longer than d.
type idleTimer struct {
	t *time.Timer
	d time.Duration
}

func (i idleTimer) reset() {
	if i.t != nil {
		i.t.Reset(i.d)
	}
}

func (i idleTimer) stop() {
	if i.t != nil {
		i.t.Stop()
	}
}

// outbound builds the template of the upstream request: the route's
// target URL without a host (each attempt sets it, so the Host header is
// the target's; the client's goes in X-Forwarded-Host), the client's
// headers without hop-by-hop ones, forwarding headers added, and the
// client's body streamed through.
func outbound(ctx context.Context, rc *RequestContext) *http.Request {
	in := rc.Request
	out := in.WithContext(ctx)
	out.URL = rc.targetURL()
	out.Host = ""
	out.RequestURI = ""
	out.Close = false
	out.Header = cloneHeader(in.Header, 8) // room for the forwarding and trace fields
	out.Body, out.GetBody = nil, nil
	if rc.body != nil {
		out.Body = rc.body
	}
	// Shared, not copied: the server fills in the values once the client's
	// body is read, before the transport sends them.
	out.Trailer = in.Trailer
	keepTE := hasToken(out.Header["Te"], "trailers")
	removeHopByHop(out.Header)
	if p := upgradeProtocol(in.Header); p != "" {
		keepUpgrade(out.Header, p)
	}
	setForwarded(out.Header, in, rc.RequestID)
	setTraceHeaders(out.Header, &rc.trace)
	if keepTE {
		out.Header["Te"] = []string{"trailers"}
	}
	return out
}

// targetURL is the upstream URL of the request, without host: rewritten,
// stripped of what the route matched, or as it came.
func (rc *RequestContext) targetURL() *url.URL {
	return rc.targetURLFor(rc.route.service)
}

// targetURLFor is targetURL under the base path of up.
func (rc *RequestContext) targetURLFor(up *upstream) *url.URL {
	out := new(url.URL)
	rc.fillTargetURL(out, up)
	return out
}

// fillTargetURL is targetURLFor into out, for a caller that keeps the URL
// in memory of its own.
func (rc *RequestContext) fillTargetURL(out *url.URL, up *upstream) {
	cr, in := rc.route, rc.Request.URL
	switch {
	case cr.rewrite != nil:
		*out = *cr.rewrite.target(rc, up)
	case !cr.stripPath:
		up.fillTarget(out, in, "", false)
	case cr.kind == kindExact:
		up.fillTargetPath(out, "", "", in.RawQuery)
	case cr.kind == kindRegex:
		rest := ""
		if loc := rc.submatches(); len(loc) > 1 {
			rest = rc.path[loc[1]:]
		}
		if rest != "" && rest[0] != '/' {
			rest = "/" + rest
		}
		up.fillTargetPath(out, rest, "", in.RawQuery)
	default:
		up.fillTarget(out, in, cr.prefix, true)
	}
}
