// Package cluster runs a tollgate node's membership and consensus: a
// hashicorp/raft node (raft-boltdb/v2 log, file snapshots, TCP transport),
// memberlist gossip, forming the cluster from --join with no bootstrap step,
// leader-side reconciliation of Raft membership from gossip, and forwarding
// of writes from followers to the leader.
//
// The package moves opaque command bytes; it knows nothing of routes or
// services. The FSM is handed in by the caller.
package cluster

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/hashicorp/raft"
)

// Sentinel errors returned by Node methods.
var (
	// ErrNoLeader means no leader was known within the apply timeout,
	// typically because quorum is lost.
	ErrNoLeader = errors.New("no cluster leader")
	// ErrClosed means the node is shutting down.
	ErrClosed = errors.New("cluster node closed")
	// ErrForward means a write could not be forwarded to the leader.
	ErrForward = errors.New("forward to leader failed")
)

// Config describes one node. Zero durations take the documented defaults.
type Config struct {
	// NodeID is this node's stable identity in Raft and gossip.
	NodeID string
	// DataDir holds raft/raft.db, raft snapshots and the node-id file.
	DataDir string
	// RaftAddr is the TCP bind address for Raft and write forwarding.
	RaftAddr string
	// GossipAddr is the TCP+UDP bind address for memberlist.
	GossipAddr string
	// Advertise is the host (or IP) that peers use to reach this node.
	// When empty, the bind host is used, or a private IP if that is a
	// wildcard address.
	Advertise string
	// AdminAddr is this node's admin API address, published in gossip so
	// that status pages can link members.
	AdminAddr string
	// Join lists peers' gossip addresses (host:port).
	Join []string
	// BootstrapExpect is how many nodes must be seen before a brand-new
	// cluster bootstraps itself (default: len(Join)+1).
	BootstrapExpect int
	// ApplyTimeout bounds a write, including waiting for a leader
	// (default 5s).
	ApplyTimeout time.Duration
	// HeartbeatTimeout and ElectionTimeout tune Raft (default 1s each).
	HeartbeatTimeout time.Duration
	ElectionTimeout  time.Duration
	// GossipInterval scales memberlist's probe interval (default 1s).
	GossipInterval time.Duration
	// Keys are cluster keys (KeySize bytes each; see ParseKeys). With
	// keys, gossip is encrypted and authenticated (memberlist keyring) and
	// Raft and write forwarding run over mutual TLS whose CA derives from
	// the key, so a process without a key cannot join, vote or inject
	// gossip messages. The first key is primary; the others are accepted
	// during rotation. Without keys cluster traffic is unauthenticated.
	Keys [][]byte
	// AppliedIndex reports the highest log index the FSM has applied; a
	// forwarded write returns only once it is applied locally too.
	AppliedIndex func() uint64
	// Logger receives the node's logs (slog.Default if nil).
	Logger *slog.Logger
}

func (c *Config) setDefaults() {
	if c.BootstrapExpect <= 0 {
		c.BootstrapExpect = len(c.Join) + 1
	}
	if c.ApplyTimeout <= 0 {
		c.ApplyTimeout = 5 * time.Second
	}
	if c.HeartbeatTimeout <= 0 {
		c.HeartbeatTimeout = time.Second
	}
	if c.ElectionTimeout <= 0 {
		c.ElectionTimeout = time.Second
	}
	if c.GossipInterval <= 0 {
		c.GossipInterval = time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

func (c *Config) validate() error {
	switch {
	case c.NodeID == "":
		return errors.New("cluster: NodeID is required")
	case c.DataDir == "":
		return errors.New("cluster: DataDir is required")
	case c.AppliedIndex == nil:
		return errors.New("cluster: AppliedIndex is required")
	}
	return nil
}

// raftConfig builds the hashicorp/raft configuration for this node.
func (c *Config) raftConfig() *raft.Config {
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(c.NodeID)
	rc.HeartbeatTimeout = c.HeartbeatTimeout
	rc.ElectionTimeout = c.ElectionTimeout
	rc.LeaderLeaseTimeout = c.HeartbeatTimeout / 2
	rc.CommitTimeout = 5 * time.Millisecond
	rc.SnapshotThreshold = 1024
	return rc
}

// LoadOrCreateNodeID returns the node id kept in dataDir/node-id, creating
// the directory and a new random UUID on first use.
func LoadOrCreateNodeID(dataDir string) (string, error) {
	path := filepath.Join(dataDir, "node-id")
	if b, err := os.ReadFile(path); err == nil {
		if id := strings.TrimSpace(string(b)); id != "" {
			return id, nil
		}
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return "", fmt.Errorf("create data dir: %w", err)
	}
	id := uuid.NewString()
	if err := os.WriteFile(path, []byte(id+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write node id: %w", err)
	}
	return id, nil
}

// advertiseAddr turns a bound listener address into the address peers
// should dial, replacing a wildcard host by advertise or a private IP.
func advertiseAddr(bound net.Addr, advertise string) (string, error) {
	host, port, err := net.SplitHostPort(bound.String())
	if err != nil {
		return "", fmt.Errorf("split %s: %w", bound, err)
	}
	if advertise != "" {
		host = advertise
	} else if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host, err = privateIP()
		if err != nil {
			return "", err
		}
	}
	return net.JoinHostPort(host, port), nil
}

// splitHostPort parses host:port with a numeric port.
func splitHostPort(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("address %q: %w", addr, err)
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return "", 0, fmt.Errorf("address %q: bad port: %w", addr, err)
	}
	return host, port, nil
}
