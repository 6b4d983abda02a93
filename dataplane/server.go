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

// Serve answers requests on ln until Shutdown, and then returns
// http.ErrServerClosed. It may be called for several listeners.
func (g *Gateway) Serve(ln net.Listener) error {
	srv := &http.Server{
		Handler:           g,
		ReadHeaderTimeout: g.opts.ReadHeaderTimeout,
		IdleTimeout:       g.opts.IdleTimeout,
		MaxHeaderBytes:    g.opts.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(g.log.Handler(), slog.LevelWarn),
	}
	g.srvMu.Lock()
	if g.closed {
		g.srvMu.Unlock()
		_ = ln.Close()
		return http.ErrServerClosed
	}
	g.servers[srv] = struct{}{}
	g.srvMu.Unlock()
	g.log.Info("data plane listening", "addr", ln.Addr().String(), "node_id", g.opts.NodeID)
	return srv.Serve(ln)
}

// Shutdown stops every listener at once, waits for requests in flight to
// finish and closes idle upstream connections. If ctx ends first, it closes
// the remaining connections and returns ctx's error.
func (g *Gateway) Shutdown(ctx context.Context) error {
	g.srvMu.Lock()
	g.closed = true
	servers := make([]*http.Server, 0, len(g.servers))
	for s := range g.servers {
		servers = append(servers, s)
	}
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
	g.updateMu.Lock()
	g.transports.closeIdle()
	g.updateMu.Unlock()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("dataplane: shutdown: %w", err)
	}
	return nil
}
