// Command bench measures the gateway against a baseline taken in the same
// run: the upstream reached directly, nginx as a reverse proxy (where it
// is installed) and tollgate, each driven by the same closed-loop load
// (wrk, keep-alive) and the same open-loop fixed rate (vegeta). It prints
// throughput, p50/p99 latency and the ratios tollgate/nginx. With -tls
// nginx and tollgate terminate TLS on the client side (the upstream stays
// plain HTTP).
//
// Run it with `make bench`.
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

type options struct {
	binary   string
	duration time.Duration
	runs     int
	conns    int
	threads  int
	rate     int
	rateDur  time.Duration
	openRuns int
	out      string
	extra    string
	also     string
	body     int    // > 0: every request is a POST with a body of this many bytes
	script   string // the wrk script that sends that body; "" for GETs
	tls      bool   // the proxies terminate TLS; the upstream (and direct) stay plain HTTP
}

func main() {
	var o options
	flag.StringVar(&o.binary, "binary", "bin/tollgate", "tollgate binary")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "length of one closed-loop run")
	flag.IntVar(&o.runs, "runs", 3, "closed-loop runs per target; the median is reported")
	flag.IntVar(&o.conns, "conns", 64, "closed-loop keep-alive connections")
	flag.IntVar(&o.threads, "threads", 2, "wrk threads")
	flag.IntVar(&o.rate, "rate", 2000, "open-loop request rate per second")
	flag.DurationVar(&o.rateDur, "rate-duration", 3*time.Second, "length of one open-loop run (there are -open-runs rounds of them, targets in turn, median reported)")
	// Five short rounds rather than three long ones: the p50 of one
	// round is precise (6,000 requests), but the shared machine drifts
	// from round to round, and a median of five moves less with it.
	flag.IntVar(&o.openRuns, "open-runs", 5, "open-loop rounds per target; the median of their p50s is reported")
	flag.StringVar(&o.out, "out", "", "directory for logs (default: a temp dir)")
	flag.StringVar(&o.extra, "tollgate-flags", "", "more flags for the tollgate agent, space-separated (e.g. \"--access-log off\")")
	flag.StringVar(&o.also, "also", "", "one more proxy to measure, as name=command; {port} and {upstream} (host:port) in the command are filled in, and with -tls {cert} and {key} (PEM files)")
	flag.IntVar(&o.body, "body", 0, "send every request as a POST with a JSON body of this many bytes (0: GET without a body)")
	flag.BoolVar(&o.tls, "tls", false, "reach nginx, tollgate and the -also proxy over TLS (a self-signed ECDSA P-256 certificate for localhost and 127.0.0.1, made in the run's directory); direct stays plain HTTP")
	limits := flag.Bool("limits", false, "run the rate-limit accuracy benchmark instead")
	limit := flag.Int("limit", 500, "with -limits: the limit per window")
	windows := flag.String("windows", "1s,60s", "with -limits: window sizes")
	flag.Parse()
	run := func(o options) error { return runProxyBench(o) }
	if *limits {
		if o.tls {
			fmt.Fprintln(os.Stderr, "bench: -tls measures the proxies, not -limits")
			os.Exit(2)
		}
		run = func(o options) error {
			lo := limitsOptions{binary: o.binary, limit: *limit, out: o.out}
			for _, w := range strings.Split(*windows, ",") {
				d, err := time.ParseDuration(strings.TrimSpace(w))
				if err != nil {
					return fmt.Errorf("-windows: %w", err)
				}
				lo.windows = append(lo.windows, d)
			}
			return runLimits(lo)
		}
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func runProxyBench(o options) error {
	if o.out == "" {
		dir, err := os.MkdirTemp("", "tollgate-bench")
		if err != nil {
			return err
		}
		o.out = dir
	} else if err := os.MkdirAll(o.out, 0o755); err != nil {
		return fmt.Errorf("-out: %w", err)
	}
	if _, err := exec.LookPath("wrk"); err != nil {
		return fmt.Errorf("wrk is not installed (apt-get install wrk nginx): %w", err)
	}
	if o.body > 0 {
		script, err := writePostScript(o.out, o.body)
		if err != nil {
			return err
		}
		o.script = script
	}
	bin, err := filepath.Abs(o.binary)
	if err != nil {
		return err
	}
	env := &environment{dir: o.out, log: slog.New(slog.NewTextHandler(os.Stderr, nil)), extra: strings.Fields(o.extra), also: o.also}
	if o.tls {
		if env.cert, err = writeBenchCert(o.out); err != nil {
			return fmt.Errorf("-tls: %w", err)
		}
	}
	defer env.stopAll()
	targets, err := env.startTargets(bin)
	if err != nil {
		return err
	}
	fmt.Printf("bench: %d rounds of %s closed loop per target, targets in turn (wrk -t%d -c%d, median reported), then %d rounds of %d req/s open loop for %s (median of the p50s)%s; logs in %s\n\n",
		o.runs, o.duration, o.threads, o.conns, o.openRuns, o.rate, o.rateDur, tlsNote(o.tls), o.out)
	results, err := measureAll(o, targets)
	if err != nil {
		return err
	}
	report(os.Stdout, results)
	return nil
}

// tlsNote is what the header line says about TLS: nothing without -tls.
func tlsNote(on bool) string {
	if !on {
		return ""
	}
	return "; the proxies terminate TLS 1.2/1.3 (self-signed ECDSA P-256, one handshake per keep-alive connection, HTTP/1.1), direct is the plain-HTTP upstream baseline"
}
