package cluster

import (
	"strconv"
	"time"

	"github.com/hashicorp/raft"
)

// Status describes the cluster as this node sees it.
type Status struct {
	NodeID       string   `json:"node_id"`
	State        string   `json:"state"`
	Term         uint64   `json:"term"`
	LeaderID     string   `json:"leader_id"`
	LeaderAddr   string   `json:"leader_addr"`
	LastIndex    uint64   `json:"last_index"`
	CommitIndex  uint64   `json:"commit_index"`
	AppliedIndex uint64   `json:"applied_index"`
	Members      []Member `json:"members"`
}

// Member is one node known to Raft, to gossip, or to both.
type Member struct {
	ID         string `json:"id"`
	RaftAddr   string `json:"raft_addr,omitempty"`
	GossipAddr string `json:"gossip_addr,omitempty"`
	AdminAddr  string `json:"admin_addr,omitempty"`
	// Suffrage is "voter", "nonvoter", "staging" or "none" (not in Raft).
	Suffrage string `json:"suffrage"`
	// Gossip is "alive", "dead", "left" or "unknown" (not seen by gossip).
	Gossip string `json:"gossip"`
	// ConfigVersion is the config version the member reports serving.
	ConfigVersion uint64 `json:"config_version"`
	Leader        bool   `json:"leader,omitempty"`
}

// Status returns this node's view of the cluster.
func (n *Node) Status() Status {
	leaderAddr, leaderID := n.raft.LeaderWithID()
	stats := n.raft.Stats()
	st := Status{
		NodeID:       n.cfg.NodeID,
		State:        n.raft.State().String(),
		Term:         parseU64(stats["term"]),
		LeaderID:     string(leaderID),
		LeaderAddr:   string(leaderAddr),
		LastIndex:    n.raft.LastIndex(),
		CommitIndex:  parseU64(stats["commit_index"]),
		AppliedIndex: n.cfg.AppliedIndex(),
	}
	byID := map[string]*Member{}
	var order []string
	get := func(id string) *Member {
		if m, ok := byID[id]; ok {
			return m
		}
		byID[id] = &Member{ID: id, Suffrage: "none", Gossip: "unknown"}
		order = append(order, id)
		return byID[id]
	}
	if f := n.raft.GetConfiguration(); f.Error() == nil {
		for _, s := range f.Configuration().Servers {
			m := get(string(s.ID))
			m.RaftAddr = string(s.Address)
			m.Suffrage = suffrageName(s.Suffrage)
		}
	}
	for _, gm := range n.members.snapshot() {
		m := get(gm.Name)
		m.GossipAddr = gm.Addr
		m.Gossip = stateName(gm.State)
		if gm.HasMet {
			m.AdminAddr = gm.Meta.Admin
			m.ConfigVersion = gm.Meta.Version
			if m.RaftAddr == "" {
				m.RaftAddr = gm.Meta.Raft
			}
		}
	}
	self := get(n.cfg.NodeID)
	self.ConfigVersion = n.servedVersion.Load()
	for _, id := range order {
		m := byID[id]
		m.Leader = id == st.LeaderID
		st.Members = append(st.Members, *m)
	}
	return st
}

func suffrageName(s raft.ServerSuffrage) string {
	switch s {
	case raft.Voter:
		return "voter"
	case raft.Nonvoter:
		return "nonvoter"
	case raft.Staging:
		return "staging"
	}
	return "none"
}

func parseU64(s string) uint64 {
	v, _ := strconv.ParseUint(s, 10, 64)
	return v
}

// LastContact is when this node last heard from the leader (the zero
// time if never; now on the leader itself).
func (n *Node) LastContact() time.Time {
	if n.raft.State() == raft.Leader {
		return time.Now()
	}
	return n.raft.LastContact()
}
