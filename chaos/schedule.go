package chaos

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
)

// Episode.Node values that name a role rather than an index.
const (
	// LeaderNode is whichever node leads when the episode starts.
	LeaderNode = -1
	// FollowerNode is the first node (by index) that does not lead then.
	FollowerNode = -2
)

// Episode is one fault: injected at At (from the start of the run), held
// for Hold, then recovered. Episodes never overlap, so at most one node is
// down at a time: a minority for any cluster of three or more.
type Episode struct {
	Kind FaultKind `json:"kind"`
	// Node is the index of the node to hit, or LeaderNode.
	Node int `json:"node"`
	// At is when the fault starts, from the start of the run.
	At time.Duration `json:"at"`
	// Hold is how long the fault lasts before recovery.
	Hold time.Duration `json:"hold"`
	// Delay is, for leader-write, how long after sending the write the
	// leader is killed.
	Delay time.Duration `json:"delay,omitempty"`
}

// Schedule is the seeded list of episodes of a run.
type Schedule struct {
	Seed     int64         `json:"seed"`
	Duration time.Duration `json:"duration"`
	// Warmup is load without faults at the start.
	Warmup time.Duration `json:"warmup"`
	// FaultsEnd is when the last episode must have recovered; the rest of
	// the run measures convergence under load without faults.
	FaultsEnd time.Duration `json:"faults_end"`
	Episodes  []Episode     `json:"episodes"`
}

// NewSchedule draws a fault schedule from seed. It depends only on its
// arguments, so the same arguments replay the same schedule exactly.
func NewSchedule(seed int64, duration time.Duration, nodes int, faults []FaultKind) *Schedule {
	rng := rand.New(rand.NewPCG(uint64(seed), 0x7011_6a7e_c4a0_5eed))
	s := &Schedule{
		Seed:      seed,
		Duration:  duration,
		Warmup:    clampDur(duration/10, 2*time.Second, 5*time.Second).Round(time.Millisecond),
		FaultsEnd: (duration - clampDur(duration/6, 3*time.Second, 10*time.Second)).Round(time.Millisecond),
	}
	if len(faults) == 0 || nodes < 1 {
		return s
	}
	t := s.Warmup
	for {
		e := drawEpisode(rng, faults, nodes)
		e.At = t
		// Leave time for a killed node to be restarted and answer.
		if t+e.Hold+time.Second > s.FaultsEnd {
			return s
		}
		s.Episodes = append(s.Episodes, e)
		t += e.Hold + randDur(rng, 1500*time.Millisecond, 3*time.Second)
	}
}

func drawEpisode(rng *rand.Rand, faults []FaultKind, nodes int) Episode {
	e := Episode{Kind: faults[rng.IntN(len(faults))]}
	// One draw in nodes+1 names the leader explicitly; the others name a
	// node by index, which may be the leader too.
	e.Node = rng.IntN(nodes+1) - 1
	switch e.Kind {
	case FaultKill, FaultPartition:
		e.Hold = randDur(rng, 2*time.Second, 5*time.Second)
	case FaultPause:
		e.Hold = randDur(rng, 1*time.Second, 4*time.Second)
	case FaultRestart:
		e.Hold = 0
	case FaultLeaderWrite:
		e.Node = LeaderNode
		e.Hold = randDur(rng, 2*time.Second, 4*time.Second)
		e.Delay = randDur(rng, 0, 20*time.Millisecond)
	}
	return e
}

// randDur draws a duration in [lo, hi), rounded to milliseconds.
func randDur(rng *rand.Rand, lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return lo
	}
	d := lo + time.Duration(rng.Int64N(int64(hi-lo)))
	return d.Round(time.Millisecond)
}

func clampDur(d, lo, hi time.Duration) time.Duration {
	return max(lo, min(d, hi))
}

// String lists the schedule one episode a line.
func (s *Schedule) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "seed %d: %d episodes, faults end at %s\n", s.Seed, len(s.Episodes), s.FaultsEnd)
	for _, e := range s.Episodes {
		fmt.Fprintf(&b, "  %7s  %-12s %-7s hold %s\n", e.At, e.Kind, nodeLabel(e.Node), e.Hold)
	}
	return b.String()
}

func nodeLabel(i int) string {
	switch i {
	case LeaderNode:
		return "leader"
	case FollowerNode:
		return "follower"
	}
	return fmt.Sprintf("#%d", i+1)
}

// ParsePlan reads an explicit schedule: comma-separated episodes written
// kind:node@at[+hold][~delay], where node is leader, follower or a node
// number from 1, at and hold are Go durations from the start of the run,
// and delay is leader-write's time between the write and the kill. For
// example "kill:leader@5s+4s,partition:follower@13s+4s,restart:2@21s".
func ParsePlan(plan string, duration time.Duration) (*Schedule, error) {
	s := &Schedule{Duration: duration, Warmup: clampDur(duration/10, 2*time.Second, 5*time.Second),
		FaultsEnd: (duration - clampDur(duration/6, 3*time.Second, 10*time.Second)).Round(time.Millisecond)}
	for _, item := range strings.Split(plan, ",") {
		if item = strings.TrimSpace(item); item == "" {
			continue
		}
		e, err := parseEpisode(item)
		if err != nil {
			return nil, fmt.Errorf("%w: plan %q: %w", errBadConfig, item, err)
		}
		if end := e.At + e.Hold; end > s.FaultsEnd {
			s.FaultsEnd = min(end+time.Second, duration)
		}
		s.Episodes = append(s.Episodes, e)
	}
	return s, nil
}

func parseEpisode(item string) (Episode, error) {
	var e Episode
	kind, rest, ok := strings.Cut(item, ":")
	node, when, ok2 := strings.Cut(rest, "@")
	if !ok || !ok2 {
		return e, fmt.Errorf("want kind:node@at[+hold][~delay]")
	}
	faults, err := ParseFaults(kind)
	if err != nil || len(faults) != 1 {
		return e, fmt.Errorf("fault kind %q: %w", kind, err)
	}
	e.Kind = faults[0]
	switch node {
	case "leader":
		e.Node = LeaderNode
	case "follower":
		e.Node = FollowerNode
	default:
		n, err := strconv.Atoi(node)
		if err != nil || n < 1 {
			return e, fmt.Errorf("node %q: want leader, follower or a number from 1", node)
		}
		e.Node = n - 1
	}
	when, delay, hasDelay := strings.Cut(when, "~")
	at, hold, hasHold := strings.Cut(when, "+")
	if e.At, err = time.ParseDuration(at); err != nil {
		return e, err
	}
	if hasHold {
		if e.Hold, err = time.ParseDuration(hold); err != nil {
			return e, err
		}
	}
	if hasDelay {
		if e.Delay, err = time.ParseDuration(delay); err != nil {
			return e, err
		}
	}
	return e, nil
}
