package cluster

import (
	"encoding/json"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/hashicorp/memberlist"
)

// nodeMeta is what each member publishes about itself through gossip. It
// must stay under memberlist.MetaMaxSize (512 bytes) when encoded.
type nodeMeta struct {
	ID           string `json:"id"`
	Raft         string `json:"r"`
	Admin        string `json:"a,omitempty"`
	Expect       int    `json:"e"`
	Bootstrapped bool   `json:"b,omitempty"`
	Version      uint64 `json:"v"`
}

func (n *Node) localMeta() nodeMeta {
	return nodeMeta{
		ID:           n.cfg.NodeID,
		Raft:         n.raftAddr,
		Admin:        n.cfg.AdminAddr,
		Expect:       n.cfg.BootstrapExpect,
		Bootstrapped: n.raft.LastIndex() > 0,
		Version:      n.servedVersion.Load(),
	}
}

func (n *Node) startGossip() error {
	mc := memberlist.DefaultLANConfig()
	mc.Name = n.cfg.NodeID
	host, port, err := splitHostPort(n.cfg.GossipAddr)
	if err != nil {
		return fmt.Errorf("gossip address: %w", err)
	}
	if host == "" {
		host = "0.0.0.0"
	}
	mc.BindAddr, mc.BindPort = host, port
	if n.cfg.Advertise != "" {
		ip, err := resolveIP(n.cfg.Advertise)
		if err != nil {
			return fmt.Errorf("advertise address: %w", err)
		}
		mc.AdvertiseAddr = ip
	}
	if len(n.cfg.Keys) > 0 {
		keys := gossipKeys(n.cfg.Keys)
		kr, err := memberlist.NewKeyring(keys, keys[0])
		if err != nil {
			return fmt.Errorf("gossip keyring: %w", err)
		}
		mc.Keyring = kr
		mc.GossipVerifyIncoming, mc.GossipVerifyOutgoing = true, true
	} else {
		n.log.Warn("no cluster key: gossip, Raft and write forwarding are unauthenticated; set --cluster-key")
	}
	scaleGossip(mc, n.cfg.GossipInterval)
	mc.Delegate = &delegate{n: n}
	mc.Events = &eventDelegate{n: n}
	mc.Logger = newStdLogger(n.log.With("sub", "memberlist"))
	ml, err := memberlist.Create(mc)
	if err != nil {
		return fmt.Errorf("start gossip on %s: %w", n.cfg.GossipAddr, err)
	}
	n.ml = ml
	// Read the bound address once: memberlist rewrites its local node
	// (meta, address) on every UpdateNode, so reading it later races.
	ln := ml.LocalNode()
	n.gossipAddr = net.JoinHostPort(ln.Addr.String(), strconv.Itoa(int(ln.Port)))
	return nil
}

// scaleGossip sets memberlist's failure-detection timings from one probe
// interval, keeping DefaultLANConfig's ratios.
func scaleGossip(mc *memberlist.Config, probe time.Duration) {
	mc.ProbeInterval = probe
	mc.ProbeTimeout = probe / 2
	mc.GossipInterval = probe / 5
	mc.SuspicionMult = 4
}

func resolveIP(host string) (string, error) {
	if ip := net.ParseIP(host); ip != nil {
		return host, nil
	}
	ips, err := net.LookupIP(host)
	if err != nil {
		return "", fmt.Errorf("resolve %s: %w", host, err)
	}
	for _, ip := range ips {
		if ip.To4() != nil {
			return ip.String(), nil
		}
	}
	return ips[0].String(), nil
}

// GossipAddr returns the advertised gossip address.
func (n *Node) GossipAddr() string { return n.gossipAddr }

// joinLoop joins the --join peers, retrying until one answers, then
// re-joins now and then while fewer members are alive than were listed,
// so a healed partition or restarted peers merge back.
func (n *Node) joinLoop() {
	if len(n.cfg.Join) == 0 {
		return
	}
	backoff := 200 * time.Millisecond
	joined := false
	for {
		if !joined || n.ml.NumMembers() < len(n.cfg.Join)+1 {
			count, err := n.ml.Join(n.cfg.Join)
			switch {
			case count > 0 && !joined:
				joined = true
				n.log.Info("joined cluster gossip", "contacted", count, "members", n.ml.NumMembers())
				n.wake()
			case count == 0:
				n.log.Debug("join attempt failed", "peers", n.cfg.Join, "err", err)
			}
		}
		wait := backoff
		if joined {
			wait = 10 * n.cfg.GossipInterval
		} else {
			backoff = min(backoff*2, 5*time.Second)
		}
		select {
		case <-n.ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// metaLoop republishes this node's metadata when it changes (served
// version, bootstrapped flag).
func (n *Node) metaLoop() {
	last := n.localMeta()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-tick.C:
		}
		if cur := n.localMeta(); cur != last {
			if err := n.ml.UpdateNode(time.Second); err != nil {
				n.log.Debug("publish metadata", "err", err)
				continue
			}
			last = cur
		}
	}
}

// delegate answers memberlist's questions about this node and carries
// gossip-channel messages.
type delegate struct{ n *Node }

func (d *delegate) NodeMeta(limit int) []byte {
	b, _ := json.Marshal(d.n.localMeta())
	if len(b) > limit {
		d.n.log.Error("node metadata too large", "bytes", len(b), "limit", limit)
		return nil
	}
	return b
}

func (d *delegate) NotifyMsg(msg []byte)                       { d.n.gossip.dispatch(msg) }
func (d *delegate) GetBroadcasts(overhead, limit int) [][]byte { return nil }
func (d *delegate) LocalState(join bool) []byte                { return nil }
func (d *delegate) MergeRemoteState(buf []byte, join bool)     {}

// eventDelegate keeps the member table current and wakes the loops.
type eventDelegate struct{ n *Node }

func (e *eventDelegate) NotifyJoin(node *memberlist.Node)   { e.n.members.update(node); e.n.wake() }
func (e *eventDelegate) NotifyLeave(node *memberlist.Node)  { e.n.members.gone(node); e.n.wake() }
func (e *eventDelegate) NotifyUpdate(node *memberlist.Node) { e.n.members.update(node); e.n.wake() }
