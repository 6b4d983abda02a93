package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/raft"
)

// ErrUnknownMember means a member id is not in the Raft configuration.
// (Kept beside RemoveMember rather than in config.go's error block, which
// another change owns.)
var ErrUnknownMember = errors.New("not a raft member")

// RemoveMember removes the server id from the Raft configuration, on the
// leader (a follower forwards the request). It is meant for nodes that
// are gone for good: the leader re-adds any member gossip still sees as
// alive. Removing an id that is not a Raft member fails with
// ErrUnknownMember.
func (n *Node) RemoveMember(ctx context.Context, id string) error {
	_, err := n.onLeader(ctx, forwardRequest{Op: opRemoveServer, ID: id}, func(timeout time.Duration) (uint64, error) {
		return 0, n.removeLocal(id, timeout)
	})
	if err != nil {
		return fmt.Errorf("remove member %s: %w", id, err)
	}
	return nil
}

// removeLocal removes id on this node, which must be the leader.
func (n *Node) removeLocal(id string, timeout time.Duration) error {
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return leaderError(err)
	}
	found := false
	for _, s := range f.Configuration().Servers {
		found = found || s.ID == raft.ServerID(id)
	}
	if !found {
		return fmt.Errorf("%w: %q", ErrUnknownMember, id)
	}
	n.log.Info("removing raft server on request", "id", id)
	if err := n.await(n.raft.RemoveServer(raft.ServerID(id), 0, timeout)); err != nil {
		return leaderError(err)
	}
	return nil
}

// gone records that a member left or failed. memberlist calls NotifyLeave
// for both without updating node.State (it tracks the state elsewhere), so
// the state is set here: without it a stopped node would look alive
// forever, and the leader would re-add it after RemoveMember.
func (t *memberTable) gone(n *memberlist.Node) {
	c := *n
	if c.State == memberlist.StateAlive || c.State == memberlist.StateSuspect {
		c.State = memberlist.StateDead
	}
	t.update(&c)
}
