package limiter

import "github.com/tollgate/tollgate/cluster"

// *cluster.Node is a Transport, and HandleMessage fits its handler type.
var (
	_ Transport = (*cluster.Node)(nil)
	_           = func(n *cluster.Node, l *Limiter) { n.HandleGossip(l.Channel(), l.HandleMessage) }
	_           = [1]struct{}{}[MaxMessage-cluster.MaxGossipMessage]
)
