package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
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
// The waiter must give up with ErrClosed once Close shuts Raft down.
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

// TestForwardToAClosingExLeaderAnswersNotLeader does what Close does
// first on a leader (cancel the node's context, hand leadership over) and
// then forwards writes to it. Its Raft still runs, as a follower, so it
// must answer NotLeader and the sender retry at the new leader. When
// await gave up on the node's context, it answered every one with a hard
// "cluster node closed" (found by review).
func TestForwardToAClosingExLeaderAnswersNotLeader(t *testing.T) {
	nodes := startThree(t)
	l := leaderOf(nodes)
	l.cancel()
	if err := l.raft.LeadershipTransfer().Error(); err != nil {
		t.Fatalf("transfer: %v", err)
	}
	other := nodes[0]
	if other == l {
		other = nodes[1]
	}
	for i := range 20 {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		resp, err := other.forward(ctx, l.RaftAddr(), []byte(fmt.Sprintf("w%d", i)))
		cancel()
		if err != nil {
			t.Fatalf("forward: %v", err)
		}
		if !resp.NotLeader {
			t.Fatalf("write %d to the ex-leader: answered %+v, want NotLeader", i, resp)
		}
	}
}

// TestReadIndexOnAClosedNodeReturns: VerifyLeader's future, like
// Barrier's, is never answered once Raft has shut down (hashicorp/raft
// never drains its buffered verify channel), so a forwarded read-index
// request that reached a closed node blocked its connection's goroutine
// forever, about half the time (found by review).
func TestReadIndexOnAClosedNodeReturns(t *testing.T) {
	n := startNode(t, "solo", t.TempDir(), nil, 1)
	waitfor.Condition(t, 5*time.Second, "solo leader", n.IsLeader)
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		client, server := net.Pipe()
		done := make(chan struct{})
		go func() { n.serveForward(server); close(done) }()
		_ = client.SetDeadline(time.Now().Add(5 * time.Second))
		if err := writeFrame(client, forwardRequest{Op: opReadIndex, TimeoutMs: 1000}); err != nil {
			t.Fatal(err)
		}
		go func() { var r forwardResponse; _ = readFrame(client, &r) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("request %d: a forwarded read-index on a closed node still waits after 5 s", i)
		}
		client.Close()
	}
}
