package cluster

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/raft"
)

// ConsistentRead returns once this node's FSM reflects every write that
// was committed before the call, so that a read of local state after it
// is linearizable. The leader confirms its leadership with a quorum
// (VerifyLeader) and runs a Barrier, so its FSM has applied everything
// committed; a follower asks the leader for the index that reached and
// waits until it has applied that much itself. Without a leader it fails
// with ErrNoLeader after ApplyTimeout.
func (n *Node) ConsistentRead(ctx context.Context) error {
	index, err := n.onLeader(ctx, forwardRequest{Op: opReadIndex}, n.readIndexLocal)
	if err != nil {
		return fmt.Errorf("consistent read: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, n.cfg.ApplyTimeout)
	defer cancel()
	if err := n.waitApplied(ctx, index); err != nil {
		return fmt.Errorf("consistent read: %w", err)
	}
	return nil
}

// readIndexLocal confirms leadership and returns the FSM's applied index
// once every committed entry is applied. It must run on the leader.
func (n *Node) readIndexLocal(timeout time.Duration) (uint64, error) {
	if err := n.await(n.raft.VerifyLeader()); err != nil {
		return 0, leaderError(err)
	}
	if err := n.await(n.raft.Barrier(timeout)); err != nil {
		return 0, leaderError(err)
	}
	return n.cfg.AppliedIndex(), nil
}

// ReadStaleness says how stale local reads may be: the time since this
// node last heard from the leader (0 on the leader, -1 if never), and
// whether it knows a leader now.
func (n *Node) ReadStaleness() (time.Duration, bool) {
	if n.raft.State() == raft.Leader {
		return 0, true
	}
	addr, _ := n.raft.LeaderWithID()
	last := n.raft.LastContact()
	if last.IsZero() {
		return -1, addr != ""
	}
	return time.Since(last), addr != ""
}
