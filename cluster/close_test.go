package cluster

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/tollgate/tollgate/internal/waitfor"
)

// gatedFSM holds every Apply until release is closed, reporting each
// entry on entered first.
type gatedFSM struct {
	counterFSM
	entered chan struct{}
	release chan struct{}
}

func (f *gatedFSM) Apply(l *raft.Log) any {
	f.entered <- struct{}{}
	<-f.release
	return f.counterFSM.Apply(l)
}

// TestCloseDoesNotWaitForAnUnansweredFuture holds a committed entry in
// the FSM while the node closes. hashicorp/raft never answers such an
// entry's future once it has shut down (hashicorp/raft#498), so a caller
// blocked in f.Error() kept Close waiting forever: CI's admin package hung
// for 20 minutes in a node's Close, its leader loop in Barrier().Error().
// The waiter must give up with ErrClosed as soon as Close begins.
func TestCloseDoesNotWaitForAnUnansweredFuture(t *testing.T) {
	fsm := &gatedFSM{entered: make(chan struct{}, 16), release: make(chan struct{})}
	n, err := New(Config{
		NodeID: "solo", DataDir: t.TempDir(), RaftAddr: "127.0.0.1:0", GossipAddr: "127.0.0.1:0",
		ApplyTimeout: 30 * time.Second, HeartbeatTimeout: 300 * time.Millisecond,
		ElectionTimeout: 300 * time.Millisecond, GossipInterval: 200 * time.Millisecond,
		AppliedIndex: fsm.appliedIndex, Logger: testLogger(t),
	}, fsm)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	released := false
	release := func() {
		if !released {
			released = true
			close(fsm.release)
		}
	}
	defer release()
	waitfor.Condition(t, 5*time.Second, "solo leader", n.IsLeader)

	applied := make(chan error, 1)
	go func() {
		_, err := n.Apply(context.Background(), []byte("held"))
		applied <- err
	}()
	select {
	case <-fsm.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the entry never reached the FSM")
	}

	closed := make(chan error, 1)
	go func() { closed <- n.Close() }()
	select {
	case err := <-applied:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("Apply during Close: got %v, want ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Apply still waiting on its future 10s after Close began")
	}
	release() // Raft's shutdown waits for the FSM goroutine to return
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return")
	}
}
