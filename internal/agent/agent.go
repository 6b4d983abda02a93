// Package agent wires one tollgate node together: the store, the data
// plane, the cluster node and the admin API, with a documented start and
// shutdown order. cmd/tollgate parses flags into a Config; tests start
// agents in-process with the same code.
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tollgate/tollgate/admin"
	"github.com/tollgate/tollgate/cluster"
	"github.com/tollgate/tollgate/dataplane"
	"github.com/tollgate/tollgate/internal/auth"
	"github.com/tollgate/tollgate/internal/cache"
	"github.com/tollgate/tollgate/internal/metrics"
	"github.com/tollgate/tollgate/internal/plugins"
	"github.com/tollgate/tollgate/limiter"
	"github.com/tollgate/tollgate/store"
)

// Config is everything a node needs to start. Addresses may use port 0.
type Config struct {
	NodeID   string // default: kept in DataDir/node-id
	DataDir  string
	HTTPAddr string
	// HTTPSAddr, when set, serves the data plane over TLS (HTTP/2 by
	// ALPN) with the certificates in the config, chosen by SNI.
	HTTPSAddr string
	// MaxConns caps open connections per data-plane listener (0: no cap).
	MaxConns int
	// MaxHeaderBytes is dataplane.Options.MaxHeaderBytes: larger request
	// heads are answered 431 (0: 64 KiB).
	MaxHeaderBytes int
	// MaxRequestBodyBytes is dataplane.Options.MaxRequestBodyBytes: the
	// body limit (413) of routes that set no max_body_bytes (0: none).
	MaxRequestBodyBytes int64
	AdminAddr           string
	RaftAddr            string
	GossipAddr          string
	Advertise           string
	Join                []string
	BootstrapExpect     int
	// ClusterKeys encrypt gossip and authenticate Raft (see cluster.Config.Keys).
	ClusterKeys [][]byte
	// SeedConfig is a YAML or JSON file applied once if the cluster has
	// no config yet.
	SeedConfig string
	// AdminToken, when set, is written into the config as the first admin
	// token (named admin.BootstrapTokenName) if the cluster has no tokens
	// yet, together with the seed config when both are new. Until then
	// this node accepts it on its own. With no token anywhere, the admin
	// API is open only on a loopback listener.
	AdminToken string
	// HistoryLimit is how many config versions the store keeps
	// (store.DefaultHistoryLimit if 0).
	HistoryLimit int
	// ApplyTimeout bounds a config write, including waiting for a leader.
	ApplyTimeout time.Duration
	// Raft and gossip timings; zero takes the cluster package defaults.
	HeartbeatTimeout time.Duration
	ElectionTimeout  time.Duration
	GossipInterval   time.Duration
	// AccessLog is where the data plane's access log goes: "stdout",
	// "stderr", a file path or "off"; "" writes it through Logger.
	AccessLog string
	// AccessLogSample is the fraction, in [0, 1], of requests with a
	// status below 400 that are logged; errors always are.
	AccessLogSample float64
	// TraceSample is the fraction, in [0, 1], of the traces the gateway
	// starts that it marks sampled (dataplane.Options.TraceSample).
	TraceSample float64
	// HTTPEngine is dataplane.Options.Engine: "epoll" (default) or
	// "goroutine".
	HTTPEngine string
	// EventLoops is dataplane.Options.EventLoops (0: GOMAXPROCS).
	EventLoops int
	// NoIOURing is dataplane.Options.DisableIOURing.
	NoIOURing bool
	// UpstreamPoll is dataplane.Options.UpstreamPoll.
	UpstreamPoll time.Duration
	Logger       *slog.Logger
}

// Agent is a running node.
type Agent struct {
	cfg     Config
	log     *slog.Logger
	store   *store.Store
	gateway *dataplane.Gateway
	node    *cluster.Node
	started bool // node.Start succeeded
	admin   *admin.Server
	obs     observability // metrics registry and access log

	limiter  *limiter.Limiter
	keySets  *auth.KeySets
	caches   *cache.Registry // the cache plugins' stores, across versions
	policies *policySource

	httpLn, httpsLn, adminLn net.Listener
	failed                   chan error
	cancel                   context.CancelFunc
}

// Start brings a node up in dependency order: the store (the last applied
// config), the data plane serving it at once, Raft and gossip, then the
// admin API. Forming the cluster continues in the background.
func Start(cfg Config) (*Agent, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	if cfg.NodeID == "" {
		id, err := cluster.LoadOrCreateNodeID(cfg.DataDir)
		if err != nil {
			return nil, err
		}
		cfg.NodeID = id
	}
	a := &Agent{cfg: cfg, log: cfg.Logger.With("node", cfg.NodeID), failed: make(chan error, 3)}
	if err := a.start(); err != nil {
		a.Stop()
		return nil, err
	}
	return a, nil
}

func (a *Agent) start() error {
	st, err := store.Open(store.Options{Path: filepath.Join(a.cfg.DataDir, "state.db"),
		HistoryLimit: a.cfg.HistoryLimit, Logger: a.log.With("component", "store")})
	if err != nil {
		return err
	}
	a.store = st
	if err := a.newNode(); err != nil {
		return err
	}
	if err := a.newPolicies(); err != nil {
		return err
	}
	if err := a.newObservability(); err != nil {
		return err
	}
	a.gateway = dataplane.New(a.observed(dataplane.Options{Logger: a.log.With("component", "dataplane"), NodeID: a.cfg.NodeID,
		Policies: a.policies.policies, Engine: a.cfg.HTTPEngine, MaxConns: a.cfg.MaxConns,
		MaxHeaderBytes: a.cfg.MaxHeaderBytes, MaxRequestBodyBytes: a.cfg.MaxRequestBodyBytes,
		EventLoops: a.cfg.EventLoops, DisableIOURing: a.cfg.NoIOURing,
		UpstreamPoll: a.cfg.UpstreamPoll}))
	a.obs.registry.MustRegister(metrics.NewUpstreamCollector(a.gateway), metrics.NewLoopCollector(a.gateway))
	if err := a.gateway.Update(st.Current()); err != nil {
		a.log.Error("stored config does not compile; serving nothing until the next version", "err", err)
	} else {
		a.applyTracing(st.Current())
	}
	if err := a.listen(); err != nil {
		return err
	}
	if err := a.startCluster(); err != nil {
		return err
	}
	a.admin = admin.New(a.adminDeps())
	go func() { a.failed <- a.admin.Serve(a.adminLn) }()
	a.log.Info("tollgate agent running", "http", a.HTTPAddr(), "admin", a.AdminAddr(),
		"raft", a.node.RaftAddr(), "gossip", a.node.GossipAddr(), "config_version", st.Current().Version)
	ctx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	a.limiter.Start(ctx)
	if a.cfg.SeedConfig != "" || a.cfg.AdminToken != "" {
		seed, err := a.seedConfig()
		if err != nil {
			a.log.Error("seed config rejected", "path", a.cfg.SeedConfig, "err", err)
		}
		go a.initialWrites(ctx, seed)
	}
	return nil
}

// listen binds the data plane (HTTP, and HTTPS when configured) and the
// admin listener, and starts serving the data plane at once.
func (a *Agent) listen() error {
	var err error
	if a.httpLn, err = net.Listen("tcp", a.cfg.HTTPAddr); err != nil {
		return fmt.Errorf("listen data plane %s: %w", a.cfg.HTTPAddr, err)
	}
	go func() { a.failed <- a.gateway.Serve(a.httpLn) }()
	if a.cfg.HTTPSAddr != "" {
		if a.httpsLn, err = net.Listen("tcp", a.cfg.HTTPSAddr); err != nil {
			return fmt.Errorf("listen data plane TLS %s: %w", a.cfg.HTTPSAddr, err)
		}
		go func() { a.failed <- a.gateway.ServeTLS(a.httpsLn) }()
	}
	if a.adminLn, err = net.Listen("tcp", a.cfg.AdminAddr); err != nil {
		return fmt.Errorf("listen admin %s: %w", a.cfg.AdminAddr, err)
	}
	return nil
}

// newPolicies creates what the plugins run on: the cluster-wide rate
// limiter (sharing counts over the node's gossip), the JWKS key sets that
// survive config versions, and the per-version policy chains.
func (a *Agent) newPolicies() error {
	lim, err := limiter.New(limiter.Options{NodeID: a.cfg.NodeID, Transport: a.node,
		LivePeers: a.node.LivePeers, ClusterSize: a.node.Voters, Logger: a.log.With("component", "limiter")})
	if err != nil {
		return err
	}
	a.limiter = lim
	a.node.HandleGossip(lim.Channel(), lim.HandleMessage)
	authOpts := auth.Options{Logger: a.log.With("component", "auth")}
	a.keySets = auth.NewKeySets(authOpts)
	authOpts.KeySets = a.keySets
	a.caches = cache.NewRegistry()
	a.policies = &policySource{builder: &plugins.Builder{Limiter: lim, Auth: authOpts, Caches: a.caches}}
	return nil
}

// metrics is the Prometheus handler (see newObservability).
func (a *Agent) metrics() http.Handler {
	return promhttp.HandlerFor(a.obs.registry, promhttp.HandlerOpts{})
}

// adminDeps wires the admin API to the store, the cluster node and the
// data plane.
func (a *Agent) adminDeps() admin.Deps {
	d := admin.Deps{
		Config: a.store, History: a.store, Applier: a.node, Cluster: a.node, Members: a.node,
		Reads: a.node, DataPlane: a.gateway, Logger: a.log, Metrics: a.metrics(),
		Cache: a.caches, Chain: plugins.Applicable,
		Auth: admin.AuthOptions{
			BootstrapToken:    a.cfg.AdminToken,
			OpenWithoutTokens: a.cfg.AdminToken == "" && isLoopback(a.adminLn.Addr()),
		},
	}
	if m, ok := any(a.gateway).(admin.RouteMatcher); ok {
		d.Matcher = m
	}
	return d
}

func isLoopback(addr net.Addr) bool {
	host, _, err := net.SplitHostPort(addr.String())
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// newNode creates the cluster node (not yet started) and has every
// applied config compiled into the data plane.
func (a *Agent) newNode() error {
	node, err := cluster.New(cluster.Config{
		NodeID: a.cfg.NodeID, DataDir: a.cfg.DataDir, RaftAddr: a.cfg.RaftAddr, GossipAddr: a.cfg.GossipAddr,
		Advertise: a.cfg.Advertise, Join: a.cfg.Join,
		BootstrapExpect: a.cfg.BootstrapExpect, ApplyTimeout: a.cfg.ApplyTimeout, Keys: a.cfg.ClusterKeys,
		HeartbeatTimeout: a.cfg.HeartbeatTimeout, ElectionTimeout: a.cfg.ElectionTimeout,
		GossipInterval: a.cfg.GossipInterval, AppliedIndex: a.store.AppliedIndex, Logger: a.log,
	}, a.store)
	if err != nil {
		return err
	}
	a.node = node
	a.store.Watch(func(cfg *store.Config) {
		if err := a.gateway.Update(cfg); err != nil {
			a.log.Error("applied config does not compile; keeping the previous one", "version", cfg.Version, "err", err)
			return
		}
		a.applyTracing(cfg)
		node.SetServedVersion(cfg.Version)
	})
	return nil
}

// startCluster starts Raft and gossip, publishing the admin address.
func (a *Agent) startCluster() error {
	a.node.SetServedVersion(a.gateway.Version())
	a.node.SetAdminAddr(a.advertisedAdmin())
	if err := a.node.Start(); err != nil {
		a.node = nil
		return err
	}
	a.started = true
	return nil
}

// advertisedAdmin is the admin address published to peers: the bound
// address, with a wildcard host replaced by --advertise when given.
func (a *Agent) advertisedAdmin() string {
	host, port, err := net.SplitHostPort(a.AdminAddr())
	if err != nil || a.cfg.Advertise == "" {
		return a.AdminAddr()
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		return net.JoinHostPort(a.cfg.Advertise, port)
	}
	return a.AdminAddr()
}

// HTTPAddr is the data plane's bound address.
func (a *Agent) HTTPAddr() string { return a.httpLn.Addr().String() }

// AdminAddr is the admin API's bound address.
func (a *Agent) AdminAddr() string { return a.adminLn.Addr().String() }

// GossipAddr is the advertised gossip address, for --join.
func (a *Agent) GossipAddr() string { return a.node.GossipAddr() }

// NodeID is the node's id.
func (a *Agent) NodeID() string { return a.cfg.NodeID }

// Node exposes the cluster node (for status and tests).
func (a *Agent) Node() *cluster.Node { return a.node }

// Store exposes the config store.
func (a *Agent) Store() *store.Store { return a.store }

// Failed delivers an error if a listener stops unexpectedly.
func (a *Agent) Failed() <-chan error { return a.failed }

// Stop shuts the node down in the documented order: stop ingress (admin
// and data plane, letting in-flight requests finish), flush spans and
// write out the access log, transfer leadership and close Raft and
// gossip, then close the bbolt store.
func (a *Agent) Stop() error {
	if a.cancel != nil {
		a.cancel()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var errs []error
	if a.admin != nil {
		errs = append(errs, a.admin.Shutdown(ctx))
	} else if a.adminLn != nil {
		a.adminLn.Close()
	}
	if a.gateway != nil {
		errs = append(errs, a.gateway.Shutdown(ctx))
	} else if a.httpLn != nil {
		a.httpLn.Close()
	}
	errs = append(errs, a.obs.close(ctx)) // once requests are done: flushes spans, writes out the access log
	if a.limiter != nil {
		a.limiter.Close()
	}
	if a.node != nil && a.started {
		errs = append(errs, a.node.Close())
	}
	if a.policies != nil {
		a.policies.close()
	}
	if a.keySets != nil {
		a.keySets.Close()
	}
	if a.store != nil {
		errs = append(errs, a.store.Close())
	}
	return errors.Join(errs...)
}
