//go:build !linux

package dataplane

import (
	"errors"
	"net"
)

// startLoops reports that event loops need Linux: the server then uses
// goroutines.
func startLoops(*h1Server, net.Listener) (loopEngine, error) {
	return nil, errors.New("the epoll engine needs Linux")
}

// LoopStats is zero: there are no event loops off Linux.
func (g *Gateway) LoopStats() LoopStats { return LoopStats{} }

// giveBack has no loops to give a connection to.
func (c *h1ServerConn) giveBack() bool { return false }
