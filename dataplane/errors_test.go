package dataplane

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"syscall"
	"testing"
)

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestClassify(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	reset := &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
	tests := []struct {
		name   string
		err    error
		status int
		code   string
	}{
		{"no config", errNoConfig, http.StatusServiceUnavailable, "no_config"},
		{"no route", fmt.Errorf("x: %w", errNoRoute), http.StatusNotFound, "no_route"},
		{"refused", fmt.Errorf("proxy: %w", refused), http.StatusBadGateway, "upstream_unavailable"},
		{"reset", reset, http.StatusBadGateway, "upstream_unavailable"},
		{"our timer", fmt.Errorf("%w: %w", errUpstreamTimeout, context.Canceled), http.StatusGatewayTimeout, "upstream_timeout"},
		{"dial timeout", &net.OpError{Op: "dial", Err: timeoutErr{}}, http.StatusGatewayTimeout, "upstream_timeout"},
		{"deadline", context.DeadlineExceeded, http.StatusGatewayTimeout, "upstream_timeout"},
		{"client gone", fmt.Errorf("%w: %w", context.Canceled, reset), statusClientClosed, "client_closed"},
		{"client gone mid-body", fmt.Errorf("reading the request body: %w: %w", errClientGone, io.ErrUnexpectedEOF), statusClientClosed, "client_closed"},
		{"malformed body", fmt.Errorf("reading the request body: %w: %w", errBadRequest, errors.New("malformed chunk")), http.StatusBadRequest, "bad_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if e := classify(tt.err); e.status != tt.status || e.code != tt.code {
				t.Errorf("classify(%v) = %d %s, want %d %s", tt.err, e.status, e.code, tt.status, tt.code)
			}
		})
	}
}
