package cluster

import (
	"encoding/json"
	"net"
	"slices"
	"sort"
	"strconv"
	"sync"

	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/raft"
)

// gossipMember is what this node last heard about a peer.
type gossipMember struct {
	Name   string
	Addr   string // gossip host:port
	State  memberlist.NodeStateType
	Meta   nodeMeta
	HasMet bool            // Meta was decoded
	node   memberlist.Node // a copy, for addressing messages
}

// memberTable remembers every member ever seen, including dead and left
// ones. It is fed only by memberlist's event callbacks, which run under
// memberlist's lock: the *memberlist.Node pointers from Members() are
// mutated by memberlist concurrently and must not be read outside it.
type memberTable struct {
	mu sync.Mutex
	m  map[string]gossipMember
}

func newMemberTable() *memberTable { return &memberTable{m: map[string]gossipMember{}} }

func (t *memberTable) update(n *memberlist.Node) {
	gm := gossipMember{
		Name:  n.Name,
		Addr:  net.JoinHostPort(n.Addr.String(), strconv.Itoa(int(n.Port))),
		State: n.State,
		node:  memberlist.Node{Name: n.Name, Addr: slices.Clone(n.Addr), Port: n.Port},
	}
	if json.Unmarshal(n.Meta, &gm.Meta) == nil && gm.Meta.ID != "" {
		gm.HasMet = true
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if old, ok := t.m[n.Name]; ok && !gm.HasMet {
		gm.Meta, gm.HasMet = old.Meta, old.HasMet
	}
	t.m[n.Name] = gm
}

// snapshot returns all known members sorted by name.
func (t *memberTable) snapshot() []gossipMember {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]gossipMember, 0, len(t.m))
	for _, gm := range t.m {
		out = append(out, gm)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// countAlive returns how many members other than self gossip considers
// alive, without copying the table.
func (t *memberTable) countAlive(self string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	count := 0
	for name, gm := range t.m {
		if name != self && gm.State == memberlist.StateAlive {
			count++
		}
	}
	return count
}

// aliveMembers returns the members gossip currently considers alive and
// whose metadata is known.
func (n *Node) aliveMembers() []gossipMember {
	var out []gossipMember
	for _, gm := range n.members.snapshot() {
		if gm.State == memberlist.StateAlive && gm.HasMet && gm.Meta.Raft != "" {
			out = append(out, gm)
		}
	}
	return out
}

func stateName(s memberlist.NodeStateType) string {
	switch s {
	case memberlist.StateAlive:
		return "alive"
	case memberlist.StateSuspect:
		return "suspect"
	case memberlist.StateDead:
		return "dead"
	case memberlist.StateLeft:
		return "left"
	}
	return "unknown"
}

// LivePeers returns how many other members gossip considers alive. The
// rate limiter divides limits by it when cut off from its peers.
//
// The rate limiter calls it every sync tick (25 ms), so it counts under
// the table's lock instead of copying and sorting a snapshot.
func (n *Node) LivePeers() int {
	return n.members.countAlive(n.cfg.NodeID)
}

// Voters returns how many voters the latest Raft configuration holds,
// this node included when it is one; 0 before Start or before any
// configuration is known.
// The rate limiter uses it to tell whether it sees a majority of the
// cluster. It does not wait on the Raft loop.
func (n *Node) Voters() int {
	r := n.started.Load()
	if r == nil {
		return 0
	}
	f := r.GetConfiguration()
	if f.Error() != nil {
		return 0
	}
	count := 0
	for _, s := range f.Configuration().Servers {
		if s.Suffrage == raft.Voter {
			count++
		}
	}
	return count
}
