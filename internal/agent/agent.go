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
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tollgate/tollgate/admin"
	"github.com/tollgate/tollgate/cluster"
	"github.com/tollgate/tollgate/dataplane"
	"github.com/tollgate/tollgate/store"
)

// Config is everything a node needs to start. Addresses may use port 0.
type Config struct {
	NodeID          string // default: kept in DataDir/node-id
	DataDir         string
	HTTPAddr        string
	AdminAddr       string
	RaftAddr        string
	GossipAddr      string
	Advertise       string
	Join            []string
	BootstrapExpect int
	// ClusterKeys encrypt gossip and authenticate Raft (see cluster.Config.Keys).
	ClusterKeys [][]byte
	// SeedConfig is a YAML or JSON file applied once if the cluster has
	// no config yet.
	SeedConfig string
	// ApplyTimeout bounds a config write, including waiting for a leader.
	ApplyTimeout time.Duration
	// Raft and gossip timings; zero takes the cluster package defaults.
	HeartbeatTimeout time.Duration
	ElectionTimeout  time.Duration
	GossipInterval   time.Duration
	Logger           *slog.Logger
}

// Agent is a running node.
type Agent struct {
	cfg     Config
	log     *slog.Logger
	store   *store.Store
	gateway *dataplane.Gateway
	node    *cluster.Node
	admin   *admin.Server

	httpLn, adminLn net.Listener
	failed          chan error
	cancel          context.CancelFunc
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
	a := &Agent{cfg: cfg, log: cfg.Logger.With("node", cfg.NodeID), failed: make(chan error, 2)}
	if err := a.start(); err != nil {
		a.Stop()
		return nil, err
	}
	return a, nil
}

func (a *Agent) start() error {
	st, err := store.Open(store.Options{Path: filepath.Join(a.cfg.DataDir, "state.db"), Logger: a.log.With("component", "store")})
	if err != nil {
		return err
	}
	a.store = st
	a.gateway = dataplane.New(dataplane.Options{Logger: a.log.With("component", "dataplane"), NodeID: a.cfg.NodeID})
	if err := a.gateway.Update(st.Current()); err != nil {
		a.log.Error("stored config does not compile; serving nothing until the next version", "err", err)
	}
	if a.httpLn, err = net.Listen("tcp", a.cfg.HTTPAddr); err != nil {
		return fmt.Errorf("listen data plane %s: %w", a.cfg.HTTPAddr, err)
	}
	go func() { a.failed <- a.gateway.Serve(a.httpLn) }()
	if a.adminLn, err = net.Listen("tcp", a.cfg.AdminAddr); err != nil {
		return fmt.Errorf("listen admin %s: %w", a.cfg.AdminAddr, err)
	}
	if err := a.startCluster(); err != nil {
		return err
	}
	a.admin = admin.New(admin.Deps{Config: a.store, Applier: a.node, Cluster: a.node, DataPlane: a.gateway, Logger: a.log})
	go func() { a.failed <- a.admin.Serve(a.adminLn) }()
	a.log.Info("tollgate agent running", "http", a.HTTPAddr(), "admin", a.AdminAddr(),
		"raft", a.node.RaftAddr(), "gossip", a.node.GossipAddr(), "config_version", st.Current().Version)
	ctx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	if a.cfg.SeedConfig != "" {
		go a.seed(ctx, a.cfg.SeedConfig)
	}
	return nil
}

func (a *Agent) startCluster() error {
	node, err := cluster.New(cluster.Config{
		NodeID: a.cfg.NodeID, DataDir: a.cfg.DataDir, RaftAddr: a.cfg.RaftAddr, GossipAddr: a.cfg.GossipAddr,
		Advertise: a.cfg.Advertise, AdminAddr: a.advertisedAdmin(), Join: a.cfg.Join,
		BootstrapExpect: a.cfg.BootstrapExpect, ApplyTimeout: a.cfg.ApplyTimeout, Keys: a.cfg.ClusterKeys,
		HeartbeatTimeout: a.cfg.HeartbeatTimeout, ElectionTimeout: a.cfg.ElectionTimeout,
		GossipInterval: a.cfg.GossipInterval, AppliedIndex: a.store.AppliedIndex, Logger: a.log,
	}, a.store)
	if err != nil {
		return err
	}
	node.SetServedVersion(a.gateway.Version())
	a.store.Watch(func(cfg *store.Config) {
		if err := a.gateway.Update(cfg); err != nil {
			a.log.Error("applied config does not compile; keeping the previous one", "version", cfg.Version, "err", err)
			return
		}
		node.SetServedVersion(cfg.Version)
	})
	if err := node.Start(); err != nil {
		return err
	}
	a.node = node
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

// seed applies the seed config file if the cluster has no config yet. The
// write is compare-and-set on version 0, so across nodes only one lands.
func (a *Agent) seed(ctx context.Context, path string) {
	cmd, err := seedCommand(path)
	if err != nil {
		a.log.Error("seed config rejected", "path", path, "err", err)
		return
	}
	for ctx.Err() == nil && a.store.Current().Version == 0 {
		res, err := a.node.Apply(ctx, cmd)
		if err == nil {
			v, err := store.DecodeResult(res)
			a.log.Info("seed config", "version", v, "err", err)
			return
		}
		a.log.Debug("seed config: waiting for a leader", "err", err)
	}
}

func seedCommand(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read seed config: %w", err)
	}
	ct := "application/json"
	if ext := strings.ToLower(filepath.Ext(path)); ext == ".yaml" || ext == ".yml" {
		ct = "application/yaml"
	}
	cfg, err := store.Decode(data, ct)
	if err == nil {
		err = cfg.Validate()
	}
	if err != nil {
		return nil, err
	}
	zero := uint64(0)
	return store.Command{Type: store.CmdPutConfig, IfVersion: &zero, Config: cfg,
		Time: time.Now().UTC(), Author: "seed:" + filepath.Base(path)}.Encode()
}

// Stop shuts the node down in the documented order: stop ingress (admin
// and data plane, letting in-flight requests finish), transfer leadership
// and close Raft and gossip, then close the bbolt store.
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
	}
	if a.node != nil {
		errs = append(errs, a.node.Close())
	}
	if a.store != nil {
		errs = append(errs, a.store.Close())
	}
	return errors.Join(errs...)
}
