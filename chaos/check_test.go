package chaos

import (
	"os"
	"strings"
	"testing"
	"time"
)

const ms = time.Millisecond

// cleanEvidence is a run with nothing wrong: two acknowledged writes in
// order, one unacknowledged, consistent reads, a history holding every
// acknowledged write, quick convergence, one failure at a kill, and a
// rate-limited route within its limit.
func cleanEvidence() *Evidence {
	return &Evidence{
		BaseVersion: 1, BaseMarker: markerName(0),
		Writes: []WriteRecord{
			{ID: 1, Marker: markerName(1), Node: "node1", Call: 100 * ms, Return: 150 * ms, Acked: true, Version: 2},
			{ID: 2, Marker: markerName(2), Node: "node2", Call: 200 * ms, Return: 260 * ms, Acked: true, Version: 3},
			{ID: 3, Marker: markerName(3), Node: "node3", Call: 300 * ms, Return: 900 * ms, Error: "timeout"},
			{ID: 4, Marker: markerName(4), Node: "node3", Call: 950 * ms, Return: 951 * ms, NotApplied: true, Error: "refused"},
			{ID: 5, Marker: markerName(5), Node: "node1", Call: 1000 * ms, Return: 1100 * ms, Acked: true, Version: 5},
		},
		Reads: []ReadRecord{
			{Node: "node2", Call: 160 * ms, Return: 170 * ms, Version: 2, Marker: markerName(1), Source: "read"},
			{Node: "node3", Call: 270 * ms, Return: 280 * ms, Version: 2, Marker: markerName(1), Source: "read"}, // stale: allowed
			{Node: "node1", Call: 1200 * ms, Return: 1210 * ms, Version: 4, Marker: markerName(3), Source: "read"},
			{Node: "node3", Call: 1200 * ms, Return: 1300 * ms, Version: 5, Marker: markerName(5), Source: "read", Consistent: true},
		},
		Kept:            map[uint64]string{1: markerName(0), 2: markerName(1), 3: markerName(2), 4: markerName(3), 5: markerName(5)},
		KeptFromHistory: true, KeptSource: "history",
		Final:          FinalConvergence{Converged: true, Took: 300 * ms, Version: 5, Versions: map[string]uint64{"node1": 5, "node2": 5, "node3": 5}},
		ConvergeWithin: 2 * time.Second,
		Failures:       []Failure{{Start: 4900 * ms, End: 5010 * ms, Node: 1, Cause: "EOF"}},
		Cuts:           map[int][]time.Duration{1: {5 * time.Second}},
		RateLimit:      100, AdmitTolerance: 1.10,
		Windows: []AdmitWindow{{Admitted: 100, Limited: 20}, {Admitted: 109, Limited: 3}},
	}
}

func verdicts(invs []Invariant) map[string]Invariant {
	out := map[string]Invariant{}
	for _, inv := range invs {
		out[inv.Name] = inv
	}
	return out
}

func TestCheckPassesCleanHistory(t *testing.T) {
	for name, inv := range verdicts(Check(cleanEvidence())) {
		if inv.Verdict != VerdictPass {
			t.Errorf("%s: %s: %s", name, inv.Verdict, inv.Detail)
		}
	}
}

func TestCheckCatchesViolations(t *testing.T) {
	tests := []struct {
		name   string
		doctor func(*Evidence)
		fails  []string // invariants that must fail
		detail string   // a phrase the first failing detail must hold
	}{
		{
			name:   "lost acknowledged write (missing from history)",
			doctor: func(ev *Evidence) { delete(ev.Kept, 3) },
			fails:  []string{InvAckedWrites},
			detail: "missing from the history",
		},
		{
			name:   "lost acknowledged write (version reused by another write)",
			doctor: func(ev *Evidence) { ev.Kept[3] = markerName(3); ev.Kept[4] = markerName(2) },
			fails:  []string{InvAckedWrites, InvLinearizable},
			detail: "holds",
		},
		{
			name: "lost acknowledged write seen only by a read (no history endpoint)",
			doctor: func(ev *Evidence) {
				ev.Kept, ev.KeptFromHistory = map[uint64]string{5: markerName(5)}, false
				ev.Reads = append(ev.Reads, ReadRecord{Node: "node2", Call: 1300 * ms, Return: 1310 * ms, Version: 3, Marker: markerName(3)})
			},
			fails:  []string{InvAckedWrites, InvLinearizable},
			detail: "acknowledged as",
		},
		{
			name: "acknowledged writes out of real-time order",
			doctor: func(ev *Evidence) {
				ev.Writes[0].Version, ev.Writes[1].Version = 3, 2
				ev.Kept[2], ev.Kept[3] = markerName(2), markerName(1)
				ev.Reads = nil
			},
			fails:  []string{InvAckedWrites, InvLinearizable},
			detail: "was acknowledged before",
		},
		{
			name:   "cluster ends below an acknowledged version",
			doctor: func(ev *Evidence) { ev.Kept, ev.KeptFromHistory = map[uint64]string{3: markerName(2)}, false },
			fails:  []string{InvAckedWrites},
			detail: "below acknowledged version",
		},
		{
			name: "non-convergence",
			doctor: func(ev *Evidence) {
				ev.Final = FinalConvergence{Took: 12 * time.Second, Versions: map[string]uint64{"node1": 5, "node2": 5, "node3": 3}}
			},
			fails:  []string{InvConvergence},
			detail: "node3=3",
		},
		{
			name:   "slow convergence",
			doctor: func(ev *Evidence) { ev.Final.Took = 2500 * ms },
			fails:  []string{InvConvergence},
			detail: "too late",
		},
		{
			name:   "excess admissions",
			doctor: func(ev *Evidence) { ev.Windows = append(ev.Windows, AdmitWindow{Admitted: 111}) },
			fails:  []string{InvRateLimit},
			detail: "111 admitted",
		},
		{
			name: "request error away from any kill",
			doctor: func(ev *Evidence) {
				ev.Failures = append(ev.Failures, Failure{Start: 8 * time.Second, End: 8*time.Second + 3*ms, Node: 1, Cause: "http 502"})
			},
			fails:  []string{InvRequestErrors},
			detail: "http 502 on node #2",
		},
		{
			name: "request error on another node than the one killed",
			doctor: func(ev *Evidence) {
				ev.Failures = append(ev.Failures, Failure{Start: 4990 * ms, End: 5000 * ms, Node: 2, Cause: "EOF"})
			},
			fails:  []string{InvRequestErrors},
			detail: "EOF on node #3",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := cleanEvidence()
			tt.doctor(ev)
			got := verdicts(Check(ev))
			for name, inv := range got {
				want := VerdictPass
				for _, f := range tt.fails {
					if f == name {
						want = VerdictFail
					}
				}
				if inv.Verdict != want {
					t.Errorf("%s: got %s, want %s (%s)", name, inv.Verdict, want, inv.Detail)
				}
			}
			if d := got[tt.fails[0]].Detail; !strings.Contains(d, tt.detail) {
				t.Errorf("%s detail %q does not mention %q", tt.fails[0], d, tt.detail)
			}
		})
	}
}

func TestCheckSkipsRateLimitWithoutLimitedRoute(t *testing.T) {
	ev := cleanEvidence()
	ev.RateLimit, ev.Windows = 0, nil
	if inv := verdicts(Check(ev))[InvRateLimit]; inv.Verdict != VerdictSkipped {
		t.Fatalf("rate limit without a limited route: %s (%s)", inv.Verdict, inv.Detail)
	}
}

func TestCheckAllowsStaleReadButNotFutureRead(t *testing.T) {
	ev := cleanEvidence()
	// A read of version 5 before the write that made it was even sent.
	ev.Reads = append(ev.Reads, ReadRecord{Node: "node2", Call: 300 * ms, Return: 310 * ms, Version: 5, Marker: markerName(5)})
	if inv := verdicts(Check(ev))[InvLinearizable]; inv.Verdict != VerdictFail {
		t.Fatalf("read from the future: %s (%s)", inv.Verdict, inv.Detail)
	}
}

func TestCheckConsistentReadMustSeeLatest(t *testing.T) {
	ev := cleanEvidence()
	// Linearizable reads after version 3 was acknowledged that return 2.
	ev.Reads = append(ev.Reads, ReadRecord{Node: "node3", Call: 270 * ms, Return: 280 * ms, Version: 2, Marker: markerName(1), Consistent: true})
	if inv := verdicts(Check(ev))[InvLinearizable]; inv.Verdict != VerdictFail {
		t.Fatalf("stale consistent read: %s (%s)", inv.Verdict, inv.Detail)
	}
}

func TestCheckWritesVisualizationWhenNotLinearizable(t *testing.T) {
	ev := cleanEvidence()
	ev.Reads = append(ev.Reads, ReadRecord{Node: "node3", Call: 270 * ms, Return: 280 * ms, Version: 2, Marker: markerName(1), Consistent: true})
	ev.VisualizeTo = t.TempDir() + "/lin.html"
	inv := verdicts(Check(ev))[InvLinearizable]
	if inv.Verdict != VerdictFail || !strings.Contains(inv.Detail, ev.VisualizeTo) {
		t.Fatalf("%s: %s", inv.Verdict, inv.Detail)
	}
	if _, err := os.Stat(ev.VisualizeTo); err != nil {
		t.Fatal(err)
	}
}

// TestCheckRateLimitWhileCutOff: a window overlapping a partition (or its
// settling time) is held to (1 + 1/N) × the bound, other windows to the
// bound; failures on a paused node during its pause are excused.
func TestCheckRateLimitWhileCutOff(t *testing.T) {
	ev := cleanEvidence()
	ev.Nodes = 3
	ev.Started = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return ev.Started.Add(time.Duration(s) * time.Second) }
	ev.Isolations = []Span{{From: 10 * time.Second, To: 15 * time.Second}}
	ev.Paused = map[int][]Span{2: {{From: 20 * time.Second, To: 22 * time.Second}}}
	ev.Failures = append(ev.Failures, Failure{Start: 21 * time.Second, End: 23 * time.Second, Node: 2, Cause: "timeout"})
	ev.Windows = []AdmitWindow{{Start: at(9), Admitted: 110}, {Start: at(12), Admitted: 146}, {Start: at(16), Admitted: 146}}
	got := verdicts(Check(ev))
	if inv := got[InvRateLimit]; inv.Verdict != VerdictPass {
		t.Errorf("rate limit: %s: %s", inv.Verdict, inv.Detail)
	}
	if inv := got[InvRequestErrors]; inv.Verdict != VerdictPass {
		t.Errorf("request errors: %s: %s", inv.Verdict, inv.Detail)
	}
	ev.Windows = append(ev.Windows, AdmitWindow{Start: at(18), Admitted: 111}, AdmitWindow{Start: at(13), Admitted: 147})
	inv := verdicts(Check(ev))[InvRateLimit]
	if inv.Verdict != VerdictFail || !strings.Contains(inv.Detail, "111 admitted") || !strings.Contains(inv.Detail, "147 admitted") {
		t.Errorf("excess not caught: %s: %s", inv.Verdict, inv.Detail)
	}
}
