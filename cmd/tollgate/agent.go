package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/tollgate/tollgate/cluster"
	"github.com/tollgate/tollgate/dataplane"
	"github.com/tollgate/tollgate/internal/agent"
	"github.com/tollgate/tollgate/store"
)

// minAdminToken is the shortest --admin-token accepted.
const minAdminToken = 16

// minHeaderBytes is the smallest --max-header-bytes accepted: below it a
// browser's ordinary request (cookies, a bearer token) would get 431.
const minHeaderBytes = 1024

// maxHeaderBytes is the largest --max-header-bytes accepted (net/http's
// default limit): each connection may buffer up to twice the limit.
const maxHeaderBytes = 1 << 20

func parseAgentFlags(args []string, stderr io.Writer) (agent.Config, string, string, error) {
	var c agent.Config
	var join, logLevel, logFormat, clusterKey, clusterKeyFile, adminTokenFile string
	fs := flag.NewFlagSet("agent", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.NodeID, "node-id", "", "node id (default: a UUID generated once and kept in the data dir)")
	fs.StringVar(&c.DataDir, "data-dir", "tollgate-data", "directory for the Raft log, snapshots and applied config")
	fs.StringVar(&c.HTTPAddr, "http-addr", ":8080", "data plane listen address")
	fs.IntVar(&c.MaxConns, "max-conns", 16384, "open connections allowed per data-plane listener (0: no cap)")
	fs.IntVar(&c.MaxHeaderBytes, "max-header-bytes", 64<<10, "largest request head (request line and header fields) served, 1024 to 1048576; larger ones get 431")
	fs.Int64Var(&c.MaxRequestBodyBytes, "max-body-bytes", 0, "largest request body where a route sets no max_body_bytes; larger ones get 413 (0: no limit)")
	fs.StringVar(&c.HTTPSAddr, "https-addr", "", "data plane TLS listen address (certificates from the config, by SNI; HTTP/2 by ALPN)")
	fs.StringVar(&c.AdminAddr, "admin-addr", "127.0.0.1:8081", "admin API listen address (loopback unless told otherwise)")
	fs.StringVar(&c.RaftAddr, "raft-addr", ":7000", "Raft listen address")
	fs.StringVar(&c.GossipAddr, "gossip-addr", ":7946", "gossip (memberlist) listen address, TCP and UDP")
	fs.StringVar(&c.Advertise, "advertise", "", "host or IP that peers use to reach this node (for containers and NAT)")
	fs.StringVar(&join, "join", "", "comma-separated gossip addresses of peers")
	fs.IntVar(&c.BootstrapExpect, "bootstrap-expect", 0, "nodes to wait for before forming a new cluster (default: number of --join entries + 1)")
	fs.StringVar(&c.SeedConfig, "seed-config", "", "YAML or JSON config applied once if the cluster has none yet")
	fs.DurationVar(&c.ApplyTimeout, "apply-timeout", 5*time.Second, "how long a config write may wait for a leader")
	fs.StringVar(&clusterKey, "cluster-key", os.Getenv("TOLLGATE_CLUSTER_KEY"),
		"base64 cluster key(s), comma-separated, primary first (env TOLLGATE_CLUSTER_KEY; make one with `tollgate keygen`)")
	fs.StringVar(&clusterKeyFile, "cluster-key-file", "", "file holding the cluster key(s), instead of --cluster-key")
	fs.IntVar(&c.HistoryLimit, "history-limit", store.DefaultHistoryLimit, "how many config versions to keep in the history")
	fs.StringVar(&c.AdminToken, "admin-token", os.Getenv("TOLLGATE_ADMIN_TOKEN"),
		"first admin API token, stored (hashed) if the cluster has none yet (env TOLLGATE_ADMIN_TOKEN)")
	fs.StringVar(&adminTokenFile, "admin-token-file", "", "file holding the first admin API token, instead of --admin-token")
	fs.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&logFormat, "log-format", "json", "json or text")
	fs.StringVar(&c.AccessLog, "access-log", "stdout", "where the access log (JSON lines) goes: stdout, stderr, a file path, or off")
	fs.Float64Var(&c.AccessLogSample, "access-log-sample", 1, "fraction (0..1) of requests with a status below 400 that are logged; errors always are")
	fs.Float64Var(&c.TraceSample, "trace-sample", 1, "fraction (0..1) of the traces the gateway starts (no valid traceparent) that are marked sampled")
	fs.StringVar(&c.HTTPEngine, "http-engine", dataplane.EngineEpoll,
		"how the plain-HTTP listener is served: epoll (event loops on Linux; requests they do not serve go to goroutines) or goroutine (one per connection)")
	fs.IntVar(&c.EventLoops, "event-loops", 0, "with the epoll engine, how many event loops serve the plain-HTTP listener (0: one per CPU)")
	ioURing := fs.Bool("io-uring", true, "with the epoll engine, send through io_uring where the kernel allows it (one system call per loop pass instead of one per send)")
	fs.DurationVar(&c.UpstreamPoll, "upstream-poll", 200*time.Microsecond,
		"with the epoll engine, the longest an idle event loop polls for an upstream's answer before it sleeps; it polls only for upstreams that answer within this (0: never poll)")
	if err := fs.Parse(args); err != nil {
		return c, "", "", err
	}
	c.NoIOURing = !*ioURing
	if c.UpstreamPoll < 0 || c.UpstreamPoll > 10*time.Millisecond {
		return c, "", "", fmt.Errorf("--upstream-poll must be 0 (never) to 10ms, not %v", c.UpstreamPoll)
	}
	if c.UpstreamPoll == 0 {
		c.UpstreamPoll = -1 // dataplane.Options: negative never polls
	}
	if c.EventLoops < 0 {
		return c, "", "", fmt.Errorf("--event-loops must be 0 (one per CPU) or more, not %d", c.EventLoops)
	}
	if c.MaxHeaderBytes < minHeaderBytes || c.MaxHeaderBytes > maxHeaderBytes {
		return c, "", "", fmt.Errorf("--max-header-bytes must be %d to %d, not %d", minHeaderBytes, maxHeaderBytes, c.MaxHeaderBytes)
	}
	if c.MaxRequestBodyBytes < 0 {
		return c, "", "", fmt.Errorf("--max-body-bytes must be 0 (no limit) or more, not %d", c.MaxRequestBodyBytes)
	}
	if c.HTTPEngine != dataplane.EngineGoroutine && c.HTTPEngine != dataplane.EngineEpoll {
		return c, "", "", fmt.Errorf("--http-engine must be %s or %s, not %q", dataplane.EngineGoroutine, dataplane.EngineEpoll, c.HTTPEngine)
	}
	if fs.NArg() > 0 {
		return c, "", "", fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	keys, err := loadClusterKeys(clusterKey, clusterKeyFile)
	if err != nil {
		return c, "", "", err
	}
	c.ClusterKeys = keys
	if adminTokenFile != "" {
		b, err := os.ReadFile(adminTokenFile)
		if err != nil {
			return c, "", "", fmt.Errorf("--admin-token-file: %w", err)
		}
		c.AdminToken = strings.TrimSpace(string(b))
		if c.AdminToken == "" {
			return c, "", "", fmt.Errorf("--admin-token-file %s is empty", adminTokenFile)
		}
	}
	if c.AdminToken != "" && len(c.AdminToken) < minAdminToken {
		return c, "", "", fmt.Errorf("the admin token must be at least %d characters (`tollgate keygen` makes a good one)", minAdminToken)
	}
	if err := checkFractions(map[string]float64{"access-log-sample": c.AccessLogSample, "trace-sample": c.TraceSample}); err != nil {
		return c, "", "", err
	}
	if c.AccessLog == "" {
		return c, "", "", errors.New("--access-log must be stdout, stderr, a file path or off")
	}
	if c.HistoryLimit < 1 {
		return c, "", "", fmt.Errorf("--history-limit must be at least 1, not %d", c.HistoryLimit)
	}
	for _, p := range strings.Split(join, ",") {
		if p = strings.TrimSpace(p); p != "" {
			c.Join = append(c.Join, p)
		}
	}
	return c, logLevel, logFormat, nil
}

// spareProc gives the Go scheduler one P more than the event loops use,
// unless GOMAXPROCS is set, and returns the number of loops: loops, or
// one per P when it is 0. With every P
// held by a loop, the runtime's monitor thread took back the P of a loop
// waiting in epoll_wait after 20 µs, each time, and so woke every 20 µs
// (10 % of a core under wrk -c64, 0.4 thread switches a request); with an
// idle P to spare it leaves a waiting loop alone.
func spareProc(loops int) int {
	if loops <= 0 {
		loops = runtime.GOMAXPROCS(0)
	}
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(max(loops+1, runtime.GOMAXPROCS(0)))
	}
	return loops
}

// checkFractions checks that every flag value is within [0, 1].
func checkFractions(flags map[string]float64) error {
	for name, v := range flags {
		if !(v >= 0 && v <= 1) {
			return fmt.Errorf("--%s must be between 0 and 1, not %v", name, v)
		}
	}
	return nil
}

// loadClusterKeys reads the cluster keys from the flag value or a file.
func loadClusterKeys(value, file string) ([][]byte, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("--cluster-key-file: %w", err)
		}
		value = strings.TrimSpace(string(b))
	}
	keys, err := cluster.ParseKeys(value)
	if err != nil {
		return nil, fmt.Errorf("cluster key: %w", err)
	}
	return keys, nil
}

func newLogger(level, format string, w io.Writer) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format must be json or text, not %q", format)
}

// runAgent runs a node until SIGINT or SIGTERM, then shuts it down in
// order (see agent.Stop).
func runAgent(args []string, stderr io.Writer) int {
	cfg, level, format, err := parseAgentFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "agent: %v\n", err)
		return 2
	}
	log, err := newLogger(level, format, os.Stdout)
	if err != nil {
		fmt.Fprintf(stderr, "agent: %v\n", err)
		return 2
	}
	cfg.Logger = log
	if cfg.HTTPEngine == dataplane.EngineEpoll {
		cfg.EventLoops = spareProc(cfg.EventLoops)
		log.Debug("event loops", "loops", cfg.EventLoops, "gomaxprocs", runtime.GOMAXPROCS(0))
	}
	a, err := agent.Start(cfg)
	if err != nil {
		log.Error("agent failed to start", "err", err)
		return 1
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	select {
	case s := <-sig:
		log.Info("shutting down", "signal", s.String())
	case err := <-a.Failed():
		log.Error("listener failed", "err", err)
	}
	if err := a.Stop(); err != nil {
		log.Error("shutdown", "err", err)
		return 1
	}
	log.Info("stopped")
	return 0
}
