package cluster

import (
	"errors"
	"fmt"
	"sync"

	"github.com/hashicorp/memberlist"
)

// GossipHandler receives a message sent on a gossip channel.
type GossipHandler func(msg []byte)

// gossipChannels routes gossip messages by their first byte, the channel,
// so that other packages (the rate limiter) can share memberlist.
type gossipChannels struct {
	mu       sync.RWMutex
	handlers map[byte]GossipHandler
}

func newGossipChannels() *gossipChannels {
	return &gossipChannels{handlers: map[byte]GossipHandler{}}
}

func (g *gossipChannels) dispatch(msg []byte) {
	if len(msg) == 0 {
		return
	}
	g.mu.RLock()
	h := g.handlers[msg[0]]
	g.mu.RUnlock()
	if h != nil {
		h(msg[1:])
	}
}

// HandleGossip registers h for messages on channel ch, replacing any
// earlier handler. h runs on memberlist's goroutine and must not block;
// msg is only valid during the call.
func (n *Node) HandleGossip(ch byte, h GossipHandler) {
	n.gossip.mu.Lock()
	defer n.gossip.mu.Unlock()
	n.gossip.handlers[ch] = h
}

// ErrGossipTooLarge means a message would not fit one UDP packet.
var ErrGossipTooLarge = errors.New("gossip message too large")

// MaxGossipMessage is the largest payload SendGossip accepts: memberlist's
// UDP buffer less headroom for its framing.
const MaxGossipMessage = 1200

// SendGossip sends msg on channel ch to every other member that gossip
// considers alive, best effort over UDP. Messages may be lost or
// reordered; receivers must tolerate that.
func (n *Node) SendGossip(ch byte, msg []byte) error {
	if len(msg) > MaxGossipMessage {
		return fmt.Errorf("%w: %d bytes", ErrGossipTooLarge, len(msg))
	}
	buf := make([]byte, 0, len(msg)+1)
	buf = append(append(buf, ch), msg...)
	var errs []error
	for _, m := range n.members.snapshot() {
		if m.Name == n.cfg.NodeID || m.State != memberlist.StateAlive {
			continue
		}
		if err := n.ml.SendBestEffort(&m.node, buf); err != nil {
			errs = append(errs, fmt.Errorf("send to %s: %w", m.Name, err))
		}
	}
	return errors.Join(errs...)
}
