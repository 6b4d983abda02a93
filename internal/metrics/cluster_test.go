package metrics

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tollgate/tollgate/cluster"
	"github.com/tollgate/tollgate/internal/waitfor"
	"github.com/tollgate/tollgate/limiter"
	"github.com/tollgate/tollgate/store"
)

// startNode runs a real single-node cluster on loopback.
func startNode(t *testing.T) *cluster.Node {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(store.Options{Path: filepath.Join(dir, "state.db"), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	n, err := cluster.New(cluster.Config{NodeID: "m1", DataDir: dir, RaftAddr: "127.0.0.1:0", GossipAddr: "127.0.0.1:0",
		HeartbeatTimeout: 200 * time.Millisecond, ElectionTimeout: 200 * time.Millisecond,
		AppliedIndex: st.AppliedIndex, Logger: slog.New(slog.DiscardHandler)}, st)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	deadline := time.After(10 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !n.IsLeader() {
		select {
		case <-deadline:
			t.Fatal("no leader")
		case <-tick.C:
		}
	}
	return n
}

func TestClusterCollector(t *testing.T) {
	n := startNode(t)
	n.SetServedVersion(7)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(NewClusterCollector(n))
	want := `
# HELP tollgate_raft_state 1 for this node's current Raft state.
# TYPE tollgate_raft_state gauge
tollgate_raft_state{state="Candidate"} 0
tollgate_raft_state{state="Follower"} 0
tollgate_raft_state{state="Leader"} 1
tollgate_raft_state{state="Shutdown"} 0
# HELP tollgate_config_version Config version this node's data plane serves.
# TYPE tollgate_config_version gauge
tollgate_config_version 7
# HELP tollgate_raft_last_contact_seconds Seconds since this node last heard from the leader (0 on the leader, -1 never).
# TYPE tollgate_raft_last_contact_seconds gauge
tollgate_raft_last_contact_seconds 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"tollgate_raft_state", "tollgate_config_version", "tollgate_raft_last_contact_seconds"); err != nil {
		t.Fatal(err)
	}
	if n, err := testutil.GatherAndCount(reg); err != nil || n < 10 {
		t.Fatalf("gathered %d series, %v", n, err)
	}
}

func TestLimiterCollector(t *testing.T) {
	lim, err := limiter.New(limiter.Options{NodeID: "m1"})
	if err != nil {
		t.Fatal(err)
	}
	defer lim.Close()
	p := &limiter.Policy{ID: 1, Limit: 10, Window: time.Second}
	lim.Allow(p, "a")
	lim.Allow(p, "b")
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(NewLimiterCollector(lim))
	want := `
# HELP tollgate_limiter_keys Keys the limiter tracks.
# TYPE tollgate_limiter_keys gauge
tollgate_limiter_keys 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "tollgate_limiter_keys"); err != nil {
		t.Fatal(err)
	}
}

// loopback hands every gossip message straight to one receiver.
type loopback struct{ to *limiter.Limiter }

func (l loopback) SendGossip(_ byte, msg []byte) error { l.to.HandleMessage(msg); return nil }

// TestLimiterPeerSyncAge: a peer that gossips shows up with the age of
// its last message.
func TestLimiterPeerSyncAge(t *testing.T) {
	lim, err := limiter.New(limiter.Options{NodeID: "m1"})
	if err != nil {
		t.Fatal(err)
	}
	defer lim.Close()
	peer, err := limiter.New(limiter.Options{NodeID: "m2", Transport: loopback{lim}})
	if err != nil {
		t.Fatal(err)
	}
	peer.Start(context.Background())
	defer peer.Close()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(NewLimiterCollector(lim))
	waitfor.Condition(t, 5*time.Second, "m2's sync age", func() bool {
		n, err := testutil.GatherAndCount(reg, "tollgate_limiter_peer_sync_age_seconds")
		return err == nil && n == 1
	})
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "tollgate_limiter_peer_sync_age_seconds" {
			continue
		}
		m := mf.GetMetric()[0]
		if m.GetLabel()[0].GetValue() != "m2" || m.GetGauge().GetValue() > 1 {
			t.Fatalf("peer age metric %v", m)
		}
	}
}
