package chaos

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"time"
)

// Report is the outcome of a chaos run. Durations are in nanoseconds in
// its JSON form, latencies in milliseconds.
type Report struct {
	Target   string        `json:"target"`
	Seed     int64         `json:"seed"`
	Nodes    []Node        `json:"nodes"`
	Rate     int           `json:"rate"`
	Duration time.Duration `json:"duration"`
	Faults   []FaultKind   `json:"faults"`
	Started  time.Time     `json:"started"`
	Schedule *Schedule     `json:"schedule"`
	Events   []FaultEvent  `json:"fault_events"`

	Requests Totals   `json:"requests"`
	Buckets  []Bucket `json:"per_second"`
	// Failures lists failed requests (the first 1000).
	Failures []Failure `json:"failures,omitempty"`

	LeaderChanges    []LeaderChange     `json:"leader_changes"`
	Writes           []WriteRecord      `json:"writes"`
	Reads            []ReadRecord       `json:"reads"`
	WriteConvergence []WriteConvergence `json:"write_convergence"`
	FinalConvergence FinalConvergence   `json:"final_convergence"`
	KeptSource       string             `json:"kept_versions_source"`

	RateLimit   int64         `json:"rate_limit,omitempty"`
	RateWindows []AdmitWindow `json:"rate_limit_windows,omitempty"`

	Invariants []Invariant `json:"invariants"`
	// Files are the report's files: JSON, PNG timeline, node logs.
	Files map[string]string `json:"files"`
}

// Failed reports whether any invariant failed.
func (r *Report) Failed() bool {
	for _, inv := range r.Invariants {
		if inv.Verdict == VerdictFail {
			return true
		}
	}
	return false
}

// WriteJSON writes the report as indented JSON to path.
func (r *Report) WriteJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encode report: %w", err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

// WriteSummary writes the human-readable summary.
func (r *Report) WriteSummary(w io.Writer) {
	p := func(format string, a ...any) { fmt.Fprintf(w, format+"\n", a...) }
	p("tollgate chaos: %s, %s at %d req/s, seed %d", r.Target, r.Duration, r.Rate, r.Seed)
	r.summaryFaults(p)
	r.summaryRequests(p)
	r.summaryLeaders(p)
	r.summaryWrites(p)
	r.summaryBuckets(p)
	p("")
	p("invariants:")
	for _, inv := range r.Invariants {
		p("  %-12s %s: %s", strings.ToUpper(string(inv.Verdict)), inv.Name, inv.Detail)
	}
	verdict := "PASS"
	if r.Failed() {
		verdict = "FAIL"
	}
	files := slices.Sorted(maps.Keys(r.Files))
	var fs []string
	for _, k := range files {
		fs = append(fs, r.Files[k])
	}
	p("verdict: %s   (%s)", verdict, strings.Join(fs, ", "))
}

func (r *Report) summaryFaults(p func(string, ...any)) {
	p("")
	p("faults (%d actions, %d episodes):", len(r.Events), len(r.Schedule.Episodes))
	for _, ev := range r.Events {
		lead := ""
		if ev.WasLeader {
			lead = " (leader)"
		}
		extra := ev.Detail
		if ev.Error != "" {
			extra = "error: " + ev.Error
		}
		p("  %8s  %-12s %-9s %s%s  %s", fmtDur(ev.At), ev.Kind, ev.Action, ev.Node, lead, extra)
	}
}

func (r *Report) summaryRequests(p func(string, ...any)) {
	t := r.Requests
	p("")
	p("requests: %d sent, %d ok, %d failed, %d retried once on another node after a refused connection", t.Sent, t.OK, t.Failed, t.Retried)
	if r.RateLimit > 0 {
		p("  rate-limited route: %d answered 429 (counted ok)", t.Limited)
	}
	if len(t.Causes) > 0 {
		var parts []string
		for _, c := range slices.Sorted(maps.Keys(t.Causes)) {
			parts = append(parts, fmt.Sprintf("%s %d", c, t.Causes[c]))
		}
		p("  failed by cause: %s", strings.Join(parts, ", "))
	}
	var p50s, p99s, maxs []time.Duration
	for _, b := range r.Buckets {
		p50s = append(p50s, msDur(b.P50))
		p99s = append(p99s, msDur(b.P99))
		maxs = append(maxs, msDur(b.Max))
	}
	m50, _ := durationStats(p50s)
	m99, w99 := durationStats(p99s)
	_, wmax := durationStats(maxs)
	p("  latency per second: median p50 %s, median p99 %s, worst p99 %s, worst max %s", fmtMs(m50), fmtMs(m99), fmtMs(w99), fmtMs(wmax))
}

func (r *Report) summaryLeaders(p func(string, ...any)) {
	p("")
	p("leader changes: %d", len(r.LeaderChanges))
	for _, c := range r.LeaderChanges {
		line := fmt.Sprintf("  %8s  %s -> %s  failover %s", fmtDur(c.At), c.From, c.To, fmtDur(c.Failover))
		if c.Cause != "" {
			line += " after " + c.Cause
		}
		if c.WritesBack > 0 {
			line += fmt.Sprintf("; writes acknowledged again after %s", fmtDur(c.WritesBack))
		}
		p("%s", line)
	}
}

func (r *Report) summaryWrites(p func(string, ...any)) {
	acked, sure := 0, 0
	for _, w := range r.Writes {
		if w.Acked {
			acked++
		} else if w.NotApplied {
			sure++
		}
	}
	p("")
	p("config writes: %d sent through random nodes, %d acknowledged, %d not (%d certainly not applied), %d reads",
		len(r.Writes), acked, len(r.Writes)-acked, sure, len(r.Reads))
	var took []time.Duration
	for _, c := range r.WriteConvergence {
		took = append(took, c.Took)
	}
	p50, top := durationStats(took)
	p("  convergence after acknowledgement (every up node serving it, 100 ms polling): p50 %s, max %s over %d writes",
		fmtDur(p50), fmtDur(top), len(took))
	f := r.FinalConvergence
	if f.Converged {
		p("  after the faults stopped: every node served version %d after %s", f.Version, fmtDur(f.Took))
	} else {
		p("  after the faults stopped: no common version (%s)", fmtVersions(f.Versions))
	}
	p("  kept versions read from %s", r.KeptSource)
}

func (r *Report) summaryBuckets(p func(string, ...any)) {
	p("")
	p("per second:   sent     ok  fail  retry   p50 ms   p99 ms   max ms  faults")
	marks := map[int][]string{}
	for _, ev := range r.Events {
		s := int(ev.At / time.Second)
		marks[s] = append(marks[s], ev.Action+" "+ev.Node)
	}
	for _, b := range r.Buckets {
		p("  %4ds  %7d %6d %5d %6d %8.1f %8.1f %8.1f  %s", b.Second, b.Sent, b.OK, b.Failed, b.Retried,
			float64(b.P50), float64(b.P99), float64(b.Max), strings.Join(marks[b.Second], ", "))
	}
}

func msDur(m Millis) time.Duration { return time.Duration(float64(m) * float64(time.Millisecond)) }

func fmtMs(d time.Duration) string {
	return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
}

// fmtDur rounds d for reading: ms below 10 s, else 0.1 s.
func fmtDur(d time.Duration) string {
	if d < 10*time.Second {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(100 * time.Millisecond).String()
}
