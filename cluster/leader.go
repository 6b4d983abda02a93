package cluster

import (
	"time"

	"github.com/hashicorp/raft"
)

// leaderLoop runs membership reconciliation while this node leads: after
// winning an election it issues a Barrier (so the FSM is caught up), then
// adds every alive gossip member missing from the Raft configuration, on
// every membership event and periodically.
func (n *Node) leaderLoop() {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	barrierDone := false
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-n.nudgeLeader:
		case <-tick.C:
		case <-n.raft.LeaderCh():
		}
		if n.raft.State() != raft.Leader {
			barrierDone = false
			continue
		}
		if !barrierDone {
			if err := n.await(n.raft.Barrier(n.cfg.ApplyTimeout)); err != nil {
				n.log.Warn("leader barrier", "err", err)
				continue
			}
			barrierDone = true
		}
		n.reconcile()
	}
}

// reconcile brings the Raft configuration in line with alive gossip
// members. A member that returns with the same id at a new address, or a
// new id at an old address, has the stale entry removed first.
func (n *Node) reconcile() {
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		n.log.Warn("read raft configuration", "err", err)
		return
	}
	servers := f.Configuration().Servers
	for _, m := range n.aliveMembers() {
		id, addr := raft.ServerID(m.Meta.ID), raft.ServerAddress(m.Meta.Raft)
		if hasServer(servers, id, addr) {
			continue
		}
		for _, s := range servers {
			if (s.ID == id || s.Address == addr) && s.ID != raft.ServerID(n.cfg.NodeID) {
				n.log.Info("removing stale raft server", "id", s.ID, "address", s.Address, "replaced_by", id)
				if err := n.await(n.raft.RemoveServer(s.ID, 0, n.cfg.ApplyTimeout)); err != nil {
					n.log.Warn("remove stale server", "id", s.ID, "err", err)
					return
				}
			}
		}
		n.log.Info("adding raft voter", "id", id, "address", addr)
		if err := n.await(n.raft.AddVoter(id, addr, 0, n.cfg.ApplyTimeout)); err != nil {
			n.log.Warn("add voter", "id", id, "err", err)
			return
		}
	}
}

func hasServer(servers []raft.Server, id raft.ServerID, addr raft.ServerAddress) bool {
	for _, s := range servers {
		if s.ID == id && s.Address == addr {
			return true
		}
	}
	return false
}
