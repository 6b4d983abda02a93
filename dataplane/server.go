package dataplane

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
)

// newServer returns an http.Server for the gateway with its limits.
func (g *Gateway) newServer() *http.Server {
	return &http.Server{
		Handler:           g,
		ReadHeaderTimeout: g.opts.ReadHeaderTimeout,
		IdleTimeout:       g.opts.IdleTimeout,
		MaxHeaderBytes:    serverHeaderLimit(g.opts.MaxHeaderBytes),
		ErrorLog:          slog.NewLogLogger(g.log.Handler(), slog.LevelWarn),
	}
}

// server is what Shutdown stops: an *http.Server or an *h1Server.
type server interface {
	Shutdown(ctx context.Context) error
	Close() error
}

// track registers srv for Shutdown; false (with ln closed) when the
// gateway is already shut down.
func (g *Gateway) track(srv server, ln net.Listener) bool {
	g.srvMu.Lock()
	defer g.srvMu.Unlock()
	if g.closed {
		_ = ln.Close()
		return false
	}
	g.servers[srv] = struct{}{}
	return true
}

// Shutdown stops every listener at once, waits for requests in flight to
// finish and closes idle upstream connections. If ctx ends first, it closes
// the remaining connections and returns ctx's error.
func (g *Gateway) Shutdown(ctx context.Context) error {
	g.srvMu.Lock()
	g.closed = true
	servers := make([]server, 0, len(g.servers))
	for s := range g.servers {
		servers = append(servers, s)
	}
	clear(g.servers) // a second Shutdown has nothing left to stop
	g.retired = append(g.retired, servers...)
	g.srvMu.Unlock()

	errs := make([]error, len(servers))
	var wg sync.WaitGroup
	for i, s := range servers {
		wg.Go(func() {
			if errs[i] = s.Shutdown(ctx); errs[i] != nil {
				_ = s.Close()
			}
		})
	}
	wg.Wait()
	g.closeMirrors()
	g.updateMu.Lock()
	g.stopUpstreams(nil)
	g.transports.closeIdle()
	g.updateMu.Unlock()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("dataplane: shutdown: %w", err)
	}
	return nil
}
