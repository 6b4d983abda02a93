package chaos

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// Verdict is the outcome of one invariant check.
type Verdict string

// Verdicts. Only VerdictFail makes a run fail.
const (
	VerdictPass         Verdict = "pass"
	VerdictFail         Verdict = "fail"
	VerdictSkipped      Verdict = "skipped"
	VerdictInconclusive Verdict = "inconclusive"
)

// Invariant is one checked property and its verdict.
type Invariant struct {
	Name    string  `json:"name"`
	Verdict Verdict `json:"verdict"`
	Detail  string  `json:"detail"`
}

// Invariant names, as they appear in reports.
const (
	InvAckedWrites   = "acknowledged writes kept, in order"
	InvLinearizable  = "config versions linearizable (porcupine)"
	InvConvergence   = "live nodes converge after faults"
	InvRequestErrors = "no request errors except at a kill"
	InvRateLimit     = "rate limit admits at most 1.10x per window (1.10x(1+1/N) with a node cut off)"
)

// Evidence is everything the checker looks at. The harness fills it from
// a run; tests fill it by hand to prove the checker catches violations.
type Evidence struct {
	// Base is the version and marker the run started from.
	BaseVersion uint64
	BaseMarker  string
	Writes      []WriteRecord
	Reads       []ReadRecord
	// Kept maps each version the cluster kept at the end to its marker.
	// KeptFromHistory is false when it holds only the final config
	// (no history endpoint); then reads fill the gaps.
	Kept            map[uint64]string
	KeptFromHistory bool
	KeptSource      string
	// Final is the last convergence measurement, after faults stopped.
	Final FinalConvergence
	// ConvergeWithin is the convergence bound (2 s).
	ConvergeWithin time.Duration
	// Failures are the failed requests; Cuts the instants each node
	// (by index) was killed or cut off from the load generator.
	Failures []Failure
	Cuts     map[int][]time.Duration
	// Paused are the spans each node (by index) was paused: requests
	// sent to it then time out, as they would at any frozen server.
	Paused map[int][]Span
	// RateLimit is the limited route's limit per window (0: none);
	// Windows are its observed answers.
	RateLimit      int64
	AdmitTolerance float64
	Windows        []AdmitWindow
	// Started is when the run started (Isolations are relative to it);
	// Nodes the number of gateway nodes.
	Started time.Time
	Nodes   int
	// Isolations are the spans in which some node was cut off from its
	// peers' gossip (partitioned or paused); see checkRateLimit.
	Isolations []Span
	// VisualizeTo, when set, receives porcupine's HTML visualization of
	// the register history if it does not linearize.
	VisualizeTo string
}

// FinalConvergence is how long the live nodes took, once faults had
// stopped, to serve one same version.
type FinalConvergence struct {
	Converged bool          `json:"converged"`
	Took      time.Duration `json:"took"`
	Version   uint64        `json:"version"`
	// Versions is what each node served when the wait ended.
	Versions map[string]uint64 `json:"versions"`
}

// Check runs every invariant check over ev.
func Check(ev *Evidence) []Invariant {
	return []Invariant{
		checkAckedWrites(ev),
		checkLinearizable(ev),
		checkConvergence(ev),
		checkRequestErrors(ev),
		checkRateLimit(ev),
	}
}

func pass(name, format string, a ...any) Invariant {
	return Invariant{Name: name, Verdict: VerdictPass, Detail: fmt.Sprintf(format, a...)}
}

func fail(name string, problems []string, format string, a ...any) Invariant {
	d := fmt.Sprintf(format, a...)
	if len(problems) > 5 {
		problems = append(problems[:5:5], fmt.Sprintf("and %d more", len(problems)-5))
	}
	return Invariant{Name: name, Verdict: VerdictFail, Detail: d + ": " + strings.Join(problems, "; ")}
}

// checkAckedWrites: every acknowledged write is in the kept history with
// its own marker, acknowledged writes hold distinct versions, and a write
// acknowledged before another began holds a lower version.
func checkAckedWrites(ev *Evidence) Invariant {
	acked := ackedWrites(ev.Writes)
	var problems []string
	byVersion := map[uint64]WriteRecord{}
	for _, w := range acked {
		if o, dup := byVersion[w.Version]; dup {
			problems = append(problems, fmt.Sprintf("writes %s and %s both acknowledged as version %d", o.Marker, w.Marker, w.Version))
		}
		byVersion[w.Version] = w
	}
	problems = append(problems, orderProblems(acked)...)
	checked, older := 0, 0
	minKept := minKey(ev.Kept)
	for _, w := range acked {
		m, ok := ev.Kept[w.Version]
		switch {
		case ok && m != w.Marker:
			problems = append(problems, fmt.Sprintf("acknowledged %s as version %d, but version %d holds %q", w.Marker, w.Version, w.Version, m))
		case ok:
			checked++
		case ev.KeptFromHistory && w.Version >= minKept:
			problems = append(problems, fmt.Sprintf("acknowledged %s as version %d, missing from the history", w.Marker, w.Version))
		default:
			older++
		}
	}
	problems = append(problems, readProblems(ev.Reads, byVersion)...)
	if maxV := maxAcked(acked); maxV > 0 && len(ev.Kept) > 0 && maxKey(ev.Kept) < maxV {
		problems = append(problems, fmt.Sprintf("the cluster ends at version %d, below acknowledged version %d", maxKey(ev.Kept), maxV))
	}
	if len(problems) > 0 {
		return fail(InvAckedWrites, problems, "%d acknowledged writes", len(acked))
	}
	return pass(InvAckedWrites, "%d of %d writes acknowledged; %d found in %s, %d more checked against reads and order only",
		len(acked), len(ev.Writes), checked, ev.KeptSource, older)
}

func ackedWrites(ws []WriteRecord) []WriteRecord {
	var out []WriteRecord
	for _, w := range ws {
		if w.Acked {
			out = append(out, w)
		}
	}
	slices.SortFunc(out, func(a, b WriteRecord) int { return int(a.Call - b.Call) })
	return out
}

// orderProblems finds acknowledged writes whose versions contradict real
// time: a acknowledged before b was sent, yet b holds a lower version.
func orderProblems(acked []WriteRecord) []string {
	var out []string
	for _, a := range acked {
		for _, b := range acked {
			if a.Return < b.Call && a.Version >= b.Version {
				out = append(out, fmt.Sprintf("%s (v%d) was acknowledged before %s (v%d) was sent", a.Marker, a.Version, b.Marker, b.Version))
			}
		}
	}
	return out
}

// readProblems finds reads that saw an acknowledged version with another
// write's marker: that write was lost or overwritten.
func readProblems(reads []ReadRecord, byVersion map[uint64]WriteRecord) []string {
	var out []string
	for _, r := range reads {
		if w, ok := byVersion[r.Version]; ok && r.Marker != w.Marker {
			out = append(out, fmt.Sprintf("%s read version %d holding %q, acknowledged as %s", r.Node, r.Version, r.Marker, w.Marker))
		}
	}
	return out
}

func maxAcked(acked []WriteRecord) uint64 {
	var m uint64
	for _, w := range acked {
		m = max(m, w.Version)
	}
	return m
}

func minKey(m map[uint64]string) uint64 {
	first := true
	var k uint64
	for v := range m {
		if first || v < k {
			k, first = v, false
		}
	}
	return k
}

func maxKey(m map[uint64]string) uint64 {
	var k uint64
	for v := range m {
		k = max(k, v)
	}
	return k
}

func checkConvergence(ev *Evidence) Invariant {
	f := ev.Final
	if !f.Converged {
		return fail(InvConvergence, []string{fmt.Sprintf("versions %s", fmtVersions(f.Versions))},
			"no common version within %s", ev.ConvergeWithin)
	}
	if f.Took > ev.ConvergeWithin {
		return fail(InvConvergence, []string{fmt.Sprintf("took %s", f.Took.Round(time.Millisecond))},
			"converged on version %d too late (bound %s)", f.Version, ev.ConvergeWithin)
	}
	return pass(InvConvergence, "every node served version %d %s after the faults stopped (bound %s)",
		f.Version, f.Took.Round(time.Millisecond), ev.ConvergeWithin)
}

func fmtVersions(m map[string]uint64) string {
	var parts []string
	for _, id := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s=%d", id, m[id]))
	}
	return strings.Join(parts, " ")
}

// killSlack is how far from a kill instant a failed request on the killed
// node still counts as "at the instant it was killed".
const killSlack = 250 * time.Millisecond

// checkRequestErrors: every failed request was in flight on a node at the
// instant that node was killed (or cut off from the load generator).
func checkRequestErrors(ev *Evidence) Invariant {
	excused := 0
	var problems []string
	for _, f := range ev.Failures {
		if atCut(f, ev.Cuts[f.Node]) || inSpan(f.Start, ev.Paused[f.Node], killSlack) {
			excused++
			continue
		}
		problems = append(problems, fmt.Sprintf("%s on node #%d at %s", f.Cause, f.Node+1, f.Start.Round(time.Millisecond)))
	}
	if len(problems) > 0 {
		return fail(InvRequestErrors, problems, "%d unexcused failed requests (%d more at a kill or pause)", len(problems), excused)
	}
	return pass(InvRequestErrors, "%d failed requests, all in flight on a node when it was killed or paused", excused)
}

// inSpan reports whether at falls in one of spans, widened by slack.
func inSpan(at time.Duration, spans []Span, slack time.Duration) bool {
	for _, s := range spans {
		if at >= s.From-slack && at <= s.To+slack {
			return true
		}
	}
	return false
}

func atCut(f Failure, cuts []time.Duration) bool {
	for _, c := range cuts {
		if f.Start <= c+killSlack && f.End >= c-killSlack {
			return true
		}
	}
	return false
}

// isolationSettle is how long after a partition heals or a paused node
// resumes the limiter may still run on the views it formed while cut off.
const isolationSettle = 2 * time.Second

// checkRateLimit: no 1 s window admits more than AdmitTolerance × the
// limit, except while a node is cut off from its peers' gossip. Then the
// limiter's documented bound applies: the cut-off node keeps its fair
// share, 1/N of the limit, and once it has been silent for the limiter's
// ReclaimAfter the others take the whole limit back (they cannot tell it
// from a dead node), so such windows may admit up to (1 + 1/N) × the
// limit, times the tolerance.
func checkRateLimit(ev *Evidence) Invariant {
	if ev.RateLimit <= 0 {
		return Invariant{Name: InvRateLimit, Verdict: VerdictSkipped, Detail: "no rate-limited route configured (use --rate-limit N)"}
	}
	if len(ev.Windows) == 0 {
		return Invariant{Name: InvRateLimit, Verdict: VerdictInconclusive, Detail: "no answers from the rate-limited route"}
	}
	bound := float64(ev.RateLimit) * ev.AdmitTolerance
	cutBound := bound * (1 + 1/float64(max(ev.Nodes, 1)))
	var problems []string
	worst, worstCut, limited, cut := 0, 0, 0, 0
	for _, w := range ev.Windows {
		limited += w.Limited
		b := bound
		if ev.cutOff(w.Start) {
			b, cut = cutBound, cut+1
			worstCut = max(worstCut, w.Admitted)
		} else {
			worst = max(worst, w.Admitted)
		}
		if float64(w.Admitted) > b {
			problems = append(problems, fmt.Sprintf("%d admitted in the window at %s (bound %.0f)", w.Admitted, w.Start.Format("15:04:05"), b))
		}
	}
	if len(problems) > 0 {
		hint := ""
		if limited == 0 {
			hint = "; no request was ever answered 429: is the rate-limit plugin enforced?"
		}
		return fail(InvRateLimit, problems, "limit %d per 1s window, bound %.0f (%.0f while a node is cut off)%s", ev.RateLimit, bound, cutBound, hint)
	}
	return pass(InvRateLimit, "at most %d admitted per window (limit %d, bound %.0f) over %d windows; %d windows with a node cut off, at most %d admitted (bound %.0f); %d answered 429",
		worst, ev.RateLimit, bound, len(ev.Windows)-cut, cut, worstCut, cutBound, limited)
}

// cutOff reports whether the 1 s window starting at start overlaps a span
// in which a node was cut off from its peers, or its settling time.
func (ev *Evidence) cutOff(start time.Time) bool {
	from := start.Sub(ev.Started)
	for _, s := range ev.Isolations {
		if from+time.Second > s.From && from < s.To+isolationSettle {
			return true
		}
	}
	return false
}
