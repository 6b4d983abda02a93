package cluster

import (
	"context"
	"encoding/binary"
	"io"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/tollgate/tollgate/internal/waitfor"
)

// counterFSM appends every command and returns its position.
type counterFSM struct {
	mu      sync.Mutex
	entries [][]byte
	applied uint64
}

func (f *counterFSM) Apply(l *raft.Log) any {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.entries = append(f.entries, append([]byte(nil), l.Data...))
	f.applied = l.Index
	out := make([]byte, 8)
	binary.BigEndian.PutUint64(out, uint64(len(f.entries)))
	return out
}

func (f *counterFSM) Snapshot() (raft.FSMSnapshot, error) { return noopSnap{}, nil }
func (f *counterFSM) Restore(rc io.ReadCloser) error      { return rc.Close() }

func (f *counterFSM) appliedIndex() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.applied
}

func (f *counterFSM) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.entries)
}

type noopSnap struct{}

func (noopSnap) Persist(s raft.SnapshotSink) error { return s.Close() }
func (noopSnap) Release()                          {}

// testNode is one in-process node with its data dir and FSM.
type testNode struct {
	*Node
	fsm *counterFSM
	dir string
}

func testLogger(t *testing.T) *slog.Logger {
	if os.Getenv("TOLLGATE_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, nil)).With("test", t.Name())
	}
	return slog.New(slog.DiscardHandler)
}

func startNode(t *testing.T, id, dir string, join []string, expect int, keys ...[]byte) *testNode {
	t.Helper()
	fsm := &counterFSM{}
	n, err := New(Config{
		NodeID: id, DataDir: dir, RaftAddr: "127.0.0.1:0", GossipAddr: "127.0.0.1:0",
		Join: join, BootstrapExpect: expect, ApplyTimeout: 3 * time.Second,
		HeartbeatTimeout: 300 * time.Millisecond, ElectionTimeout: 300 * time.Millisecond,
		GossipInterval: 200 * time.Millisecond, AppliedIndex: fsm.appliedIndex, Logger: testLogger(t),
		Keys: keys,
	}, fsm)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	tn := &testNode{Node: n, fsm: fsm, dir: dir}
	t.Cleanup(func() { tn.Close() })
	return tn
}

func leaderOf(nodes []*testNode) *testNode {
	for _, n := range nodes {
		if !n.closed.Load() && n.IsLeader() {
			return n
		}
	}
	return nil
}

func voters(n *testNode) int {
	f := n.raft.GetConfiguration()
	if f.Error() != nil {
		return 0
	}
	c := 0
	for _, s := range f.Configuration().Servers {
		if s.Suffrage == raft.Voter {
			c++
		}
	}
	return c
}

// startThree starts three nodes; the first has no peers to join yet, so
// the second and third join it and all expect three.
func startThree(t *testing.T, keys ...[]byte) []*testNode {
	a := startNode(t, "a", t.TempDir(), []string{"127.0.0.1:1"}, 3, keys...)
	// Node a was given an unreachable peer; b and c join a.
	b := startNode(t, "b", t.TempDir(), []string{a.GossipAddr()}, 3, keys...)
	c := startNode(t, "c", t.TempDir(), []string{a.GossipAddr(), b.GossipAddr()}, 3, keys...)
	nodes := []*testNode{a, b, c}
	waitfor.Condition(t, 10*time.Second, "a leader with three voters", func() bool {
		l := leaderOf(nodes)
		return l != nil && voters(l) == 3
	})
	return nodes
}

func TestThreeNodesFormAndReplicate(t *testing.T) {
	nodes := startThree(t)
	var follower *testNode
	for _, n := range nodes {
		if !n.IsLeader() {
			follower = n
			break
		}
	}
	res, err := follower.Apply(context.Background(), []byte("hello"))
	if err != nil {
		t.Fatalf("apply via follower: %v", err)
	}
	if got := binary.BigEndian.Uint64(res); got != 1 {
		t.Fatalf("result = %d, want 1", got)
	}
	if follower.fsm.count() != 1 {
		t.Fatalf("follower answered before applying locally")
	}
	waitfor.Condition(t, 5*time.Second, "all nodes applied", func() bool {
		for _, n := range nodes {
			if n.fsm.count() != 1 {
				return false
			}
		}
		return true
	})
	st := follower.Status()
	if len(st.Members) != 3 || st.LeaderID == "" {
		t.Fatalf("status = %+v", st)
	}
	for _, m := range st.Members {
		if m.Suffrage != "voter" || m.Gossip != "alive" {
			t.Fatalf("member %+v not an alive voter", m)
		}
	}
}

func TestLeaderLossAndRejoinAtNewAddress(t *testing.T) {
	nodes := startThree(t)
	old := leaderOf(nodes)
	if err := old.Close(); err != nil {
		t.Fatalf("close leader: %v", err)
	}
	var survivors []*testNode
	for _, n := range nodes {
		if n != old {
			survivors = append(survivors, n)
		}
	}
	waitfor.Condition(t, 5*time.Second, "new leader", func() bool { return leaderOf(survivors) != nil })
	if _, err := survivors[0].Apply(context.Background(), []byte("after-failover")); err != nil {
		t.Fatalf("apply after failover: %v", err)
	}
	// Restart the old leader from its data dir on new ports: same id at a
	// new address, which the leader must replace in the Raft config.
	back := startNode(t, old.ID(), old.dir, []string{survivors[0].GossipAddr()}, 3)
	all := append(survivors, back)
	waitfor.Condition(t, 10*time.Second, "restarted node caught up", func() bool { return back.fsm.count() >= 1 })
	waitfor.Condition(t, 10*time.Second, "raft config has the new address", func() bool {
		l := leaderOf(all)
		if l == nil {
			return false
		}
		f := l.raft.GetConfiguration()
		return f.Error() == nil && hasServer(f.Configuration().Servers, raft.ServerID(back.ID()), raft.ServerAddress(back.RaftAddr())) && voters(l) == 3
	})
}

func TestFourthNodeIsAdded(t *testing.T) {
	nodes := startThree(t)
	d := startNode(t, "d", t.TempDir(), []string{nodes[1].GossipAddr()}, 0)
	all := append(nodes, d)
	waitfor.Condition(t, 10*time.Second, "four voters", func() bool {
		l := leaderOf(all)
		return l != nil && voters(l) == 4
	})
	if _, err := d.Apply(context.Background(), []byte("from-d")); err != nil {
		t.Fatalf("apply via new node: %v", err)
	}
}

func TestQuorumLossAnswersNoLeader(t *testing.T) {
	nodes := startThree(t)
	last := nodes[2]
	for _, n := range nodes[:2] {
		n.Close()
	}
	start := time.Now()
	_, err := last.Apply(context.Background(), []byte("x"))
	if err == nil {
		t.Fatal("apply without quorum succeeded")
	}
	if time.Since(start) > 10*time.Second {
		t.Fatalf("apply took %s", time.Since(start))
	}
	t.Logf("quorum loss error after %s: %v", time.Since(start).Round(time.Millisecond), err)
}

func TestSingleNodeBootstrapsAlone(t *testing.T) {
	n := startNode(t, "solo", t.TempDir(), nil, 0)
	waitfor.Condition(t, 5*time.Second, "solo leader", func() bool { return n.IsLeader() })
	if _, err := n.Apply(context.Background(), []byte("x")); err != nil {
		t.Fatal(err)
	}
}

func TestGossipChannel(t *testing.T) {
	nodes := startThree(t)
	got := make(chan string, 4)
	nodes[1].HandleGossip(7, func(msg []byte) { got <- string(msg) })
	deadline := time.After(5 * time.Second)
	for {
		if err := nodes[0].SendGossip(7, []byte("count=3")); err != nil {
			t.Fatal(err)
		}
		select {
		case m := <-got:
			if m != "count=3" {
				t.Fatalf("got %q", m)
			}
			return
		case <-deadline:
			t.Fatal("no gossip message received")
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func TestSendGossipRejectsOversize(t *testing.T) {
	n := startNode(t, "solo", t.TempDir(), nil, 0)
	if err := n.SendGossip(1, make([]byte, MaxGossipMessage+1)); err == nil {
		t.Fatal("want error")
	}
}

func TestNewIDAtOldAddressReplacesStaleEntry(t *testing.T) {
	nodes := startThree(t)
	var victim *testNode
	for _, n := range nodes {
		if !n.IsLeader() {
			victim = n
			break
		}
	}
	oldID, oldAddr := victim.ID(), victim.RaftAddr()
	var survivor *testNode
	for _, n := range nodes {
		if n != victim {
			survivor = n
		}
	}
	if err := victim.Close(); err != nil {
		t.Fatal(err)
	}
	// A fresh node (wiped data dir, new id) comes up on the same Raft address.
	fsm := &counterFSM{}
	n, err := New(Config{
		NodeID: "fresh", DataDir: t.TempDir(), RaftAddr: oldAddr, GossipAddr: "127.0.0.1:0",
		Join: []string{survivor.GossipAddr()}, BootstrapExpect: 3, ApplyTimeout: 3 * time.Second,
		HeartbeatTimeout: 300 * time.Millisecond, ElectionTimeout: 300 * time.Millisecond,
		GossipInterval: 200 * time.Millisecond, AppliedIndex: fsm.appliedIndex, Logger: testLogger(t),
	}, fsm)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(); err != nil {
		t.Fatalf("start on the old address: %v", err)
	}
	t.Cleanup(func() { n.Close() })
	var all []*testNode
	for _, n := range nodes {
		if n != victim {
			all = append(all, n)
		}
	}
	all = append(all, &testNode{Node: n, fsm: fsm})
	waitfor.Condition(t, 10*time.Second, "stale id removed and fresh id added", func() bool {
		l := leaderOf(all)
		if l == nil {
			return false
		}
		f := l.raft.GetConfiguration()
		if f.Error() != nil {
			return false
		}
		servers := f.Configuration().Servers
		for _, s := range servers {
			if string(s.ID) == oldID {
				return false
			}
		}
		return hasServer(servers, "fresh", raft.ServerAddress(oldAddr)) && len(servers) == 3
	})
}
