package dataplane

import (
	"net/http"
	"time"
)

// RequestContext is one request on its way through a route's policy chain.
// The gateway reuses it once the request is done: policies must not keep
// it, or use it from other goroutines, after their Handler returns.
type RequestContext struct {
	// Request is the client's request. A policy may replace it, for
	// example with a modified clone, before calling next; the proxy sends
	// what it finds here.
	Request *http.Request
	// Writer answers the client. A policy may wrap it before calling next
	// to observe or change the response.
	Writer http.ResponseWriter
	// RequestID is the request's X-Request-Id: the client's when it sent a
	// sane one, otherwise generated. It is forwarded and returned.
	RequestID string
	// Consumer is the authenticated consumer's username, set by an auth
	// policy; "" while the request is anonymous. Later policies (rate
	// limits, transforms, cache keys) and the access log read it.
	Consumer string
	// CacheStatus is the cache plugin's verdict on the request: "HIT",
	// "MISS" or "BYPASS"; "" when no cache policy ran. The access log
	// reads it.
	CacheStatus string

	route    *compiledRoute
	path     string // the path the route matched
	loc      []int  // submatch indexes of a regex path in path; nil until needed
	hw       headerWriter
	rw       responseWriter
	start    time.Time
	upstream string // host:port the request was sent to
	attempts int    // tries of the upstream; more than 1 after retries
	// body wraps the client's body for the upstream; nil without a body.
	// It is allocated per request because the transport may still read it
	// after the handler returned (when the upstream answered early).
	body      *reqBody
	bodyLimit int64 // request body limit; 0: none
	err       error // why the request failed, for the access log
	status    int   // status to log when nothing was written (499)
	abort     bool  // the upstream broke off mid-body: abort the response
	complete  bool  // the answer was delivered whole: see ResponseComplete

	// Observability: see observe.go and trace.go.
	trace        traceContext
	upstreamTime time.Duration // first attempt to the end of the response body
	reason       string        // the X-Tollgate-Error code of a gateway answer
	rejected     bool          // reason came from a policy's Reject
	metrics      RouteMetrics  // the route's; nil without Options.Metrics or a route
	record       AccessRecord  // filled when the request ends; reused
	spans        spanState     // this request's span steps: see spans.go
}

// Route returns the name of the matched route ("" when none matched).
func (rc *RequestContext) Route() string {
	if rc.route == nil {
		return ""
	}
	return rc.route.name
}

// Service returns the name of the matched route's service.
func (rc *RequestContext) Service() string {
	if rc.route == nil {
		return ""
	}
	return rc.route.service.name
}

// ResponseComplete reports, once next has returned, whether the answer was
// delivered whole: the proxy copied the upstream's body to its end and
// handed every byte to Writer, or the gateway answered with an error of
// its own (Reject, or a failure such as 502 or 504). It is false when the
// upstream broke off mid-body, the client went away, the connection was
// upgraded, or nothing was proxied (a policy answered itself). A policy
// that keeps a copy of a body of unknown length (no Content-Length) reads
// it to tell a complete body from a truncated one.
func (rc *RequestContext) ResponseComplete() bool { return rc.complete }

// Reject answers the request with a gateway error: status, the JSON body
// {"error":{"code","message","request_id"}} and the X-Tollgate-Error
// header. A policy calls it instead of next.
func (rc *RequestContext) Reject(status int, code, message string) {
	rc.reason, rc.rejected, rc.complete = code, true, true
	writeError(rc.Writer, gatewayError{status, code, message}, rc.RequestID)
}

// fail answers the request with the gateway error err maps to; for a client
// that is gone it only records the status.
func (rc *RequestContext) fail(err error) {
	rc.err = err
	e := classify(err)
	rc.reason = e.code
	if e.status == statusClientClosed {
		rc.status = statusClientClosed
		return
	}
	if e.status == http.StatusRequestEntityTooLarge || e.status == http.StatusBadRequest {
		// The rest of the body is not read: do not reuse the connection.
		rc.Writer.Header().Set("Connection", "close")
	}
	writeError(rc.Writer, e, rc.RequestID)
	rc.complete = true
}
