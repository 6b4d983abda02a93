package dataplane

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"time"
)

// The event loops dial IP addresses only: a name lookup would block the
// loop. For a target given by name, the upstream looks the name up in the
// background (resolveLoop) and keeps the answer on the target, for the
// loops to dial (target.dialAddr). The goroutine path dials the name
// itself, as net.Dialer does, on every new connection.

// Timing of the background lookups.
const (
	resolveEvery   = 5 * time.Second // as Envoy's default DNS refresh rate
	resolveTimeout = 5 * time.Second // one lookup
)

var errNoAddress = errors.New("the name has no address")

// dialAddr returns the ip:port the event loops dial for t: its address, or
// the last resolution of its name; "" while the name has none.
func (t *target) dialAddr() string {
	if p := t.resolved.Load(); p != nil {
		return *p
	}
	return ""
}

// named reports whether t's address is a name, to be resolved.
func (t *target) named() bool {
	_, err := netip.ParseAddrPort(t.addr)
	return err != nil
}

// resolveLoop looks up the names of up's targets now and every
// resolveEvery until ctx ends.
func (up *upstream) resolveLoop(ctx context.Context) {
	tick := time.NewTicker(resolveEvery)
	defer tick.Stop()
	for {
		up.resolveTargets(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// resolveTargets looks up every named target in rotation. A failed lookup
// keeps the last address: a name server's hiccup does not take a target
// away.
func (up *upstream) resolveTargets(ctx context.Context) {
	for _, t := range up.targets {
		if t.weight == 0 || !t.named() {
			continue
		}
		up.noteLookup(t, t.resolve(ctx, up.resolver), ctx.Err() != nil)
	}
}

// dialable reports whether every target in rotation has an address for
// the loops to dial; until then they dial the names off the loop
// (dialByName).
func (up *upstream) dialable() bool {
	for _, t := range up.targets {
		if t.weight != 0 && t.dialAddr() == "" {
			return false
		}
	}
	return true
}

// noteLookup logs a lookup of t's name that failed after one that did
// not, and the first one that answers after that: a name that stays
// unresolvable is logged once, not every resolveEvery.
func (up *upstream) noteLookup(t *target, err error, stopping bool) {
	switch {
	case stopping:
	case err != nil && !t.lookupFailed:
		t.lookupFailed = true
		up.log.Warn("upstream target: name lookup failed; the last address stays in use, and the lookup is retried every "+resolveEvery.String(),
			"service", up.name, "target", t.addr, "err", err)
	case err == nil && t.lookupFailed:
		t.lookupFailed = false
		up.log.Info("upstream target: name lookup answers again", "service", up.name, "target", t.addr, "address", t.dialAddr())
	}
}

// resolve looks up t's name and keeps its first address, IPv4 preferred
// (as a server given by name mostly listens there; "localhost" resolves
// to ::1 first).
func (t *target) resolve(ctx context.Context, r *net.Resolver) error {
	if r == nil {
		r = net.DefaultResolver
	}
	host, portText, err := net.SplitHostPort(t.addr)
	if err != nil {
		return err
	}
	port, err := strconv.ParseUint(portText, 10, 16)
	if err != nil {
		return fmt.Errorf("port %q: %w", portText, err)
	}
	ctx, cancel := context.WithTimeout(ctx, resolveTimeout)
	defer cancel()
	ips, err := r.LookupNetIP(ctx, "ip4", host)
	if err != nil || len(ips) == 0 {
		ips, err = r.LookupNetIP(ctx, "ip", host)
	}
	if err != nil {
		return err
	}
	if len(ips) == 0 {
		return errNoAddress
	}
	cur := t.resolved.Load()
	for _, ip := range ips {
		if cur != nil && netip.AddrPortFrom(ip.Unmap(), uint16(port)).String() == *cur {
			return nil // still one of the name's: keep the one that answered (dialByName)
		}
	}
	addr := netip.AddrPortFrom(ips[0].Unmap(), uint16(port)).String()
	t.resolved.Store(&addr)
	return nil
}
