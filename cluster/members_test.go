package cluster

import (
	"net"
	"testing"

	"github.com/hashicorp/memberlist"
)

// TestCountAliveCountsOtherLiveMembers: the count the rate limiter divides
// by leaves out this node and every member not alive.
func TestCountAliveCountsOtherLiveMembers(t *testing.T) {
	tab := newMemberTable()
	if n := tab.countAlive("self"); n != 0 {
		t.Fatalf("empty table: %d", n)
	}
	for _, m := range []struct {
		name  string
		state memberlist.NodeStateType
	}{
		{"self", memberlist.StateAlive},
		{"a", memberlist.StateAlive},
		{"b", memberlist.StateAlive},
		{"c", memberlist.StateSuspect},
		{"d", memberlist.StateDead},
		{"e", memberlist.StateLeft},
	} {
		tab.update(&memberlist.Node{Name: m.name, Addr: net.IPv4(127, 0, 0, 1), Port: 7946, State: m.state})
	}
	if n := tab.countAlive("self"); n != 2 {
		t.Errorf("countAlive = %d, want 2 (a and b)", n)
	}
	tab.update(&memberlist.Node{Name: "b", Addr: net.IPv4(127, 0, 0, 1), Port: 7946, State: memberlist.StateDead})
	if n := tab.countAlive("self"); n != 1 {
		t.Errorf("after b died: countAlive = %d, want 1", n)
	}
}
