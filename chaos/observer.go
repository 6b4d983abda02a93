package chaos

import (
	"context"
	"sync"
	"time"
)

// observer polls every node's /v1/cluster to follow the leader and the
// config version each node serves.
type observer struct {
	nodes    []Node
	client   *adminClient
	start    time.Time
	interval time.Duration

	mu      sync.Mutex
	rounds  []round
	latest  []nodeSample // last answer of each node
	changes [][]versionChange
}

// round is one poll of every node.
type round struct {
	At     time.Duration
	Leader string // named by a majority of all nodes, or ""
	Up     int    // nodes that answered
}

type nodeSample struct {
	At      time.Duration
	OK      bool
	Leader  string
	State   string
	Version uint64
}

// versionChange is when a node was first seen serving a version.
type versionChange struct {
	At      time.Duration
	Version uint64
}

func newObserver(nodes []Node, token string, start time.Time) *observer {
	return &observer{nodes: nodes, client: newAdminClient(token), start: start, interval: 100 * time.Millisecond,
		latest: make([]nodeSample, len(nodes)), changes: make([][]versionChange, len(nodes))}
}

// run polls until ctx ends.
func (o *observer) run(ctx context.Context) {
	defer o.client.close()
	tick := time.NewTicker(o.interval)
	defer tick.Stop()
	for {
		o.poll(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// poll asks every node at once and records the round.
func (o *observer) poll(ctx context.Context) {
	samples := make([]nodeSample, len(o.nodes))
	var wg sync.WaitGroup
	for i, n := range o.nodes {
		wg.Go(func() {
			s, err := o.client.status(ctx, n, 400*time.Millisecond)
			samples[i] = nodeSample{At: time.Since(o.start), OK: err == nil, Leader: s.LeaderID, State: s.State, Version: s.version()}
		})
	}
	wg.Wait()
	votes := map[string]int{}
	r := round{At: time.Since(o.start)}
	o.mu.Lock()
	defer o.mu.Unlock()
	for i, s := range samples {
		if !s.OK {
			continue
		}
		r.Up++
		votes[s.Leader]++
		o.latest[i] = s
		ch := o.changes[i]
		if len(ch) == 0 || ch[len(ch)-1].Version != s.Version {
			o.changes[i] = append(ch, versionChange{At: s.At, Version: s.Version})
		}
	}
	for id, v := range votes {
		if id != "" && v > len(o.nodes)/2 {
			r.Leader = id
		}
	}
	o.rounds = append(o.rounds, r)
}

// leader returns the leader a majority named in the latest round.
func (o *observer) leader() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.rounds) == 0 {
		return ""
	}
	return o.rounds[len(o.rounds)-1].Leader
}

// versions returns each node's last seen version (0 if never seen).
func (o *observer) versions() []uint64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make([]uint64, len(o.latest))
	for i, s := range o.latest {
		out[i] = s.Version
	}
	return out
}

// history returns the rounds and every node's version changes.
func (o *observer) history() ([]round, [][]versionChange) {
	o.mu.Lock()
	defer o.mu.Unlock()
	ch := make([][]versionChange, len(o.changes))
	for i, c := range o.changes {
		ch[i] = append([]versionChange(nil), c...)
	}
	return append([]round(nil), o.rounds...), ch
}
