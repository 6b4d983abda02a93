package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
)

// Node is one cluster member: a Raft peer plus a gossip member.
type Node struct {
	cfg Config
	log *slog.Logger
	fsm raft.FSM

	raft *raft.Raft
	// started is raft once Start has created it, for callers that may
	// run before Start (Voters).
	started    atomic.Pointer[raft.Raft]
	logStore   *raftboltdb.BoltStore
	transport  *raft.NetworkTransport
	mux        *mux
	raftAddr   string // advertised Raft address
	gossipAddr string // advertised gossip address
	ml         *memberlist.Memberlist
	members    *memberTable
	gossip     *gossipChannels

	servedVersion atomic.Uint64
	nudgeBoot     chan struct{} // wakes the bootstrap loop
	nudgeLeader   chan struct{} // wakes the leader loop

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	closed atomic.Bool
	// raftStopping closes just before Close shuts Raft down.
	raftStopping chan struct{}
}

// New prepares a node; Start brings it up.
func New(cfg Config, fsm raft.FSM) (*Node, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Node{
		cfg:          cfg,
		log:          cfg.Logger.With("component", "cluster"),
		fsm:          fsm,
		members:      newMemberTable(),
		gossip:       newGossipChannels(),
		nudgeBoot:    make(chan struct{}, 1),
		nudgeLeader:  make(chan struct{}, 1),
		ctx:          ctx,
		cancel:       cancel,
		raftStopping: make(chan struct{}),
	}, nil
}

// Start opens the Raft log, starts Raft and gossip, and begins joining
// peers. It returns once the node's listeners are bound; forming or
// joining the cluster continues in the background.
func (n *Node) Start() error {
	raftDir := filepath.Join(n.cfg.DataDir, "raft")
	if err := os.MkdirAll(raftDir, 0o700); err != nil {
		return fmt.Errorf("create raft dir: %w", err)
	}
	hasState, err := n.startRaft(raftDir)
	if err != nil {
		return err
	}
	if err := n.startGossip(); err != nil {
		n.shutdownRaft()
		return err
	}
	n.log.Info("node started", "id", n.cfg.NodeID, "raft", n.raftAddr,
		"gossip", n.GossipAddr(), "existing_state", hasState, "bootstrap_expect", n.cfg.BootstrapExpect)
	n.goLoop(n.joinLoop)
	if !hasState {
		n.goLoop(n.bootstrapLoop)
	}
	n.goLoop(n.leaderLoop)
	n.goLoop(n.metaLoop)
	return nil
}

func (n *Node) goLoop(fn func()) {
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		fn()
	}()
}

func (n *Node) startRaft(dir string) (bool, error) {
	logStore, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(dir, "raft.db")})
	if err != nil {
		return false, fmt.Errorf("open raft log: %w", err)
	}
	n.logStore = logStore
	hcl := newHCLogger(n.log, "raft")
	snaps, err := raft.NewFileSnapshotStoreWithLogger(dir, 2, hcl)
	if err != nil {
		logStore.Close()
		return false, fmt.Errorf("open snapshot store: %w", err)
	}
	ln, err := net.Listen("tcp", n.cfg.RaftAddr)
	if err != nil {
		logStore.Close()
		return false, fmt.Errorf("listen raft %s: %w", n.cfg.RaftAddr, err)
	}
	adv, err := advertiseAddr(ln.Addr(), n.cfg.Advertise)
	if err != nil {
		ln.Close()
		logStore.Close()
		return false, err
	}
	n.raftAddr = adv
	pt, err := newPeerTLS(n.cfg.Keys, n.cfg.NodeID)
	if err != nil {
		ln.Close()
		logStore.Close()
		return false, err
	}
	n.mux = newMux(ln, pt, stringAddr(adv), n.log)
	n.transport = raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream: raftLayer{n.mux}, MaxPool: 3, Timeout: 10 * time.Second, Logger: hcl,
	})
	hasState, err := raft.HasExistingState(logStore, logStore, snaps)
	if err != nil {
		n.transport.Close()
		logStore.Close()
		return false, fmt.Errorf("inspect raft state: %w", err)
	}
	rc := n.cfg.raftConfig()
	rc.Logger = hcl
	cache, err := raft.NewLogCache(512, logStore)
	if err != nil {
		n.transport.Close()
		logStore.Close()
		return false, fmt.Errorf("log cache: %w", err)
	}
	r, err := raft.NewRaft(rc, n.fsm, cache, logStore, snaps, n.transport)
	if err != nil {
		n.transport.Close()
		logStore.Close()
		return false, fmt.Errorf("start raft: %w", err)
	}
	n.raft = r
	n.started.Store(r)
	n.mux.serve(n.serveForward)
	return hasState, nil
}

// stringAddr is a net.Addr for an advertised host:port.
type stringAddr string

func (a stringAddr) Network() string { return "tcp" }
func (a stringAddr) String() string  { return string(a) }

// RaftAddr returns the advertised Raft address.
func (n *Node) RaftAddr() string { return n.raftAddr }

// ID returns the node id.
func (n *Node) ID() string { return n.cfg.NodeID }

// IsLeader reports whether this node is the Raft leader now.
func (n *Node) IsLeader() bool { return n.raft.State() == raft.Leader }

// SetServedVersion records the config version this node's data plane
// serves; it is published to peers through gossip.
func (n *Node) SetServedVersion(v uint64) { n.servedVersion.Store(v) }

// Close leaves the cluster in the documented order: stop background loops,
// hand leadership to another voter if this node leads, shut Raft down,
// leave gossip, then close the transport and the Raft log.
func (n *Node) Close() error {
	if !n.closed.CompareAndSwap(false, true) {
		return nil
	}
	n.cancel()
	var errs []error
	if n.raft != nil && n.raft.State() == raft.Leader && n.hasOtherVoters() {
		if err := n.raft.LeadershipTransfer().Error(); err != nil {
			n.log.Warn("leadership transfer", "err", err)
		} else {
			n.log.Info("leadership transferred")
		}
	}
	if n.ml != nil {
		if err := n.ml.Leave(time.Second); err != nil {
			n.log.Warn("gossip leave", "err", err)
		}
		errs = append(errs, n.ml.Shutdown())
	}
	close(n.raftStopping)
	errs = append(errs, n.shutdownRaft())
	n.wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close node: %w", err)
	}
	return nil
}

func (n *Node) shutdownRaft() error {
	var errs []error
	if n.raft != nil {
		errs = append(errs, n.raft.Shutdown().Error())
	}
	if n.transport != nil {
		errs = append(errs, n.transport.Close())
	}
	if n.logStore != nil {
		errs = append(errs, n.logStore.Close())
	}
	return errors.Join(errs...)
}

func (n *Node) hasOtherVoters() bool {
	f := n.raft.GetConfiguration()
	if f.Error() != nil {
		return false
	}
	for _, s := range f.Configuration().Servers {
		if s.Suffrage == raft.Voter && string(s.ID) != n.cfg.NodeID {
			return true
		}
	}
	return false
}

// wake nudges the bootstrap and leader loops without blocking.
func (n *Node) wake() {
	for _, ch := range []chan struct{}{n.nudgeBoot, n.nudgeLeader} {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// SetAdminAddr sets the admin API address published in gossip, for when
// it is known only after New (a listener on port 0). Call it before Start.
func (n *Node) SetAdminAddr(addr string) { n.cfg.AdminAddr = addr }
