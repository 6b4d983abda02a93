package dataplane

import (
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tollgate/tollgate/store"
)

// Options configures a Gateway. Every zero value means the documented
// default.
type Options struct {
	// Logger receives the access log (one Info line per request) and the
	// gateway's own messages. Nil means slog.Default().
	Logger *slog.Logger
	// NodeID identifies this node; it is logged when a listener starts.
	NodeID string
	// ReadHeaderTimeout bounds reading a request's headers (default 10s).
	ReadHeaderTimeout time.Duration
	// IdleTimeout closes idle client keep-alive connections (default 2m).
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds the size of request headers (default 64 KiB).
	MaxHeaderBytes int
	// MaxIdleConnsPerHost bounds the idle keep-alive connections kept per
	// upstream (default 256).
	MaxIdleConnsPerHost int
	// UpstreamIdleTimeout closes idle upstream connections (default 90s).
	UpstreamIdleTimeout time.Duration
}

// withDefaults returns o with every zero value replaced by its default.
func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	o.ReadHeaderTimeout = orDefault(o.ReadHeaderTimeout, 10*time.Second)
	o.IdleTimeout = orDefault(o.IdleTimeout, 2*time.Minute)
	o.UpstreamIdleTimeout = orDefault(o.UpstreamIdleTimeout, 90*time.Second)
	if o.MaxHeaderBytes <= 0 {
		o.MaxHeaderBytes = 64 << 10
	}
	if o.MaxIdleConnsPerHost <= 0 {
		o.MaxIdleConnsPerHost = 256
	}
	return o
}

// Gateway is a node's data plane. It is an http.Handler and serves on any
// number of listeners. Create it with New.
type Gateway struct {
	opts Options
	log  *slog.Logger
	ids  *idSource
	snap atomic.Pointer[snapshot] // nil until the first Update
	rcs  sync.Pool                // *RequestContext
	bufs sync.Pool                // *[]byte body copy buffers

	updateMu   sync.Mutex // serialises Update; never taken on the request path
	transports transportCache

	srvMu   sync.Mutex
	servers map[*http.Server]struct{}
	closed  bool
}

// snapshot is what one config version compiles to.
type snapshot struct {
	version uint64
	router  *router
}

// New returns a Gateway that answers 503 until its first Update.
func New(opts Options) *Gateway {
	opts = opts.withDefaults()
	g := &Gateway{
		opts:    opts,
		log:     opts.Logger,
		ids:     newIDSource(),
		servers: map[*http.Server]struct{}{},
		transports: transportCache{
			maxIdlePerHost: opts.MaxIdleConnsPerHost,
			idleTimeout:    opts.UpstreamIdleTimeout,
		},
	}
	g.rcs.New = func() any { return new(RequestContext) }
	g.bufs.New = func() any { b := make([]byte, 32<<10); return &b }
	return g
}

// Update compiles cfg and swaps it in with one atomic pointer store.
// Requests in flight finish on the config they started with. On a compile
// error the current config stays and the error (wrapping ErrInvalidConfig)
// is returned. cfg must not be modified afterwards.
func (g *Gateway) Update(cfg *store.Config) error {
	g.updateMu.Lock()
	defer g.updateMu.Unlock()
	r, err := compile(cfg)
	if err != nil {
		return fmt.Errorf("dataplane: update: %w", err)
	}
	unused := g.transports.attach(r.services)
	for _, ri := range r.routes {
		ri.handler = chainHandler(ri.chain, g.proxy)
	}
	g.snap.Store(&snapshot{version: cfg.Version, router: r})
	for _, t := range unused {
		t.CloseIdleConnections()
	}
	g.log.Info("config applied", "version", cfg.Version, "routes", len(cfg.Routes), "services", len(cfg.Services))
	return nil
}

// Version returns the version of the config being served, 0 before the
// first Update.
func (g *Gateway) Version() uint64 {
	if s := g.snap.Load(); s != nil {
		return s.version
	}
	return 0
}

// ServeHTTP routes the request on the current snapshot, runs the route's
// policy chain and proxies it, or answers with a gateway error.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rc := g.begin(w, r)
	snap := g.snap.Load()
	switch {
	case snap == nil:
		rc.fail(errNoConfig)
	default:
		rc.route = snap.router.match(r.Method, r.Host, r.URL.Path)
		if rc.route == nil {
			rc.fail(errNoRoute)
		} else {
			rc.route.handler(rc)
		}
	}
	g.end(rc)
}

// begin takes a RequestContext from the pool and settles the request id.
func (g *Gateway) begin(w http.ResponseWriter, r *http.Request) *RequestContext {
	rc := g.rcs.Get().(*RequestContext)
	rc.start = time.Now()
	rc.RequestID = g.ids.id(r.Header.Get(headerRequestID))
	w.Header()[headerRequestID] = []string{rc.RequestID}
	rc.rw = responseWriter{ResponseWriter: w}
	rc.Writer = &rc.rw
	rc.Request = r
	return rc
}

// end logs the request and returns rc to the pool. If the upstream broke
// off mid-body it aborts the response, so the client sees it truncated.
func (g *Gateway) end(rc *RequestContext) {
	g.logAccess(rc)
	abort := rc.abort
	*rc = RequestContext{}
	g.rcs.Put(rc)
	if abort {
		panic(http.ErrAbortHandler)
	}
}
