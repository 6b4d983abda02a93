package dataplane

import (
	"context"
	"encoding/hex"
	"log/slog"
	"net"
	"strings"
	"time"
)

// AccessLogger receives one record per finished request. LogAccess is
// called on the request path: it must not block, and must copy what it
// keeps, since rec is reused once it returns.
type AccessLogger interface {
	LogAccess(rec *AccessRecord)
}

// AccessRecord is what the gateway knows about a finished request. The
// access log writes it and the metrics count it.
type AccessRecord struct {
	Time       time.Time // when the request arrived
	RequestID  string
	TraceID    [16]byte // the W3C trace the request belongs to
	SpanID     [8]byte  // the gateway's span in it
	Method     string
	Host       string
	Path       string
	RemoteAddr string // the client's ip:port
	Status     int    // as sent; 499 when the client left first
	Bytes      int64  // response body bytes written
	Duration   time.Duration
	// UpstreamTime runs from the first attempt to the end of the
	// upstream's response body; 0 when the request was not proxied.
	UpstreamTime time.Duration
	Upstream     string // host:port of the last attempt's target
	Attempts     int
	Route        string
	Service      string
	Consumer     string
	Cache        string // the cache's verdict (hit, miss, bypass...); "" when none
	// Reason is the X-Tollgate-Error code of an answer the gateway made
	// itself; Rejected tells a policy's rejection (auth, rate limit) from
	// a gateway failure (no route, upstream down...).
	Reason   string
	Rejected bool
	Err      error // why the request failed; nil when it did not
}

// GatewayTime is the time the gateway added: Duration minus UpstreamTime.
func (r *AccessRecord) GatewayTime() time.Duration {
	return r.Duration - r.UpstreamTime
}

// ClientIP is the address part of RemoteAddr.
func (r *AccessRecord) ClientIP() string {
	// The common case, ipv4:port, without SplitHostPort's general parse.
	if i := strings.IndexByte(r.RemoteAddr, ':'); i > 0 && strings.LastIndexByte(r.RemoteAddr, ':') == i &&
		r.RemoteAddr[0] != '[' && i < len(r.RemoteAddr)-1 {
		return r.RemoteAddr[:i]
	}
	if ip, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return ip
	}
	return r.RemoteAddr
}

// AppendAttrs appends the access log fields of r to dst: always the
// request id, trace id, method, host, path, status, body bytes, total and
// upstream time (whole microseconds: slog formats floats through
// encoding/json, which allocates), upstream target, route, service and
// client IP; consumer, cache, reason, attempts and error only when set.
// The access log's own encoder (internal/accesslog) writes the same
// fields without building attributes; change the two together.
func (r *AccessRecord) AppendAttrs(dst []slog.Attr) []slog.Attr {
	var trace [32]byte
	hex.Encode(trace[:], r.TraceID[:])
	dst = append(dst,
		slog.String("request_id", r.RequestID),
		slog.String("trace_id", string(trace[:])),
		slog.String("method", r.Method),
		slog.String("host", r.Host),
		slog.String("path", r.Path),
		slog.Int("status", r.Status),
		slog.Int64("bytes", r.Bytes),
		slog.Int64("duration_us", r.Duration.Microseconds()),
		slog.Int64("upstream_us", r.UpstreamTime.Microseconds()),
		slog.String("upstream", r.Upstream),
		slog.String("route", r.Route),
		slog.String("service", r.Service),
		slog.String("client_ip", r.ClientIP()),
	)
	dst = appendSet(dst, "consumer", r.Consumer)
	dst = appendSet(dst, "cache", r.Cache)
	dst = appendSet(dst, "reason", r.Reason)
	if r.Attempts > 1 {
		dst = append(dst, slog.Int("attempts", r.Attempts))
	}
	if r.Err != nil {
		dst = append(dst, slog.String("error", r.Err.Error()))
	}
	return dst
}

// appendSet appends a string attribute unless it is empty.
func appendSet(dst []slog.Attr, key, value string) []slog.Attr {
	if value == "" {
		return dst
	}
	return append(dst, slog.String(key, value))
}

// maxAttrs is the most attributes AppendAttrs appends.
const maxAttrs = 18

// Record returns r as a slog record at Info with the message "request",
// timed when the request arrived.
func (r *AccessRecord) Record() slog.Record {
	var buf [maxAttrs]slog.Attr
	rec := slog.NewRecord(r.Time, slog.LevelInfo, "request", 0)
	rec.AddAttrs(r.AppendAttrs(buf[:0])...)
	return rec
}

// logAccess hands rec to Options.AccessLog, or without one writes it
// through the gateway's logger at Info, synchronously.
func (g *Gateway) logAccess(ctx context.Context, rec *AccessRecord) {
	if g.opts.AccessLog != nil {
		g.opts.AccessLog.LogAccess(rec)
		return
	}
	h := g.log.Handler()
	if !h.Enabled(ctx, slog.LevelInfo) {
		return
	}
	_ = h.Handle(ctx, rec.Record())
}
