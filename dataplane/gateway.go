package dataplane

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tollgate/tollgate/store"
)

// Options configures a Gateway. Every zero value means the documented
// default.
type Options struct {
	// Logger receives the gateway's own messages, and the access log (one
	// Info line per request) when AccessLog is nil. Nil means
	// slog.Default().
	Logger *slog.Logger
	// AccessLog receives a record of every finished request. Nil writes
	// each through Logger at Info, on the request path.
	AccessLog AccessLogger
	// Metrics counts requests by route (see Metrics). Nil counts nothing.
	Metrics Metrics
	// TraceSample is the fraction, in [0, 1], of the traces the gateway
	// starts (for requests without a valid traceparent) that it marks
	// sampled; see trace.go. Requests that bring a trace keep its flag.
	// 0 marks none. A config's tracing section replaces it (spans.go).
	TraceSample float64
	// NodeID identifies this node; it is logged when a listener starts.
	NodeID string
	// ReadHeaderTimeout bounds reading a request's headers (default 10s).
	ReadHeaderTimeout time.Duration
	// IdleTimeout closes idle client keep-alive connections (default 2m).
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds the size of request headers (default 64 KiB):
	// larger ones are answered 431 with a gateway error. (Headers beyond
	// twice the limit are refused by net/http with a plain 431.)
	MaxHeaderBytes int
	// MaxRequestBodyBytes bounds request bodies where a route sets no
	// max_body_bytes; larger ones are answered 413 (default 0: no limit).
	MaxRequestBodyBytes int64
	// MaxIdleConnsPerHost bounds the idle keep-alive connections kept per
	// upstream (default 256).
	MaxIdleConnsPerHost int
	// UpstreamIdleTimeout closes idle upstream connections (default 90s).
	UpstreamIdleTimeout time.Duration
	// Policies returns the policy chain of a route (authentication, rate
	// limits, ...), outermost first; the route's own header transforms
	// run after it. Nil means none. An error rejects the config.
	Policies func(cfg *store.Config, route *store.Route) ([]Policy, error)
	// Engine chooses how the HTTP/1.1 clients of Serve's and ServeTLS's
	// listeners are served: EngineEpoll (the default: event loops on
	// Linux, see evloop_linux.go, with TLS handshakes on goroutines;
	// elsewhere it falls back to goroutines) or EngineGoroutine (a
	// goroutine per connection).
	Engine string
	// MaxConns caps the connections Serve and ServeTLS hold open per
	// listener (0: no cap); further clients wait in the accept queue.
	MaxConns int
	// EventLoops is how many event loops the epoll engine runs per
	// listener (0: GOMAXPROCS). A process can leave the Go scheduler a P
	// more than it has loops (see cmd/tollgate).
	EventLoops int
	// DisableIOURing makes the event loops send with sendto, not through
	// an io_uring ring (see evring_linux.go); without io_uring they do
	// so anyway.
	DisableIOURing bool
	// UpstreamPoll is the longest an event loop polls for an upstream's
	// answer before it sleeps, when it has nothing else to do (see
	// evpoll_linux.go): 0 is the default, 200µs; a negative value never
	// polls; more than 10ms counts as 10ms.
	UpstreamPoll time.Duration
	// Spans receives the span of every sampled request while the config
	// has a tracing section (see spans.go). Nil records none.
	Spans SpanRecorder
}

// Engines of Options.Engine.
const (
	EngineGoroutine = "goroutine"
	EngineEpoll     = "epoll"
)

// withDefaults returns o with every zero value replaced by its default.
func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Engine == "" {
		o.Engine = EngineEpoll
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
	opts     Options
	log      *slog.Logger
	ids      *idSource
	sampler  sampler
	unrouted RouteMetrics             // metrics of requests that matched no route
	snap     atomic.Pointer[snapshot] // nil until the first Update
	rcs      sync.Pool                // *RequestContext
	bufs     sync.Pool                // *[]byte body copy buffers

	updateMu   sync.Mutex // serialises Update; never taken on the request path
	transports transportCache
	upstreams  map[string]*upstream // live upstreams by service name, under updateMu
	certs      certCache            // parsed certificates in use, under updateMu

	// bg is the context of background work that outlives a request
	// (mirror copies); Shutdown cancels it and waits for mirrors.
	bg       context.Context
	bgCancel context.CancelFunc
	mirrors  sync.WaitGroup
	// mirrorMu orders the start of every copy (read-locked) against
	// Shutdown's wait for them; mirrorsClosed, under it, refuses copies
	// once Shutdown waits (see closeMirrors).
	mirrorMu      sync.RWMutex
	mirrorsClosed bool

	srvMu   sync.Mutex
	servers map[server]struct{}
	retired []server // servers Shutdown stopped, whose counts LoopStats still adds
	closed  bool
}

// snapshot is what one config version compiles to.
type snapshot struct {
	version uint64
	router  *router
	certs   certTable
	metrics []RouteMetrics // by route index (compiledRoute.order); nil without Options.Metrics
	trace   traceSettings  // sampling of new traces, and whether spans are recorded
}

// New returns a Gateway that answers 503 until its first Update.
func New(opts Options) *Gateway {
	opts = opts.withDefaults()
	g := &Gateway{
		opts:    opts,
		log:     opts.Logger,
		ids:     newIDSource(),
		sampler: newSampler(opts.TraceSample),
		servers: map[server]struct{}{},
		transports: transportCache{
			maxIdlePerHost: opts.MaxIdleConnsPerHost,
			idleTimeout:    opts.UpstreamIdleTimeout,
		},
	}
	if opts.Metrics != nil {
		g.unrouted = opts.Metrics.Route("", "")
	}
	g.bg, g.bgCancel = context.WithCancel(context.Background())
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
	r, err := compileWith(cfg, g.upstreams)
	if err != nil {
		return fmt.Errorf("dataplane: update: %w", err)
	}
	if err := g.buildChains(cfg, r); err != nil {
		return fmt.Errorf("dataplane: update: %w", err)
	}
	certs, certCache, err := compileCerts(cfg.Certificates, g.certs)
	if err != nil {
		return fmt.Errorf("dataplane: update: %w", err)
	}
	unused := g.transports.attach(r.services)
	live := g.startUpstreams(r.services)
	prev := g.snap.Swap(&snapshot{version: cfg.Version, router: r, certs: certs, metrics: g.routeMetrics(r),
		trace: g.tracingOf(cfg)})
	g.forgetRoutes(prev, r)
	g.certs = certCache
	g.stopUpstreams(live)
	for _, t := range unused {
		t.CloseIdleConnections()
	}
	g.log.Info("config applied", "version", cfg.Version, "routes", len(cfg.Routes), "services", len(cfg.Services))
	return nil
}

// buildChains gives every route its policy chain (Options.Policies, then
// the route's own header transforms) wrapped around the proxy.
func (g *Gateway) buildChains(cfg *store.Config, r *router) error {
	for i, ri := range r.routes {
		var chain []Policy
		if g.opts.Policies != nil {
			var err error
			if chain, err = g.opts.Policies(cfg, &cfg.Routes[i]); err != nil {
				return fmt.Errorf("%w: route %q: %w", ErrInvalidConfig, ri.name, err)
			}
		}
		ri.chain = append(chain, ri.chain...)
		ri.handler = chainHandler(timedChain(g.tracingOf(cfg), ri.chain, g.proxy))
	}
	return nil
}

// startUpstreams starts the upstreams that are new in this version and
// returns the live set by name.
func (g *Gateway) startUpstreams(ups []*upstream) map[string]*upstream {
	live := make(map[string]*upstream, len(ups))
	for _, u := range ups {
		live[u.name] = u
		if g.upstreams[u.name] != u {
			u.onEject = g.countEjection
			u.start(g.log)
		}
	}
	return live
}

// stopUpstreams stops the upstreams that live replaces or drops, and makes
// live the current set.
func (g *Gateway) stopUpstreams(live map[string]*upstream) {
	for name, old := range g.upstreams {
		if live[name] != old {
			old.stop()
		}
	}
	g.upstreams = live
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
	if err := g.route(rc); err != nil {
		rc.fail(err)
	} else {
		rc.route.handler(rc)
	}
	g.end(rc)
}

// route checks the request against the gateway's limits and finds its
// route on the current snapshot.
func (g *Gateway) route(rc *RequestContext) error {
	r := rc.Request
	snap := g.snap.Load()
	if snap == nil {
		return errNoConfig
	}
	if n := headerSize(r); n > g.opts.MaxHeaderBytes {
		return fmt.Errorf("%w: %d bytes, the limit is %d", errHeaderTooLarge, n, g.opts.MaxHeaderBytes)
	}
	rc.route, rc.path = snap.router.route(r), r.URL.Path
	if rc.route == nil {
		return errNoRoute
	}
	if snap.metrics != nil {
		rc.metrics = snap.metrics[rc.route.order]
	}
	return g.limitBody(rc)
}

// begin takes a RequestContext from the pool and settles the request id
// and the trace.
func (g *Gateway) begin(w http.ResponseWriter, r *http.Request) *RequestContext {
	rc := g.rcs.Get().(*RequestContext)
	rc.start = time.Now()
	rc.RequestID = g.ids.id(r.Header.Get(headerRequestID))
	g.traceRequest(rc, r.Header)
	w.Header()[headerRequestID] = []string{rc.RequestID}
	rc.rw = responseWriter{ResponseWriter: w}
	rc.Writer = &rc.rw
	rc.Request = r
	return rc
}

// end counts and logs the request and returns rc to the pool. If the
// upstream broke off mid-body it aborts the response, so the client sees
// it truncated.
func (g *Gateway) end(rc *RequestContext) {
	g.finish(rc)
	abort := rc.abort
	*rc = RequestContext{}
	g.rcs.Put(rc)
	if abort {
		panic(http.ErrAbortHandler)
	}
}

// MatchRoute reports which route and service the current config sends a
// request to, for the admin API; path may carry a query. Header matchers
// see no headers. ok is false when no route matches or no config is
// loaded.
func (g *Gateway) MatchRoute(method, host, path string) (route, service string, ok bool) {
	snap := g.snap.Load()
	if snap == nil {
		return "", "", false
	}
	p, query, _ := strings.Cut(path, "?")
	cr := snap.router.matchRequest(&request{method: methodBit(method), path: p, rawQuery: query}, host)
	if cr == nil {
		return "", "", false
	}
	return cr.name, cr.service.name, true
}
