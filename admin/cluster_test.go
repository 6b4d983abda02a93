package admin_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/waitfor"
)

func TestFollowerWritesAndConsistentReads(t *testing.T) {
	nodes := startCluster(t, 3)
	f := followerOf(nodes)
	v := f.seed() // forwarded to the leader, applied here before answering
	for _, n := range nodes {
		r := n.must(200, "GET", "/v1/routes?consistent=true", nil)
		if r.header.Get("X-Tollgate-Version") != itoa(v) || r.header.Get("X-Tollgate-Consistent") != "true" {
			t.Fatalf("%s consistent read: version %q headers %v", n.NodeID(), r.header.Get("X-Tollgate-Version"), r.header)
		}
	}
	// Local reads say how stale they may be.
	r := f.must(200, "GET", "/v1/config", nil)
	ms, err := strconv.Atoi(r.header.Get("X-Tollgate-Last-Contact"))
	if err != nil || ms < 0 || r.header.Get("X-Tollgate-Known-Leader") != "true" {
		t.Fatalf("follower staleness headers: %v", r.header)
	}
	// An entity write through a follower, then a write pinned with
	// If-Match to the version it returned, through another follower.
	r = f.must(201, "POST", "/v1/consumers", `{"username":"bob"}`)
	var other *node
	for _, n := range nodes {
		if n != f && !n.Node().IsLeader() {
			other = n
		}
	}
	other.must(200, "PATCH", "/v1/consumers/bob", `{"groups":["x"]}`, "If-Match", r.header.Get("ETag"))
	for _, n := range nodes {
		waitfor.Condition(t, 5*time.Second, n.NodeID()+" at the latest version", func() bool { return n.version() == v+2 })
	}
}

func TestRemoveDeadMember(t *testing.T) {
	nodes := startCluster(t, 3)
	leader := leaderOf(nodes)
	var followers []*node
	for _, n := range nodes {
		if n != leader {
			followers = append(followers, n)
		}
	}
	dead, asker := followers[0], followers[1]

	// A live member is refused; an unknown one is 404.
	r := asker.must(409, "DELETE", "/v1/cluster/members/"+dead.NodeID(), nil)
	r.apiError(t)
	asker.must(404, "DELETE", "/v1/cluster/members/nope", nil).apiError(t)
	asker.must(200, "DELETE", "/v1/cluster/members/"+dead.NodeID()+"?force=true&dry_run=true", nil)

	if err := dead.Stop(); err != nil {
		t.Fatal(err)
	}
	waitfor.Condition(t, 15*time.Second, "gossip to see the stopped node gone", func() bool {
		for _, m := range asker.Node().Status().Members {
			if m.ID == dead.NodeID() {
				return m.Gossip == "left" || m.Gossip == "dead"
			}
		}
		return false
	})
	var out struct{ Removed string }
	asker.must(200, "DELETE", "/v1/cluster/members/"+dead.NodeID(), nil).json(t, &out)
	if out.Removed != dead.NodeID() {
		t.Fatalf("answer = %+v", out)
	}
	waitfor.Condition(t, 5*time.Second, "the raft configuration without the dead node", func() bool {
		for _, m := range leader.Node().Status().Members {
			if m.ID == dead.NodeID() && m.Suffrage != "none" {
				return false
			}
		}
		return true
	})
	asker.must(404, "DELETE", "/v1/cluster/members/"+dead.NodeID(), nil)
	// The two remaining nodes still commit writes.
	asker.seed()
}

func TestConsistentReadWithoutQuorumIs503(t *testing.T) {
	nodes := startCluster(t, 3)
	last := followerOf(nodes)
	last.seed()
	for _, n := range nodes {
		if n != last {
			n.Stop()
		}
	}
	r := last.must(503, "GET", "/v1/config?consistent=true", nil)
	if r.apiError(t).Error.Code != "no_leader" {
		t.Fatalf("consistent read without quorum: %s", r)
	}
	// A local read still answers, and says the leader is not known.
	waitfor.Condition(t, 10*time.Second, "the leader to be forgotten", func() bool {
		r := last.must(200, "GET", "/v1/config", nil)
		return r.header.Get("X-Tollgate-Known-Leader") == "false"
	})
}
