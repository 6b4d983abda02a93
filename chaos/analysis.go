package chaos

import (
	"slices"
	"time"
)

// LeaderChange is a new leader seen by a majority of the nodes.
type LeaderChange struct {
	At   time.Duration `json:"at"`
	From string        `json:"from"`
	To   string        `json:"to"`
	// Failover is the time from the fault that hit the old leader (or,
	// with no such fault, from the last time it was seen leading) to the
	// new leader being known.
	Failover time.Duration `json:"failover"`
	// Cause is the fault that hit the old leader, if any.
	Cause string `json:"cause,omitempty"`
	// WritesBack is the time from that fault to the first acknowledged
	// write sent after it; 0 when none was.
	WritesBack time.Duration `json:"writes_back,omitempty"`
}

// leaderChanges reads leader changes off the observer's rounds and ties
// each to the fault that caused it.
func leaderChanges(rounds []round, events []FaultEvent, writes []WriteRecord) []LeaderChange {
	var out []LeaderChange
	cur := ""
	var since, lastSeen time.Duration // when cur was first and last seen leading
	for _, r := range rounds {
		if r.Leader == "" {
			continue
		}
		if cur != "" && r.Leader != cur {
			c := LeaderChange{At: r.At, From: cur, To: r.Leader, Failover: r.At - lastSeen}
			if ev, ok := faultOn(events, cur, since, r.At); ok {
				c.Failover, c.Cause = r.At-ev.At, describeFault(ev)
				c.WritesBack = writesBackAfter(writes, ev.At)
			}
			out = append(out, c)
		}
		if r.Leader != cur {
			since = r.At
		}
		cur, lastSeen = r.Leader, r.At
	}
	return out
}

// describeFault names a fault action: "kill node1", "leader-write kill node3".
func describeFault(ev FaultEvent) string {
	s := ev.Action + " " + ev.Node
	if string(ev.Kind) != ev.Action {
		s = string(ev.Kind) + " " + s
	}
	return s
}

// faultOn returns the last disruptive fault on node id within [from, to].
func faultOn(events []FaultEvent, id string, from, to time.Duration) (FaultEvent, bool) {
	var found FaultEvent
	ok := false
	for _, ev := range events {
		if ev.Node != id || ev.At < from || ev.At > to {
			continue
		}
		switch ev.Action {
		case "kill", "pause", "partition", "restart":
			found, ok = ev, true
		}
	}
	return found, ok
}

// writesBackAfter is the time from t to the return of the first write
// sent at or after t that was acknowledged.
func writesBackAfter(writes []WriteRecord, t time.Duration) time.Duration {
	best := time.Duration(-1)
	for _, w := range writes {
		if w.Acked && w.Call >= t && (best < 0 || w.Return < best) {
			best = w.Return
		}
	}
	if best < 0 {
		return 0
	}
	return best - t
}

// WriteConvergence is how long after its acknowledgement every node that
// was up served an acknowledged write's version (or a later one).
type WriteConvergence struct {
	Version uint64        `json:"version"`
	Marker  string        `json:"marker"`
	Took    time.Duration `json:"took"`
	Nodes   int           `json:"nodes"`
}

// writeConvergence measures, from the observer's version changes, the
// convergence of each acknowledged write. Nodes hit by a fault around the
// write are left out; a write is left out when a node never got there.
func writeConvergence(writes []WriteRecord, changes [][]versionChange, events []FaultEvent) []WriteConvergence {
	var out []WriteConvergence
	for _, w := range ackedWrites(writes) {
		c := WriteConvergence{Version: w.Version, Marker: w.Marker}
		complete := true
		for i, ch := range changes {
			if faultedNear(events, i, w.Return-time.Second, w.Return+5*time.Second) {
				continue
			}
			at, ok := firstAtLeast(ch, w.Version)
			if !ok {
				complete = false
				break
			}
			c.Took = max(c.Took, at-w.Return)
			c.Nodes++
		}
		if complete && c.Nodes > 0 {
			out = append(out, c)
		}
	}
	return out
}

func faultedNear(events []FaultEvent, node int, from, to time.Duration) bool {
	for _, ev := range events {
		if ev.Index == node && ev.At >= from && ev.At <= to && ev.Action != "skipped" {
			return true
		}
	}
	return false
}

func firstAtLeast(ch []versionChange, v uint64) (time.Duration, bool) {
	for _, c := range ch {
		if c.Version >= v {
			return c.At, true
		}
	}
	return 0, false
}

// cutInstants returns, per node index, when it was killed, or cut off
// from the load generator by a partition that hides it.
func cutInstants(events []FaultEvent, partitionHides bool) map[int][]time.Duration {
	out := map[int][]time.Duration{}
	for _, ev := range events {
		if ev.Error != "" {
			continue
		}
		if ev.Action == "kill" || ev.Action == "partition" && partitionHides {
			out[ev.Index] = append(out[ev.Index], ev.At)
		}
	}
	return out
}

// durationStats returns p50 and max of ds.
func durationStats(ds []time.Duration) (p50, top time.Duration) {
	if len(ds) == 0 {
		return 0, 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return quantile(s, 0.5), s[len(s)-1]
}

// Span is a stretch of a run, relative to its start.
type Span struct {
	From, To time.Duration
}

// faultSpans returns, per node index, the spans from each start action to
// the matching end action (or to end, when the run stopped first).
func faultSpans(events []FaultEvent, start, stop string, end time.Duration) map[int][]Span {
	out := map[int][]Span{}
	open := map[int]time.Duration{}
	for _, ev := range events {
		if ev.Error != "" {
			continue
		}
		switch ev.Action {
		case start:
			open[ev.Index] = ev.At
		case stop:
			if from, ok := open[ev.Index]; ok {
				out[ev.Index] = append(out[ev.Index], Span{from, ev.At})
				delete(open, ev.Index)
			}
		}
	}
	for k, from := range open {
		out[k] = append(out[k], Span{from, end})
	}
	return out
}

// isolationSpans returns the spans in which some node was cut off from
// its peers' gossip: partitioned, or paused.
func isolationSpans(events []FaultEvent, end time.Duration) []Span {
	var out []Span
	for _, m := range []map[int][]Span{
		faultSpans(events, "partition", "heal", end),
		faultSpans(events, "pause", "resume", end),
	} {
		for _, spans := range m {
			out = append(out, spans...)
		}
	}
	return out
}
