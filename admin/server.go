// Package admin serves tollgate's REST admin API under /v1/: cluster
// status, the config document, health and readiness. It depends only on
// the small interfaces declared here, never on Raft directly.
package admin

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/tollgate/tollgate/cluster"
	"github.com/tollgate/tollgate/store"
)

// ConfigReader gives the locally applied config.
type ConfigReader interface {
	Current() *store.Config
}

// Applier commits an encoded store.Command through the cluster and
// returns the FSM's encoded result.
type Applier interface {
	Apply(ctx context.Context, cmd []byte) ([]byte, error)
}

// ClusterStatus reports membership and Raft state.
type ClusterStatus interface {
	Status() cluster.Status
}

// DataPlane reports which config version the data plane serves.
type DataPlane interface {
	Version() uint64
}

// Deps are the collaborators the admin API talks to.
type Deps struct {
	Config    ConfigReader
	Applier   Applier
	Cluster   ClusterStatus
	DataPlane DataPlane
	Logger    *slog.Logger
}

// Server is the admin HTTP API.
type Server struct {
	deps Deps
	log  *slog.Logger
	mux  *http.ServeMux
	srv  *http.Server
}

// New builds the admin API handler.
func New(deps Deps) *Server {
	if deps.Logger == nil {
		deps.Logger = slog.Default()
	}
	s := &Server{deps: deps, log: deps.Logger.With("component", "admin"), mux: http.NewServeMux()}
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second, MaxHeaderBytes: 64 << 10}
	s.routes()
	return s
}

func (s *Server) routes() {
	s.mux.HandleFunc("GET /v1/healthz", s.healthz)
	s.mux.HandleFunc("GET /v1/readyz", s.readyz)
	s.mux.HandleFunc("GET /v1/cluster", s.getCluster)
	s.mux.HandleFunc("GET /v1/config", s.getConfig)
	s.mux.HandleFunc("PUT /v1/config", s.putConfig)
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, http.StatusNotFound, codeNotFound, errNotFound)
	})
}

// ServeHTTP stamps a request id and dispatches.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id := r.Header.Get("X-Request-Id")
	if id == "" || len(id) > 128 {
		var b [8]byte
		_, _ = rand.Read(b[:])
		id = hex.EncodeToString(b[:])
		r.Header.Set("X-Request-Id", id)
	}
	w.Header().Set("X-Request-Id", id)
	s.mux.ServeHTTP(w, r)
}

func requestID(r *http.Request) string { return r.Header.Get("X-Request-Id") }

// Serve serves the API on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	if err := s.srv.Serve(ln); err != nil && err != http.ErrServerClosed {
		return err
	}
	return nil
}

// Shutdown stops the server gracefully.
func (s *Server) Shutdown(ctx context.Context) error {
	return s.srv.Shutdown(ctx)
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	v := s.deps.DataPlane.Version()
	if v == 0 {
		writeError(w, r, http.StatusServiceUnavailable, codeNotReady, errNoConfig)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "ready", "config_version": v})
}

func (s *Server) getCluster(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.deps.Cluster.Status())
}
