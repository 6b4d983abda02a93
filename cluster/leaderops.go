package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"
)

// Operations a follower asks the leader for over the forward protocol,
// besides applying a command (forwardRequest.Op).
const (
	// opReadIndex: confirm leadership, make the FSM reflect every
	// committed entry, and answer the FSM's applied index.
	opReadIndex = "read_index"
	// opRemoveServer: remove forwardRequest.ID from the Raft configuration.
	opRemoveServer = "remove_server"
)

// serveOp runs a non-apply forward request on the leader.
func (n *Node) serveOp(req forwardRequest, timeout time.Duration) forwardResponse {
	var (
		index uint64
		err   error
	)
	switch req.Op {
	case opReadIndex:
		index, err = n.readIndexLocal(timeout)
	case opRemoveServer:
		err = n.removeLocal(req.ID, timeout)
	default:
		err = fmt.Errorf("unknown forward op %q", req.Op)
	}
	switch {
	case errors.Is(err, errNotLeader):
		return forwardResponse{NotLeader: true}
	case err != nil:
		return forwardResponse{Error: err.Error()}
	}
	return forwardResponse{Index: index}
}

// onLeader runs local on this node if it leads, or req on the leader
// otherwise, retrying until a leader answers or ApplyTimeout passes. It
// returns the index the leader reported.
func (n *Node) onLeader(ctx context.Context, req forwardRequest, local func(time.Duration) (uint64, error)) (uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, n.cfg.ApplyTimeout)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if n.closed.Load() {
			return 0, ErrClosed
		}
		index, done, err := n.tryOnLeader(ctx, req, local)
		if done {
			return index, err
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return 0, fmt.Errorf("%w within %s: quorum may be lost", ErrNoLeader, n.cfg.ApplyTimeout)
			}
			return 0, ctx.Err()
		case <-tick.C:
		}
	}
}

// tryOnLeader makes one attempt; done is false when no leader was reached
// and the attempt may be retried.
func (n *Node) tryOnLeader(ctx context.Context, req forwardRequest, local func(time.Duration) (uint64, error)) (uint64, bool, error) {
	if n.raft.State() == raft.Leader {
		deadline, _ := ctx.Deadline()
		index, err := local(time.Until(deadline))
		if errors.Is(err, errNotLeader) {
			return 0, false, nil
		}
		return index, true, err
	}
	addr, _ := n.raft.LeaderWithID()
	if addr == "" {
		return 0, false, nil
	}
	resp, err := n.roundTrip(ctx, string(addr), req)
	switch {
	case err != nil && isDialError(err):
		return 0, false, nil
	case err != nil:
		return 0, true, err
	case resp.NotLeader:
		return 0, false, nil
	case resp.Error != "":
		return 0, true, fmt.Errorf("leader %s: %s", addr, resp.Error)
	}
	return resp.Index, true, nil
}

// leaderError maps Raft's "not (or no longer) the leader" errors to
// errNotLeader, which callers retry.
func leaderError(err error) error {
	if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) {
		return errNotLeader
	}
	return err
}
