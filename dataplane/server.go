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
// http.ErrServerClosed. It speaks HTTP/1.1 and, for gRPC clients, HTTP/2
// with prior knowledge (h2c). It may be called for several listeners.
func (g *Gateway) Serve(ln net.Listener) error {
	srv := g.newServer()
	srv.Protocols = new(http.Protocols)
	srv.Protocols.SetHTTP1(true)
	srv.Protocols.SetUnencryptedHTTP2(true)
	if !g.track(srv, ln) {
		return http.ErrServerClosed
	}
	g.log.Info("data plane listening", "addr", ln.Addr().String(), "node_id", g.opts.NodeID)
	return srv.Serve(ln)
}

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

// track registers srv for Shutdown; false (with ln closed) when the
// gateway is already shut down.
func (g *Gateway) track(srv *http.Server, ln net.Listener) bool {
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
	servers := make([]*http.Server, 0, len(g.servers))
	for s := range g.servers {
		servers = append(servers, s)
	}
	clear(g.servers) // a second Shutdown has nothing left to stop
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
	g.bgCancel()
	g.mirrors.Wait()
	g.updateMu.Lock()
	g.stopUpstreams(nil)
	g.transports.closeIdle()
	g.updateMu.Unlock()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("dataplane: shutdown: %w", err)
	}
	return nil
}
