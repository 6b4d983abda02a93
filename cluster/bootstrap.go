package cluster

import (
	"errors"
	"sort"
	"time"

	"github.com/hashicorp/raft"
)

// bootstrapLoop forms a brand-new cluster, as Nomad's maybeBootstrap does:
// once BootstrapExpect members with no Raft state are alive in gossip,
// each of them bootstraps Raft with that same set of servers (identical
// configurations are safe). If any peer already belongs to a cluster this
// node does not bootstrap; the leader adds it instead.
func (n *Node) bootstrapLoop() {
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		if n.tryBootstrap() {
			return
		}
		select {
		case <-n.ctx.Done():
			return
		case <-n.nudgeBoot:
		case <-tick.C:
		}
	}
}

// tryBootstrap reports whether bootstrapping is settled (done, or not
// this node's to do).
func (n *Node) tryBootstrap() bool {
	if n.raft.LastIndex() > 0 {
		return true // joined an existing cluster meanwhile
	}
	alive := n.aliveMembers()
	for _, m := range alive {
		if m.Name != n.cfg.NodeID && m.Meta.Bootstrapped {
			n.log.Info("peer already in a cluster; waiting to be added by its leader", "peer", m.Name)
			return true
		}
	}
	if len(alive) < n.cfg.BootstrapExpect {
		return false
	}
	servers := make([]raft.Server, 0, len(alive))
	for _, m := range alive {
		servers = append(servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(m.Meta.ID), Address: raft.ServerAddress(m.Meta.Raft)})
	}
	sort.Slice(servers, func(i, j int) bool { return servers[i].ID < servers[j].ID })
	err := n.raft.BootstrapCluster(raft.Configuration{Servers: servers}).Error()
	if err != nil && !errors.Is(err, raft.ErrCantBootstrap) {
		n.log.Error("bootstrap", "err", err)
		return false
	}
	n.log.Info("bootstrapped cluster", "servers", len(servers))
	return true
}
