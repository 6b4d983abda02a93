//go:build !linux

package dataplane

import "net"

// acceptQueued is a no-op off Linux: closing the listener resets the
// clients in its queue there.
func acceptQueued(ln net.Listener) []net.Conn { return nil }
