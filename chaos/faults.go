package chaos

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"
)

// FaultEvent is one action the harness took against a node.
type FaultEvent struct {
	At      time.Duration `json:"at"`
	Episode int           `json:"episode"`
	Kind    FaultKind     `json:"kind"`
	// Action is kill, revive, pause, resume, restart (SIGTERM sent),
	// started (running again), partition, heal or skipped.
	Action    string `json:"action"`
	Node      string `json:"node,omitempty"`
	Index     int    `json:"index"`
	WasLeader bool   `json:"was_leader,omitempty"`
	Detail    string `json:"detail,omitempty"`
	Error     string `json:"error,omitempty"`
}

// injector plays a schedule against a target.
type injector struct {
	target Target
	nodes  []Node
	load   *loadGen
	writes *writer
	client *adminClient
	start  time.Time
	seed   int64
	log    *slog.Logger

	mu     sync.Mutex
	events []FaultEvent
	active string // what is being done now, for progress
}

// run plays every episode at its time; it returns when the last episode
// has recovered or ctx ends.
func (in *injector) run(ctx context.Context, s *Schedule) {
	for k, e := range s.Episodes {
		if !sleepUntil(ctx, in.start.Add(e.At)) {
			return
		}
		// Never more than one node down: wait until every node answers.
		if err := in.waitAllUp(ctx, 30*time.Second); err != nil {
			in.log.Warn("episode starts with a node still down", "episode", k, "err", err)
		}
		in.episode(ctx, k, e)
		in.setActive("")
	}
}

func (in *injector) episode(ctx context.Context, k int, e Episode) {
	switch e.Kind {
	case FaultKill:
		i, lead := in.resolve(ctx, e.Node)
		in.act(k, e.Kind, "kill", i, lead, in.target.Kill(ctx, i))
		in.hold(ctx, e.Hold)
		in.recover(ctx, k, e.Kind, "revive", i, false, in.target.Revive)
	case FaultPause:
		i, lead := in.resolve(ctx, e.Node)
		in.act(k, e.Kind, "pause", i, lead, in.target.Pause(ctx, i))
		in.hold(ctx, e.Hold)
		in.recover(ctx, k, e.Kind, "resume", i, false, in.target.Resume)
	case FaultRestart:
		i, lead := in.resolve(ctx, e.Node)
		in.act(k, e.Kind, "restart", i, lead, nil)
		in.recover(ctx, k, e.Kind, "started", i, false, in.target.Restart)
	case FaultPartition:
		in.partition(ctx, k, e)
	case FaultLeaderWrite:
		in.leaderWrite(ctx, k, e)
	}
}

func (in *injector) partition(ctx context.Context, k int, e Episode) {
	i, lead := in.resolve(ctx, e.Node)
	if ok, why := in.target.PartitionSupport(); !ok {
		in.record(FaultEvent{Episode: k, Kind: e.Kind, Action: "skipped", Index: i, Node: in.nodes[i].ID, Detail: why})
		return
	}
	hides := in.target.PartitionHidesNode()
	if hides {
		in.load.hide(i, true)
	}
	in.act(k, e.Kind, "partition", i, lead, in.target.Partition(ctx, i))
	in.hold(ctx, e.Hold)
	in.recover(ctx, k, e.Kind, "heal", i, false, in.target.Heal)
	if hides {
		in.load.hide(i, false)
	}
}

// leaderWrite sends a write through a random node and kills the leader
// e.Delay later, while the write is in flight.
func (in *injector) leaderWrite(ctx context.Context, k int, e Episode) {
	i, lead := in.resolve(ctx, LeaderNode)
	rng := rand.New(rand.NewPCG(uint64(in.seed), uint64(k)))
	via := rng.IntN(len(in.nodes))
	done := make(chan WriteRecord, 1)
	go func() { done <- in.writes.write(ctx, via, true) }()
	in.hold(ctx, e.Delay)
	in.act(k, e.Kind, "kill", i, lead, in.target.Kill(ctx, i))
	in.mu.Lock()
	in.events[len(in.events)-1].Detail = fmt.Sprintf("%s after sending a write through %s", e.Delay, in.nodes[via].ID)
	in.mu.Unlock()
	in.hold(ctx, e.Hold)
	in.recover(ctx, k, e.Kind, "revive", i, false, in.target.Revive)
	<-done
}

// resolve turns an episode's node into an index, finding the leader when
// asked for; it reports whether the node is the leader.
func (in *injector) resolve(ctx context.Context, node int) (int, bool) {
	var leader string
	_ = pollUntil(ctx, 10*time.Second, 100*time.Millisecond, func() bool {
		leader = majorityLeader(ctx, in.client, in.nodes)
		return leader != ""
	})
	idx := -1
	for j, n := range in.nodes {
		if n.ID == leader {
			idx = j
		}
	}
	switch node {
	case LeaderNode:
		if idx < 0 {
			in.log.Warn("no leader to hit; hitting the first node")
			return 0, false
		}
		return idx, true
	case FollowerNode:
		if idx == 0 {
			return 1 % len(in.nodes), false
		}
		return 0, false
	}
	return node % len(in.nodes), node%len(in.nodes) == idx
}

// majorityLeader returns the leader named by a majority of all nodes.
func majorityLeader(ctx context.Context, c *adminClient, nodes []Node) string {
	votes := map[string]int{}
	for _, n := range nodes {
		if s, err := c.status(ctx, n, time.Second); err == nil && s.LeaderID != "" {
			votes[s.LeaderID]++
		}
	}
	for id, v := range votes {
		if v > len(nodes)/2 {
			return id
		}
	}
	return ""
}

func (in *injector) act(k int, kind FaultKind, action string, i int, lead bool, err error) {
	ev := FaultEvent{Episode: k, Kind: kind, Action: action, Index: i, Node: in.nodes[i].ID, WasLeader: lead}
	if err != nil {
		ev.Error = err.Error()
	}
	in.record(ev)
	in.setActive(fmt.Sprintf("%s %s", action, in.nodes[i].ID))
}

// recover runs a recovery action, records it, and waits for the node to
// answer again.
func (in *injector) recover(ctx context.Context, k int, kind FaultKind, action string, i int, lead bool, fn func(context.Context, int) error) {
	err := fn(ctx, i)
	ev := FaultEvent{Episode: k, Kind: kind, Action: action, Index: i, Node: in.nodes[i].ID, WasLeader: lead}
	if err != nil {
		ev.Error = err.Error()
	}
	in.record(ev)
	in.setActive(fmt.Sprintf("%s %s", action, in.nodes[i].ID))
	if err := pollUntil(ctx, 30*time.Second, 50*time.Millisecond, func() bool { return in.client.healthy(ctx, in.nodes[i]) }); err != nil {
		in.log.Warn("node did not come back", "node", in.nodes[i].ID, "err", err)
	}
}

func (in *injector) record(ev FaultEvent) {
	ev.At = time.Since(in.start)
	in.mu.Lock()
	in.events = append(in.events, ev)
	in.mu.Unlock()
	in.log.Info("fault", "at", ev.At.Round(time.Millisecond), "kind", ev.Kind, "action", ev.Action, "node", ev.Node, "err", ev.Error)
}

func (in *injector) setActive(s string) {
	in.mu.Lock()
	in.active = s
	in.mu.Unlock()
}

// status returns what the injector is doing and the events so far.
func (in *injector) status() (string, []FaultEvent) {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.active, append([]FaultEvent(nil), in.events...)
}

func (in *injector) hold(ctx context.Context, d time.Duration) {
	sleepUntil(ctx, time.Now().Add(d))
}

func (in *injector) waitAllUp(ctx context.Context, d time.Duration) error {
	return pollUntil(ctx, d, 100*time.Millisecond, func() bool {
		for _, n := range in.nodes {
			if !in.client.healthy(ctx, n) {
				return false
			}
		}
		return true
	})
}

// sleepUntil waits until t; false when ctx ended first.
func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return true
	case <-ctx.Done():
		return false
	}
}
