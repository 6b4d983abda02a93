package chaos

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"
)

// FaultKind names one kind of fault the harness injects.
type FaultKind string

// The fault kinds, as named on the command line.
const (
	// FaultKill SIGKILLs a node, holds it down, then starts it again with
	// its original command line.
	FaultKill FaultKind = "kill"
	// FaultPause SIGSTOPs a node (a long GC or VM pause), then SIGCONTs it.
	FaultPause FaultKind = "pause"
	// FaultRestart stops a node gracefully (SIGTERM) and starts it again
	// at once with its original command line.
	FaultRestart FaultKind = "restart"
	// FaultPartition cuts a node off from its peers, then heals it.
	FaultPartition FaultKind = "partition"
	// FaultLeaderWrite sends a config write and SIGKILLs the leader while
	// the write is in flight, then starts the old leader again.
	FaultLeaderWrite FaultKind = "leader-write"
)

// AllFaults returns every fault kind, in the order the flag documents them.
func AllFaults() []FaultKind {
	return []FaultKind{FaultKill, FaultPause, FaultRestart, FaultPartition, FaultLeaderWrite}
}

// ParseFaults reads a comma-separated list of fault kinds.
func ParseFaults(s string) ([]FaultKind, error) {
	var out []FaultKind
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		k := FaultKind(f)
		if !slices.Contains(AllFaults(), k) {
			return nil, fmt.Errorf("%w: %q (want some of %s)", errUnknownFault, f, joinKinds(AllFaults()))
		}
		if !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	return out, nil
}

func joinKinds(ks []FaultKind) string {
	s := make([]string, len(ks))
	for i, k := range ks {
		s[i] = string(k)
	}
	return strings.Join(s, ",")
}

// composeDemoToken is the admin token docker-compose.yml gives its nodes
// when TOLLGATE_ADMIN_TOKEN is not set.
const composeDemoToken = "demo-admin-token-change-me"

// Sentinel errors of the chaos package.
var (
	errUnknownFault = errors.New("unknown fault kind")
	errBadConfig    = errors.New("invalid chaos config")
	errNotReady     = errors.New("cluster not ready")
	errUnsupported  = errors.New("not supported by this target")
	errNodeDown     = errors.New("node is down")
	errNoCompose    = errors.New("neither `docker compose` nor `docker-compose` is available")
)

// Config is one chaos run.
type Config struct {
	// Nodes is the number of gateway nodes (local target; compose uses the
	// services in the compose file). Default 3.
	Nodes int
	// Duration is the whole run, warm-up and cool-down included. Default 60s.
	Duration time.Duration
	// Rate is the open-loop request rate, in requests per second, spread
	// over every node. Default 500.
	Rate int
	// Seed drives the fault schedule: the same seed, duration, node count
	// and fault list give the same schedule.
	Seed int64
	// Faults are the fault kinds to draw from. Default: all.
	Faults []FaultKind
	// Schedule, when set, is used instead of one generated from Seed.
	Schedule *Schedule
	// OutDir receives report.json, timeline.png and node logs.
	OutDir string
	// Binary is the tollgate binary that local nodes run.
	Binary string
	// Compose selects the Docker Compose target instead of local processes.
	Compose bool
	// ComposeFile is the compose file (default docker-compose.yml).
	ComposeFile string
	// ComposeProject is the compose project name (default tollgate-chaos).
	ComposeProject string
	// AdminToken is sent as a bearer token to every admin API. Local
	// nodes keep their admin API on loopback, open without one; for
	// compose it defaults to docker-compose.yml's demo token.
	AdminToken string
	// RateLimit, when above zero, adds a route /chaos-limited whose
	// rate-limit plugin admits RateLimit requests per second, sends a
	// tenth of the load to it and checks admissions per window.
	RateLimit int64
	// Writers is the number of concurrent config writers. Default 2.
	Writers int
	// WriteInterval is the pause between one writer's writes. Default 500ms.
	WriteInterval time.Duration
	// ConvergeWithin is the convergence bound after faults stop. Default 2s.
	ConvergeWithin time.Duration
	// AdmitTolerance is the allowed ratio of admissions to the limit per
	// window. Default 1.10.
	AdmitTolerance float64
	// RequestTimeout bounds one data-plane request. Default 10s, longer
	// than any pause, so a paused node delays requests rather than fail them.
	RequestTimeout time.Duration
	// Progress receives a progress line every second (nil: none).
	Progress io.Writer
	// Logger receives the harness's logs (default: discard).
	Logger *slog.Logger
}

func (c *Config) withDefaults() Config {
	out := *c
	if out.Nodes == 0 {
		out.Nodes = 3
	}
	if out.Duration == 0 {
		out.Duration = 60 * time.Second
	}
	if out.Rate == 0 {
		out.Rate = 500
	}
	if out.Faults == nil {
		out.Faults = AllFaults()
	}
	if out.ComposeFile == "" {
		out.ComposeFile = "docker-compose.yml"
	}
	if out.ComposeProject == "" {
		out.ComposeProject = "tollgate-chaos"
	}
	if out.Compose && out.AdminToken == "" {
		out.AdminToken = composeDemoToken
	}
	if out.Writers == 0 {
		out.Writers = 2
	}
	if out.WriteInterval == 0 {
		out.WriteInterval = 500 * time.Millisecond
	}
	if out.ConvergeWithin == 0 {
		out.ConvergeWithin = 2 * time.Second
	}
	if out.AdmitTolerance == 0 {
		out.AdmitTolerance = 1.10
	}
	if out.RequestTimeout == 0 {
		out.RequestTimeout = 10 * time.Second
	}
	if out.Logger == nil {
		out.Logger = slog.New(slog.DiscardHandler)
	}
	if out.Progress == nil {
		out.Progress = io.Discard
	}
	return out
}

func (c *Config) validate() error {
	switch {
	case c.Nodes < 1:
		return fmt.Errorf("%w: --nodes must be at least 1", errBadConfig)
	case c.Duration < 5*time.Second:
		return fmt.Errorf("%w: --duration must be at least 5s", errBadConfig)
	case c.Rate < 1:
		return fmt.Errorf("%w: --rate must be at least 1", errBadConfig)
	case c.OutDir == "":
		return fmt.Errorf("%w: --out is required", errBadConfig)
	case !c.Compose && c.Binary == "":
		return fmt.Errorf("%w: --binary is required for local nodes", errBadConfig)
	}
	return nil
}
