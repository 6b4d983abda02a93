package chaos

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"time"

	"github.com/anishathalye/porcupine"
)

// The config version register, as porcupine sees it. A write appends a
// marker and, when acknowledged, returns the version it got: one more
// than the version before it. A read returns a version and the marker it
// holds. A consistent read (?consistent=true) must return the latest
// version. A local read is served from the node's applied config, so it
// may be stale by design: it is legal when it returns a version already
// written, holding that version's marker, never a version from the future
// nor another write's marker.

type regInput struct {
	Write      bool
	Marker     string // the write's marker
	Consistent bool   // a read that must see the latest version
}

type regOutput struct {
	Known   bool // false: an unacknowledged write, outcome unknown
	Version uint64
	Marker  string // the read's marker
}

// regState is the history of markers: Markers[k] holds version Base+k.
type regState struct {
	Base    uint64
	Markers []string
}

func registerModel(base uint64, marker string) porcupine.Model {
	return porcupine.Model{
		Init: func() any { return regState{Base: base, Markers: []string{marker}} },
		Step: func(st, in, out any) (bool, any) {
			s, i, o := st.(regState), in.(regInput), out.(regOutput)
			top := s.Base + uint64(len(s.Markers)) - 1
			if i.Write {
				if o.Known && o.Version != top+1 {
					return false, s
				}
				next := regState{Base: s.Base, Markers: append(slices.Clip(s.Markers), i.Marker)}
				return true, next
			}
			ok := o.Version >= s.Base && o.Version <= top && s.Markers[o.Version-s.Base] == o.Marker
			return ok && (!i.Consistent || o.Version == top), s
		},
		Equal: func(a, b any) bool {
			x, y := a.(regState), b.(regState)
			return x.Base == y.Base && slices.Equal(x.Markers, y.Markers)
		},
		DescribeOperation: func(in, out any) string {
			i, o := in.(regInput), out.(regOutput)
			switch {
			case i.Write && !o.Known:
				return fmt.Sprintf("write(%s) → ?", i.Marker)
			case i.Write:
				return fmt.Sprintf("write(%s) → v%d", i.Marker, o.Version)
			}
			if i.Consistent {
				return fmt.Sprintf("consistent read() → v%d %s", o.Version, o.Marker)
			}
			return fmt.Sprintf("read() → v%d %s", o.Version, o.Marker)
		},
		DescribeState: func(st any) string {
			s := st.(regState)
			return fmt.Sprintf("v%d %s", s.Base+uint64(len(s.Markers))-1, s.Markers[len(s.Markers)-1])
		},
	}
}

// resolveUnknown settles what it can about unacknowledged writes, to keep
// porcupine's search small. Markers are unique, so an unacknowledged
// write whose marker a read or the history shows at version v took effect
// as version v. Every write that took effect holds one version, so when
// acknowledged and settled writes already hold every version up to the
// last one seen, the remaining unacknowledged writes took no effect.
func resolveUnknown(ev *Evidence) []WriteRecord {
	seen := map[string]uint64{}
	top := ev.BaseVersion
	for _, r := range ev.Reads {
		seen[r.Marker] = r.Version
		top = max(top, r.Version)
	}
	for v, m := range ev.Kept {
		seen[m] = v
		top = max(top, v)
	}
	writes := slices.Clone(ev.Writes)
	held := 0
	for i, w := range writes {
		if w.Acked {
			held++
			top = max(top, w.Version)
		} else if v, ok := seen[w.Marker]; ok && !w.NotApplied {
			writes[i].Version = v
			held++
		}
	}
	if uint64(held) >= top-ev.BaseVersion {
		for i, w := range writes {
			if !w.Acked && w.Version == 0 {
				writes[i].NotApplied = true
			}
		}
	}
	return writes
}

// operations turns the evidence into porcupine operations. Writes that
// certainly had no effect are left out; other unacknowledged writes may
// take effect at any time after they were sent (with the version they
// were seen at, when resolveUnknown found one).
func operations(ev *Evidence) []porcupine.Operation {
	var ops []porcupine.Operation
	for _, w := range resolveUnknown(ev) {
		if w.NotApplied {
			continue
		}
		ret := int64(w.Return)
		if !w.Acked {
			// May have taken effect at any time, or never: after
			// everything else is as good as never.
			ret = math.MaxInt64 - 1
		}
		ops = append(ops, porcupine.Operation{ClientId: 0, Input: regInput{Write: true, Marker: w.Marker},
			Call: int64(w.Call), Output: regOutput{Known: w.Version != 0, Version: w.Version}, Return: ret})
	}
	for _, r := range ev.Reads {
		ops = append(ops, porcupine.Operation{ClientId: 1, Input: regInput{Consistent: r.Consistent},
			Call: int64(r.Call), Output: regOutput{Known: true, Version: r.Version, Marker: r.Marker}, Return: int64(r.Return)})
	}
	// Versions the cluster kept are reads at the very end.
	end := int64(math.MaxInt64/2) + 1
	for _, v := range slices.Sorted(maps.Keys(ev.Kept)) {
		if v < ev.BaseVersion {
			continue // before the run (a seed config)
		}
		ops = append(ops, porcupine.Operation{ClientId: 2, Input: regInput{},
			Call: end, Output: regOutput{Known: true, Version: v, Marker: ev.Kept[v]}, Return: end + 1})
		end += 2
	}
	return ops
}

// checkLinearizable runs porcupine over the version register.
func checkLinearizable(ev *Evidence) Invariant {
	ops := operations(ev)
	model := registerModel(ev.BaseVersion, ev.BaseMarker)
	res, info := porcupine.CheckOperationsVerbose(model, ops, 30*time.Second)
	switch res {
	case porcupine.Ok:
		return pass(InvLinearizable, "%d operations (writes, reads and kept versions) linearize", len(ops))
	case porcupine.Illegal:
		d := fmt.Sprintf("%d operations admit no linearization: a version was lost, reused or seen out of order", len(ops))
		if ev.VisualizeTo != "" {
			if err := porcupine.VisualizePath(model, info, ev.VisualizeTo); err == nil {
				d += "; see " + ev.VisualizeTo
			}
		}
		return Invariant{Name: InvLinearizable, Verdict: VerdictFail, Detail: d}
	}
	return Invariant{Name: InvLinearizable, Verdict: VerdictInconclusive, Detail: "porcupine timed out after 30s"}
}
