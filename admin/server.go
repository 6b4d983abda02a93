// Package admin serves tollgate's REST admin API under /v1/: cluster
// status and membership, the config document and its entities, diffs,
// history and rollback, admin tokens, health and readiness. It depends
// only on the small interfaces declared here, never on Raft directly.
package admin

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/tollgate/tollgate/cluster"
	"github.com/tollgate/tollgate/store"
)

// ConfigReader gives the locally applied config.
type ConfigReader interface {
	Current() *store.Config
}

// HistoryReader gives the kept config versions.
type HistoryReader interface {
	// HistorySummaries lists kept versions newest first, without documents.
	HistorySummaries() ([]store.Version, error)
	// VersionAt returns one kept version (store.ErrVersionNotKept if not).
	VersionAt(v uint64) (*store.Version, error)
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

// MemberRemover removes a node from the Raft configuration.
type MemberRemover interface {
	RemoveMember(ctx context.Context, id string) error
}

// ReadConsistency serves consistent reads and reports staleness.
type ReadConsistency interface {
	// ConsistentRead returns once local state reflects every write the
	// cluster committed before the call.
	ConsistentRead(ctx context.Context) error
	// ReadStaleness is the time since the leader was last heard (0 on
	// the leader, negative if never) and whether a leader is known.
	ReadStaleness() (time.Duration, bool)
}

// DataPlane reports which config version the data plane serves.
type DataPlane interface {
	Version() uint64
}

// Deps are the collaborators the admin API talks to. Matcher is optional.
type Deps struct {
	Config    ConfigReader
	History   HistoryReader
	Applier   Applier
	Cluster   ClusterStatus
	Members   MemberRemover
	Reads     ReadConsistency
	DataPlane DataPlane
	Matcher   RouteMatcher
	// Cache purges this node's response cache (optional).
	Cache CachePurger
	// Chain lists the plugins that run for a route, in order, for GET
	// /v1/routes/match (optional).
	Chain func(cfg *store.Config, route *store.Route) []store.Plugin
	Auth  AuthOptions
	// Metrics serves Prometheus metrics at GET /metrics (read role), when set.
	Metrics http.Handler
	Logger  *slog.Logger
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
	if deps.Auth.OpenWithoutTokens && deps.Auth.BootstrapToken == "" && len(deps.Config.Current().AdminTokens) == 0 {
		s.log.Warn("ADMIN API IS OPEN: no admin token is configured, so anyone who can reach the loopback admin listener " +
			"has full control; start with --admin-token (or TOLLGATE_ADMIN_TOKEN) to require tokens")
	}
	return s
}

func (s *Server) routes() {
	m := s.mux
	m.HandleFunc("GET /v1/healthz", s.healthz)
	m.HandleFunc("GET /v1/readyz", s.readyz)
	m.HandleFunc("GET /v1/cluster", s.getCluster)
	m.HandleFunc("DELETE /v1/cluster/members/{id}", s.removeMember)
	m.HandleFunc("GET /v1/config", s.getConfig)
	m.HandleFunc("PUT /v1/config", s.putConfig)
	m.HandleFunc("POST /v1/config/diff", s.diffConfig)
	m.HandleFunc("GET /v1/config/history", s.getHistory)
	m.HandleFunc("GET /v1/config/versions/{version}", s.getVersion)
	m.HandleFunc("POST /v1/config/rollback", s.rollback)
	m.HandleFunc("GET /v1/routes/match", s.matchRoute)
	m.HandleFunc("POST /v1/cache/purge", s.purgeCache)
	m.HandleFunc("GET /v1/tokens", s.listTokens)
	m.HandleFunc("POST /v1/tokens", s.createToken)
	m.HandleFunc("DELETE /v1/tokens/{name}", s.deleteToken)
	s.registerEntities(m)
	if s.deps.Metrics != nil {
		m.Handle("GET /metrics", s.deps.Metrics)
	}
	registerProfiling(m)
	m.HandleFunc("/", s.noRoute)
}

// noRoute answers 405 with Allow when the path exists for other methods,
// and 404 otherwise.
func (s *Server) noRoute(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, method := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		probe := r.Clone(r.Context())
		probe.Method = method
		if _, pattern := s.mux.Handler(probe); pattern != "/" && pattern != "" {
			allow = append(allow, method)
		}
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		writeError(w, r, http.StatusMethodNotAllowed, codeMethod, errMethod(r.Method, allow))
		return
	}
	writeError(w, r, http.StatusNotFound, codeNotFound, errNotFound)
}

// ServeHTTP stamps a request id, authenticates and dispatches.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id := r.Header.Get("X-Request-Id")
	if id == "" || len(id) > 128 {
		var b [8]byte
		_, _ = rand.Read(b[:])
		id = hex.EncodeToString(b[:])
		r.Header.Set("X-Request-Id", id)
	}
	w.Header().Set("X-Request-Id", id)
	r, ok := s.withAuth(w, r)
	if !ok {
		return
	}
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
	s.setStaleness(w)
	writeJSON(w, http.StatusOK, s.deps.Cluster.Status())
}
