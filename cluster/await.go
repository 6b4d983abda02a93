package cluster

import (
	"fmt"

	"github.com/hashicorp/raft"
)

// await waits for a Raft future, or until the node closes.
//
// hashicorp/raft never answers a future whose log entry was committed but
// not yet applied by its FSM goroutine when Raft shuts down: Apply,
// Barrier, AddVoter and RemoveServer futures carry no shutdown channel
// (hashicorp/raft#498). A bare f.Error() then blocks forever, and Close,
// which waits for the node's loops after shutting Raft down, hangs with it.
// await gives up with ErrClosed as soon as Close begins. An entry that
// commits after that is simply not acknowledged.
func (n *Node) await(f raft.Future) error {
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		return err
	case <-n.ctx.Done():
		return fmt.Errorf("waiting on raft: %w", ErrClosed)
	}
}
