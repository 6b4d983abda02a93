package dataplane

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strconv"
)

// Sentinel errors of the package. Failures are wrapped with %w and told
// apart with errors.Is; classify maps them to the gateway's answer.
var (
	// ErrInvalidConfig is wrapped by Update when a config does not compile.
	ErrInvalidConfig = errors.New("invalid config")

	errNoConfig        = errors.New("no configuration loaded yet")
	errNoRoute         = errors.New("no route matches the request")
	errUpstreamTimeout = errors.New("upstream timed out")
	errUpstreamAborted = errors.New("upstream response broken off")
	errClientGone      = errors.New("client closed the request")
	errCircuitOpen     = errors.New("too many concurrent requests to the upstream")
	errNoHealthyTarget = errors.New("no healthy upstream target")
	errBodyTooLarge    = errors.New("request body too large")
	errHeaderTooLarge  = errors.New("request headers too large")
	errBadRequest      = errors.New("malformed request")
	errExpectation     = errors.New("unsupported Expect header: only 100-continue is")
)

// statusClientClosed is the status logged when the client went away before
// the gateway answered (nginx's 499). Nothing is sent for it.
const statusClientClosed = 499

// Headers the gateway sets itself.
const (
	headerRequestID = "X-Request-Id"
	headerError     = "X-Tollgate-Error"
)

// gatewayError is an answer the gateway generates instead of an upstream.
type gatewayError struct {
	status  int
	code    string
	message string
}

// classify is the one place that maps a failure to the gateway's answer:
// no config → 503, no route → 404, body or headers over the limit → 413 or
// 431, a malformed request (a request body whose framing is broken) → 400, circuit breaker open or no healthy target → 503, client gone → 499,
// upstream timeout → 504, anything else on the way to the upstream (dial
// errors, refused or reset connections, protocol errors) → 502.
func classify(err error) gatewayError {
	switch {
	case errors.Is(err, errNoConfig):
		return gatewayError{http.StatusServiceUnavailable, "no_config", errNoConfig.Error()}
	case errors.Is(err, errNoRoute):
		return gatewayError{http.StatusNotFound, "no_route", errNoRoute.Error()}
	case errors.Is(err, errBodyTooLarge):
		return gatewayError{http.StatusRequestEntityTooLarge, "body_too_large", errBodyTooLarge.Error()}
	case errors.Is(err, errHeaderTooLarge):
		return gatewayError{http.StatusRequestHeaderFieldsTooLarge, "headers_too_large", errHeaderTooLarge.Error()}
	case errors.Is(err, errBadRequest):
		return gatewayError{http.StatusBadRequest, "bad_request", errBadRequest.Error()}
	case errors.Is(err, errCircuitOpen):
		return gatewayError{http.StatusServiceUnavailable, "circuit_open", errCircuitOpen.Error()}
	case errors.Is(err, errNoHealthyTarget):
		return gatewayError{http.StatusServiceUnavailable, "no_healthy_upstream", errNoHealthyTarget.Error()}
	case errors.Is(err, errUpstreamTimeout):
		return gatewayError{http.StatusGatewayTimeout, "upstream_timeout", errUpstreamTimeout.Error()}
	case errors.Is(err, errClientGone), errors.Is(err, context.Canceled):
		return gatewayError{statusClientClosed, "client_closed", errClientGone.Error()}
	case isTimeout(err):
		return gatewayError{http.StatusGatewayTimeout, "upstream_timeout", errUpstreamTimeout.Error()}
	}
	return gatewayError{http.StatusBadGateway, "upstream_unavailable", "upstream connection failed"}
}

// isTimeout reports whether err is a network or deadline timeout.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// errorBody is the JSON shape of every gateway-generated error.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	RequestID string `json:"request_id"`
}

// writeError answers with e as JSON, marked by the X-Tollgate-Error header
// so that it is never confused with an upstream's own error.
func writeError(w http.ResponseWriter, e gatewayError, requestID string) {
	body, err := json.Marshal(errorBody{errorDetail{e.code, e.message, requestID}})
	if err != nil { // unreachable: the body holds only strings
		body = []byte(`{"error":{"code":"internal"}}`)
	}
	body = append(body, '\n')
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("Cache-Control", "no-store")
	h.Set(headerError, e.code)
	h.Set(headerRequestID, requestID)
	w.WriteHeader(e.status)
	_, _ = w.Write(body)
}
