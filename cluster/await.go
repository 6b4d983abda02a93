package cluster

import (
	"fmt"

	"github.com/hashicorp/raft"
)

// await waits for a Raft future, or until Close shuts Raft down.
//
// hashicorp/raft never answers a future whose log entry was committed but
// not yet applied by its FSM goroutine when Raft shuts down: Apply,
// Barrier, AddVoter and RemoveServer futures carry no shutdown channel
// (hashicorp/raft#498), and VerifyLeader's is lost in a channel Raft does
// not drain. A bare f.Error() then blocks forever, and Close, which waits
// for the node's loops after shutting Raft down, hangs with it. await
// gives up with ErrClosed only when Close is about to shut Raft down
// (raftStopping): until then Raft answers every future itself, so a write
// it commits while Close hands leadership over is still acknowledged, and
// one it refuses is answered "not the leader", which the sender retries.
func (n *Node) await(f raft.Future) error {
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		return err
	case <-n.raftStopping:
		return fmt.Errorf("waiting on raft: %w", ErrClosed)
	}
}
