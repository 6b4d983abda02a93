package dataplane

import (
	"log/slog"
	"net/http"
	"time"
)

// logAccess writes the request's access log line at Info.
func (g *Gateway) logAccess(rc *RequestContext) {
	r := rc.Request
	ctx := r.Context()
	if !g.log.Enabled(ctx, slog.LevelInfo) {
		return
	}
	status := rc.rw.status
	switch {
	case rc.status != 0:
		status = rc.status
	case status == 0:
		status = http.StatusOK // what net/http sends for an empty answer
	}
	attrs := [...]slog.Attr{
		slog.String("request_id", rc.RequestID),
		slog.String("method", r.Method),
		slog.String("host", r.Host),
		slog.String("path", r.URL.Path),
		slog.Int("status", status),
		slog.Int64("bytes", rc.rw.bytes),
		slog.Duration("duration", time.Since(rc.start)),
		slog.String("route", rc.Route()),
		slog.String("service", rc.Service()),
		slog.String("upstream", rc.upstream),
		{}, {},
	}
	n := len(attrs) - 2
	if rc.attempts > 1 {
		attrs[n] = slog.Int("attempts", rc.attempts)
		n++
	}
	if rc.err != nil {
		attrs[n] = slog.String("error", rc.err.Error())
		n++
	}
	g.log.LogAttrs(ctx, slog.LevelInfo, "request", attrs[:n]...)
}
