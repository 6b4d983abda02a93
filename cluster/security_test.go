package cluster

import (
	"context"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/tollgate/tollgate/internal/waitfor"
)

func mustKey(t *testing.T) []byte {
	t.Helper()
	keys, err := ParseKeys(GenerateKey())
	if err != nil {
		t.Fatal(err)
	}
	return keys[0]
}

func isMember(n *testNode, id string) bool {
	for _, m := range n.Status().Members {
		if m.ID == id && (m.Gossip == "alive" || m.Suffrage != "none") {
			return true
		}
	}
	return false
}

// TestKeylessAndWrongKeyNodesAreRefused starts a keyed cluster, then a
// node with no key and one with another key, then a node with the right
// key. Once the right one is a voter, the other two must still be absent.
func TestKeylessAndWrongKeyNodesAreRefused(t *testing.T) {
	key := mustKey(t)
	nodes := startThree(t, key)
	join := []string{nodes[0].GossipAddr()}
	startNode(t, "keyless", t.TempDir(), join, 0)
	startNode(t, "wrongkey", t.TempDir(), join, 0, mustKey(t))
	good := startNode(t, "good", t.TempDir(), join, 0, key)
	all := append(nodes, good)
	waitfor.Condition(t, 15*time.Second, "the keyed fourth node is a voter", func() bool {
		l := leaderOf(all)
		return l != nil && voters(l) == 4
	})
	for _, n := range all {
		for _, rogue := range []string{"keyless", "wrongkey"} {
			if isMember(n, rogue) {
				t.Fatalf("%s lists %s as a member: %+v", n.ID(), rogue, n.Status().Members)
			}
		}
	}
	if _, err := good.Apply(context.Background(), []byte("x")); err != nil {
		t.Fatalf("apply through keyed node: %v", err)
	}
}

func TestRaftPortRejectsPlainConnections(t *testing.T) {
	n := startNode(t, "solo", t.TempDir(), nil, 0, mustKey(t))
	conn, err := net.DialTimeout("tcp", n.RaftAddr(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// A plaintext Raft or forward connection: protocol byte, then junk.
	if _, err := conn.Write([]byte{protoRaft, 0, 1, 2, 3, 4, 5, 6, 7}); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 64)
	nr, err := conn.Read(buf)
	for err == nil { // a TLS alert may come first; the server then closes
		_, err = conn.Read(buf)
	}
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("server kept a plaintext connection open (read %d bytes)", nr)
	}
	if err != io.EOF {
		t.Logf("connection ended with %v", err)
	}
}

// TestKeylessGossipCannotInjectMessages sends channel messages from a raw
// memberlist with no key, then legitimate ones from a keyed peer; when a
// legitimate one arrives, no forged one may have been delivered.
func TestKeylessGossipCannotInjectMessages(t *testing.T) {
	key := mustKey(t)
	a := startNode(t, "a", t.TempDir(), nil, 0, key)
	b := startNode(t, "b", t.TempDir(), []string{a.GossipAddr()}, 0, key)
	var forged, genuine atomic.Int64
	a.HandleGossip(9, func(msg []byte) {
		if string(msg) == "forged" {
			forged.Add(1)
		} else {
			genuine.Add(1)
		}
	})
	waitfor.Condition(t, 10*time.Second, "b sees a alive", func() bool { return isMember(b, "a") })

	mc := memberlist.DefaultLocalConfig()
	mc.Name, mc.BindAddr, mc.BindPort = "rogue", "127.0.0.1", 0
	mc.Logger = newStdLogger(testLogger(t))
	rogue, err := memberlist.Create(mc)
	if err != nil {
		t.Fatal(err)
	}
	defer rogue.Shutdown()
	host, port, _ := splitHostPort(a.GossipAddr())
	target := &memberlist.Node{Name: "a", Addr: net.ParseIP(host), Port: uint16(port)}
	for i := 0; i < 20; i++ {
		if err := rogue.SendBestEffort(target, []byte("\x09forged")); err != nil {
			t.Fatal(err)
		}
	}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(10 * time.Second)
	for genuine.Load() == 0 {
		if err := b.SendGossip(9, []byte("genuine")); err != nil {
			t.Fatal(err)
		}
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatal("no genuine message arrived")
		}
	}
	if f := forged.Load(); f != 0 {
		t.Fatalf("%d forged messages delivered", f)
	}
}

func TestParseKeys(t *testing.T) {
	k1, k2 := GenerateKey(), GenerateKey()
	keys, err := ParseKeys(k1 + ", " + k2)
	if err != nil || len(keys) != 2 {
		t.Fatalf("ParseKeys = %d keys, %v", len(keys), err)
	}
	for _, bad := range []string{"not-base64!", "c2hvcnQ="} {
		if _, err := ParseKeys(bad); err == nil {
			t.Fatalf("ParseKeys(%q) accepted", bad)
		}
	}
}

func TestKeyRotationAcceptsSecondaryKey(t *testing.T) {
	oldKey, newKey := mustKey(t), mustKey(t)
	// a still has the old key as primary; b has rotated to the new one
	// but keeps the old as secondary.
	a := startNode(t, "a", t.TempDir(), nil, 0, oldKey, newKey)
	b := startNode(t, "b", t.TempDir(), []string{a.GossipAddr()}, 0, newKey, oldKey)
	all := []*testNode{a, b}
	waitfor.Condition(t, 15*time.Second, "two voters across a key rotation", func() bool {
		l := leaderOf(all)
		return l != nil && voters(l) == 2
	})
	if _, err := b.Apply(context.Background(), []byte("x")); err != nil {
		t.Fatalf("apply across rotation: %v", err)
	}
}
