package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/tollgate/tollgate/chaos"
)

// runChaos runs the chaos harness: a cluster under load and faults, then
// the invariant checks and the report. It exits 1 when an invariant fails.
func runChaos(args []string, stdout, stderr io.Writer) int {
	cfg, plan, scheduleOnly, err := parseChaosFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "chaos: %v\n", err)
		return 2
	}
	sched := chaos.NewSchedule(cfg.Seed, cfg.Duration, cfg.Nodes, cfg.Faults)
	if plan != "" {
		if sched, err = chaos.ParsePlan(plan, cfg.Duration); err != nil {
			fmt.Fprintf(stderr, "chaos: --plan: %v\n", err)
			return 2
		}
		sched.Seed = cfg.Seed
		fmt.Fprintf(stderr, "chaos: plan %s\n%s", plan, sched)
	} else {
		fmt.Fprintf(stderr, "chaos: seed %d (replay this schedule with --seed %d)\n%s", cfg.Seed, cfg.Seed, sched)
	}
	if scheduleOnly {
		return 0
	}
	cfg.Schedule = sched
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := chaos.Run(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "chaos: %v\n", err)
		return 1
	}
	rep.WriteSummary(stdout)
	if rep.Failed() {
		return 1
	}
	return 0
}

func parseChaosFlags(args []string, stderr io.Writer) (chaos.Config, string, bool, error) {
	var c chaos.Config
	var faults, plan string
	var verbose, scheduleOnly bool
	fs := flag.NewFlagSet("chaos", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&c.Nodes, "nodes", 3, "gateway nodes to start (local processes)")
	fs.DurationVar(&c.Duration, "duration", 60*time.Second, "length of the run, warm-up and cool-down included")
	fs.IntVar(&c.Rate, "rate", 500, "open-loop request rate (req/s), spread over every node")
	fs.Int64Var(&c.Seed, "seed", time.Now().UnixNano()%1_000_000, "seed of the fault schedule (same seed, same schedule)")
	fs.StringVar(&faults, "faults", "kill,pause,restart,partition,leader-write", "fault kinds to draw from")
	fs.StringVar(&c.OutDir, "out", "chaos-out", "directory for report.json, timeline.png and node logs")
	fs.BoolVar(&c.Compose, "compose", false, "run against the Docker Compose cluster instead of local processes")
	fs.StringVar(&c.ComposeFile, "compose-file", "docker-compose.yml", "compose file (with --compose)")
	fs.StringVar(&c.Binary, "binary", "", "tollgate binary for local nodes (default: this executable)")
	fs.StringVar(&c.AdminToken, "admin-token", chaosDefaultToken(),
		"admin API token (env TOLLGATE_TOKEN or TOLLGATE_ADMIN_TOKEN; compose default: docker-compose.yml's demo token)")
	fs.Int64Var(&c.RateLimit, "rate-limit", 0, "add a route limited to N req/s by the rate-limit plugin and check admissions (0: skip)")
	fs.IntVar(&c.Writers, "writers", 2, "concurrent config writers")
	fs.StringVar(&plan, "plan", "", "explicit schedule instead of a seeded one, like kill:leader@5s+4s,partition:follower@13s+4s,restart:2@21s")
	fs.BoolVar(&scheduleOnly, "schedule-only", false, "print the fault schedule and exit")
	fs.BoolVar(&verbose, "v", false, "log every fault and harness step to stderr")
	if err := fs.Parse(args); err != nil {
		return c, "", false, err
	}
	if fs.NArg() > 0 {
		return c, "", false, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	var err error
	if c.Faults, err = chaos.ParseFaults(faults); err != nil {
		return c, "", false, err
	}
	if c.Binary == "" && !c.Compose {
		if c.Binary, err = os.Executable(); err != nil {
			return c, "", false, fmt.Errorf("--binary: %w", err)
		}
	}
	level := slog.LevelWarn
	if verbose {
		level = slog.LevelInfo
	}
	c.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	c.Progress = stderr
	return c, plan, scheduleOnly, nil
}

// chaosDefaultToken is the admin token from the environment, if any.
func chaosDefaultToken() string {
	if t := os.Getenv("TOLLGATE_TOKEN"); t != "" {
		return t
	}
	return os.Getenv("TOLLGATE_ADMIN_TOKEN")
}
