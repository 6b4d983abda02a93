package chaos

import (
	"context"
)

// Node is one gateway node as the harness reaches it.
type Node struct {
	// ID is the node's id in Raft and gossip (its --node-id).
	ID string `json:"id"`
	// HTTP is the data plane's base URL, like http://127.0.0.11:41234.
	HTTP string `json:"http"`
	// Admin is the admin API's base URL.
	Admin string `json:"admin"`
}

// Target is a cluster the harness can start, break, mend and stop. Node
// indexes are positions in Nodes(), stable for the whole run.
type Target interface {
	// Name describes the target in reports ("local processes", "compose").
	Name() string
	// Start brings every node up and returns once a leader is known.
	Start(ctx context.Context) error
	// Nodes lists the nodes.
	Nodes() []Node
	// UpstreamURL is the demo upstream's URL as the nodes reach it.
	UpstreamURL() string
	// Kill SIGKILLs node i.
	Kill(ctx context.Context, i int) error
	// Revive starts a killed node again with its original command line.
	Revive(ctx context.Context, i int) error
	// Pause SIGSTOPs node i; Resume SIGCONTs it.
	Pause(ctx context.Context, i int) error
	Resume(ctx context.Context, i int) error
	// Restart stops node i gracefully and starts it again at once.
	Restart(ctx context.Context, i int) error
	// PartitionSupport reports whether Partition works here, and why not.
	PartitionSupport() (ok bool, reason string)
	// Partition cuts node i off from its peers; Heal undoes it.
	Partition(ctx context.Context, i int) error
	Heal(ctx context.Context, i int) error
	// PartitionHidesNode reports whether a partitioned node is also
	// unreachable from the load generator (compose: network disconnect).
	PartitionHidesNode() bool
	// PortsProxied reports whether a proxy in front of the nodes' ports
	// accepts connections for a node that is down and then closes them
	// (docker's userland proxy), so that an empty answer means what a
	// refused connection means elsewhere.
	PortsProxied() bool
	// Close stops every node and releases what Start set up.
	Close(ctx context.Context) error
}
