package dataplane

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"testing"
)

// offlineResolver answers from /etc/hosts only: every DNS query fails at
// once.
var offlineResolver = &net.Resolver{PreferGo: true, Dial: func(context.Context, string, string) (net.Conn, error) {
	return nil, errors.New("no name server in this test")
}}

func TestResolveTargets(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name     string
		targets  []*target
		dialable bool
		dial     []string // each target's dialAddr after the lookups
	}{
		{"localhost, IPv4 preferred", []*target{{addr: "localhost:8080", weight: 1}}, true, []string{"127.0.0.1:8080"}},
		{"a name that does not resolve", []*target{{addr: "localhost:1", weight: 1}, {addr: "nowhere.invalid:2", weight: 1}}, false, []string{"127.0.0.1:1", ""}},
		{"out of rotation, not waited for", []*target{{addr: "localhost:1", weight: 1}, {addr: "nowhere.invalid:2", weight: 0}}, true, []string{"127.0.0.1:1", ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := &upstream{name: "svc", targets: tt.targets, resolver: offlineResolver, log: slog.New(slog.DiscardHandler)}
			up.resolveTargets(ctx)
			if got := up.dialable.Load(); got != tt.dialable {
				t.Errorf("dialable %v, want %v", got, tt.dialable)
			}
			for i, tg := range tt.targets {
				if got := tg.dialAddr(); got != tt.dial[i] {
					t.Errorf("target %s dials %q, want %q", tg.addr, got, tt.dial[i])
				}
			}
		})
	}
}

// TestFailedLookupKeepsTheLastAddress: a name server's failure does not
// take a resolved target away from the loops.
func TestFailedLookupKeepsTheLastAddress(t *testing.T) {
	last := "192.0.2.1:80"
	tg := &target{addr: "gone.invalid:80", weight: 1}
	tg.resolved.Store(&last)
	up := &upstream{name: "svc", targets: []*target{tg}, resolver: offlineResolver, log: slog.New(slog.DiscardHandler)}
	up.resolveTargets(context.Background())
	if !up.dialable.Load() || tg.dialAddr() != last {
		t.Fatalf("dialable %v, dials %q: want the last address %q kept", up.dialable.Load(), tg.dialAddr(), last)
	}
}
