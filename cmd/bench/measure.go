package main

import (
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// result is one target's measurements.
type result struct {
	name       string
	rps        float64 // median closed-loop throughput
	rpsRuns    []float64
	wrkP50     time.Duration
	wrkP99     time.Duration
	openP50    time.Duration // the median of the open-loop rounds' p50s
	openP99    time.Duration // the median of their p99s
	openP50s   []time.Duration
	openErrors uint64
	openTotal  uint64
	cpuPerReq  cpuTimes // the serving process's CPU per request in the closed-loop runs; zero: not measured
	openCPU    cpuTimes // the same in the open-loop runs, where every request wakes the process
}

// closedRun is one closed-loop run of a target.
type closedRun struct {
	rps      float64
	p50, p99 time.Duration
}

// measureAll measures every target: a warm-up each, then o.runs rounds in
// which every target gets one closed-loop run in turn, so that the shared
// machine's slow drifts fall on all targets alike, and last o.openRuns
// rounds of open-loop runs, the targets in turn again.
func measureAll(o options, targets []target) ([]result, error) {
	results := make([]result, len(targets))
	runs := make([][]closedRun, len(targets))
	cpu := make([]cpuTimes, len(targets))
	served := make([]float64, len(targets))
	cpuOK := make([]bool, len(targets))
	for i, t := range targets {
		results[i].name, cpuOK[i] = t.name, t.pid != 0
		if _, _, _, err := wrk(o, t, 2*time.Second); err != nil { // warm up connections and caches
			return nil, fmt.Errorf("%s: %w", t.name, err)
		}
	}
	for range o.runs {
		for i, t := range targets {
			cpu0, err0 := cpuOf(t)
			rps, p50, p99, err := wrk(o, t, o.duration)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", t.name, err)
			}
			cpu1, err1 := cpuOf(t)
			cpuOK[i] = cpuOK[i] && err0 == nil && err1 == nil
			cpu[i] = cpu[i].add(cpu1.sub(cpu0))
			served[i] += rps * o.duration.Seconds()
			runs[i] = append(runs[i], closedRun{rps, p50, p99})
			results[i].rpsRuns = append(results[i].rpsRuns, rps)
		}
	}
	for i := range targets {
		r := &results[i]
		if cpuOK[i] && served[i] > 0 {
			r.cpuPerReq = cpu[i].per(served[i])
		}
		sort.Slice(runs[i], func(a, b int) bool { return runs[i][a].rps < runs[i][b].rps })
		med := runs[i][len(runs[i])/2]
		r.rps, r.wrkP50, r.wrkP99 = med.rps, med.p50, med.p99
	}
	openRounds(o, targets, results)
	return results, nil
}

// openRounds runs o.openRuns rounds of one open-loop run per target, in
// turn, and keeps the medians of their p50s and p99s.
func openRounds(o options, targets []target, results []result) {
	p99s := make([][]time.Duration, len(targets))
	cpu := make([]cpuTimes, len(targets))
	cpuOK := make([]bool, len(targets))
	for i, t := range targets {
		cpuOK[i] = t.pid != 0
	}
	for range o.openRuns {
		for i, t := range targets {
			cpu0, err0 := cpuOf(t)
			p50, p99, errs, total := openLoop(o, t)
			cpu1, err1 := cpuOf(t)
			cpuOK[i] = cpuOK[i] && err0 == nil && err1 == nil
			cpu[i] = cpu[i].add(cpu1.sub(cpu0))
			r := &results[i]
			r.openP50s = append(r.openP50s, p50)
			p99s[i] = append(p99s[i], p99)
			r.openErrors += errs
			r.openTotal += total
		}
	}
	for i := range results {
		r := &results[i]
		r.openP50, r.openP99 = median(r.openP50s), median(p99s[i])
		if cpuOK[i] && r.openTotal > 0 {
			r.openCPU = cpu[i].per(float64(r.openTotal))
		}
	}
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

var (
	reRPS = regexp.MustCompile(`Requests/sec:\s+([\d.]+)`)
	reP50 = regexp.MustCompile(`\s50%\s+([\d.]+)(us|ms|s)`)
	reP99 = regexp.MustCompile(`\s99%\s+([\d.]+)(us|ms|s)`)
	reErr = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
)

// wrk runs one closed-loop measurement.
func wrk(o options, t target, d time.Duration) (float64, time.Duration, time.Duration, error) {
	args := []string{fmt.Sprintf("-t%d", o.threads), fmt.Sprintf("-c%d", o.conns),
		fmt.Sprintf("-d%ds", int(d.Seconds())), "--latency"}
	if t.header != "" {
		args = append(args, "-H", t.header)
	}
	if o.script != "" {
		args = append(args, "-s", o.script)
	}
	out, err := exec.Command("wrk", append(args, t.url)...).CombinedOutput()
	if err != nil {
		return 0, 0, 0, fmt.Errorf("wrk: %w\n%s", err, out)
	}
	if m := reErr.FindSubmatch(out); m != nil {
		return 0, 0, 0, fmt.Errorf("wrk saw %s non-2xx responses:\n%s", m[1], out)
	}
	m := reRPS.FindSubmatch(out)
	if m == nil {
		return 0, 0, 0, fmt.Errorf("cannot read wrk output:\n%s", out)
	}
	rps, _ := strconv.ParseFloat(string(m[1]), 64)
	return rps, wrkDuration(reP50.FindSubmatch(out)), wrkDuration(reP99.FindSubmatch(out)), nil
}

// cpuOf is the CPU time t's process has used so far.
func cpuOf(t target) (cpuTimes, error) {
	if t.pid == 0 {
		return cpuTimes{}, fmt.Errorf("%s: no process to measure", t.name)
	}
	return processCPU(t.pid)
}

func wrkDuration(m [][]byte) time.Duration {
	if m == nil {
		return 0
	}
	v, _ := strconv.ParseFloat(string(m[1]), 64)
	unit := map[string]time.Duration{"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second}[string(m[2])]
	return time.Duration(v * float64(unit))
}

// openLoop offers a fixed rate with vegeta and returns latency quantiles.
func openLoop(o options, t target) (p50, p99 time.Duration, errs, total uint64) {
	vt := vegeta.Target{Method: "GET", URL: t.url, Header: http.Header{}}
	if o.body > 0 {
		vt.Method, vt.Body = "POST", postBody(o.body)
		vt.Header.Set("Content-Type", "application/json")
	}
	if name, value, ok := strings.Cut(t.header, ": "); ok {
		vt.Header.Set(name, value)
	}
	targeter := vegeta.NewStaticTargeter(vt)
	opts := []func(*vegeta.Attacker){vegeta.KeepAlive(true), vegeta.Connections(o.conns)}
	if strings.HasPrefix(t.url, "https://") {
		opts = append(opts, vegeta.TLSConfig(insecureTLS()), vegeta.HTTP2(false))
	}
	attacker := vegeta.NewAttacker(opts...)
	var m vegeta.Metrics
	for res := range attacker.Attack(targeter, vegeta.Rate{Freq: o.rate, Per: time.Second}, o.rateDur, "bench") {
		m.Add(res)
	}
	m.Close()
	return m.Latencies.P50, m.Latencies.P99, uint64(len(m.Errors)), m.Requests
}

func report(w io.Writer, results []result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "target\tclosed req/s (median)\truns\twrk p50\twrk p99\topen p50\topen p99\topen errors\tCPU/req\t")
	byName := map[string]result{}
	for _, r := range results {
		byName[r.name] = r
		fmt.Fprintf(tw, "%s\t%.0f\t%s\t%s\t%s\t%s\t%s\t%d/%d\t%s\t\n", r.name, r.rps, fmtRuns(r.rpsRuns),
			r.wrkP50, r.wrkP99, r.openP50, r.openP99, r.openErrors, r.openTotal, fmtCPU(r.cpuPerReq.total()))
	}
	tw.Flush()
	d, n, t := byName["direct"], byName["nginx"], byName["tollgate"]
	fmt.Fprintln(w)
	fmt.Fprintf(w, "tollgate/direct throughput: %.2f\n", t.rps/d.rps)
	if c := byName["tollgate+chain"]; c.name != "" {
		fmt.Fprintf(w, "full chain (jwt, rate-limit, request id, access log) / bare route throughput: %.2f   (target >= 0.85)\n", c.rps/t.rps)
		if c.cpuPerReq.total() > 0 && t.cpuPerReq.total() > 0 {
			fmt.Fprintf(w, "full chain / bare route, gateway CPU per request: %.2f   (the chain's own cost, free of the load generator's share of the 2 cores)\n",
				float64(c.cpuPerReq.total())/float64(t.cpuPerReq.total()))
		}
	}
	if n.name == "" {
		fmt.Fprintln(w, "nginx not installed: no nginx ratios (apt-get install nginx)")
		return
	}
	fmt.Fprintf(w, "tollgate/nginx throughput: %.2f   (target >= 1.00)\n", t.rps/n.rps)
	if nc, tc := n.cpuPerReq, t.cpuPerReq; nc.total() > 0 && tc.total() > 0 {
		fmt.Fprintf(w, "proxy CPU per request: nginx %s, tollgate %s, ratio %.2f; user space: nginx %s, tollgate %s; kernel: nginx %s, tollgate %s\n",
			fmtCPU(nc.total()), fmtCPU(tc.total()), float64(tc.total())/float64(nc.total()),
			fmtCPU(nc.user), fmtCPU(tc.user), fmtCPU(nc.sys), fmtCPU(tc.sys))
	}
	if nc, tc := n.openCPU, t.openCPU; nc.total() > 0 && tc.total() > 0 {
		fmt.Fprintf(w, "proxy CPU per request at the open-loop rate: nginx %s, tollgate %s, ratio %.2f   (each request wakes the proxy; tollgate's upstream poll is in this)\n",
			fmtCPU(nc.total()), fmtCPU(tc.total()), float64(tc.total())/float64(nc.total()))
	}
	fmt.Fprintf(w, "open-loop p50 per round: direct %s; nginx %s; tollgate %s\n", fmtDurations(d.openP50s), fmtDurations(n.openP50s), fmtDurations(t.openP50s))
	added := func(r result) time.Duration { return r.openP50 - d.openP50 }
	fmt.Fprintf(w, "added p50 at the open-loop rate: nginx +%s, tollgate +%s, ratio (tollgate-direct)/(nginx-direct) = %.2f   (target <= 1.00)\n",
		added(n), added(t), float64(added(t))/float64(max(added(n), time.Microsecond)))
	pn, pt := pairedAdded(n, d), pairedAdded(t, d)
	fmt.Fprintf(w, "added p50 paired by round (median over rounds of the proxy's p50 minus direct's in the same round): nginx +%s, tollgate +%s, ratio %.2f\n",
		pn, pt, float64(pt)/float64(max(pn, time.Microsecond)))
}

// pairedAdded is the median over open-loop rounds of r's p50 minus
// direct's p50 in the same round: the targets of a round run back to
// back, so a drift of the shared machine between rounds cancels out.
func pairedAdded(r, direct result) time.Duration {
	n := min(len(r.openP50s), len(direct.openP50s))
	diffs := make([]time.Duration, n)
	for i := range n {
		diffs[i] = r.openP50s[i] - direct.openP50s[i]
	}
	return median(diffs)
}

// fmtDurations prints durations in whole µs, comma-separated.
func fmtDurations(ds []time.Duration) string {
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = fmt.Sprintf("%dµs", d.Microseconds())
	}
	return strings.Join(parts, ",")
}

// fmtCPU prints a CPU time per request in µs, or "-" when not measured.
func fmtCPU(d time.Duration) string {
	if d <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.1fµs", float64(d)/float64(time.Microsecond))
}

func fmtRuns(v []float64) string {
	s := ""
	for i, x := range v {
		if i > 0 {
			s += ","
		}
		s += strconv.FormatFloat(x/1000, 'f', 1, 64) + "k"
	}
	return s
}
