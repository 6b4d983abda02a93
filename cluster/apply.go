package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"
)

// errNotLeader means this node is not the leader; the write never entered
// the log, so it is safe to retry elsewhere.
var errNotLeader = errors.New("not the leader")

// Apply commits cmd through Raft and returns the FSM's response bytes. On
// a follower the command is forwarded to the leader, and Apply returns
// only after the entry is applied on this node too. With no leader it
// waits up to Config.ApplyTimeout, then fails with ErrNoLeader.
func (n *Node) Apply(ctx context.Context, cmd []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, n.cfg.ApplyTimeout)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if n.closed.Load() {
			return nil, ErrClosed
		}
		res, done, err := n.tryApply(ctx, cmd)
		if done {
			return res, err
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return nil, fmt.Errorf("%w within %s: quorum may be lost", ErrNoLeader, n.cfg.ApplyTimeout)
			}
			return nil, ctx.Err()
		case <-tick.C:
		}
	}
}

// tryApply makes one attempt; done is false when the attempt could not
// reach a leader and may be retried safely.
func (n *Node) tryApply(ctx context.Context, cmd []byte) ([]byte, bool, error) {
	if n.raft.State() == raft.Leader {
		deadline, _ := ctx.Deadline()
		res, _, err := n.applyLocal(cmd, time.Until(deadline))
		if errors.Is(err, errNotLeader) {
			return nil, false, nil
		}
		return res, true, err
	}
	addr, _ := n.raft.LeaderWithID()
	if addr == "" {
		return nil, false, nil
	}
	resp, err := n.forward(ctx, string(addr), cmd)
	if err != nil {
		n.log.Debug("forward failed; will retry", "leader", addr, "err", err)
		if isDialError(err) {
			return nil, false, nil
		}
		return nil, true, err
	}
	if resp.NotLeader {
		return nil, false, nil
	}
	if resp.Error != "" {
		return nil, true, fmt.Errorf("leader %s: %s", addr, resp.Error)
	}
	if err := n.waitApplied(ctx, resp.Index); err != nil {
		return nil, true, err
	}
	return resp.Result, true, nil
}

// applyLocal applies cmd on this node, which must be the leader.
func (n *Node) applyLocal(cmd []byte, timeout time.Duration) ([]byte, uint64, error) {
	f := n.raft.Apply(cmd, timeout)
	if err := n.await(f); err != nil {
		if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipTransferInProgress) {
			return nil, 0, errNotLeader // the entry never entered the log
		}
		return nil, 0, fmt.Errorf("raft apply: %w", err)
	}
	res, ok := f.Response().([]byte)
	if !ok {
		return nil, 0, fmt.Errorf("raft apply: FSM returned %T, want []byte", f.Response())
	}
	return res, f.Index(), nil
}

// waitApplied blocks until the local FSM has applied index.
func (n *Node) waitApplied(ctx context.Context, index uint64) error {
	delay := time.Millisecond
	for n.cfg.AppliedIndex() < index {
		select {
		case <-ctx.Done():
			return fmt.Errorf("committed at index %d but not yet applied here: %w", index, ctx.Err())
		case <-time.After(delay):
		}
		delay = min(delay*2, 20*time.Millisecond)
	}
	return nil
}

// isDialError reports whether a forward failed before the leader could
// have received the command.
func isDialError(err error) bool {
	var de *dialError
	return errors.As(err, &de)
}

// dialError marks a failure to connect, as opposed to one mid-exchange.
type dialError struct{ err error }

func (e *dialError) Error() string { return e.err.Error() }
func (e *dialError) Unwrap() error { return e.err }
