package dataplane

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
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
			if got := up.dialable(); got != tt.dialable {
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
	if !up.dialable() || tg.dialAddr() != last {
		t.Fatalf("dialable %v, dials %q: want the last address %q kept", up.dialable(), tg.dialAddr(), last)
	}
}

// TestUnresolvableNameLogsOnce: a name that never resolves is logged
// when its lookups start failing, not on every lookup, and once more when
// they answer again.
func TestUnresolvableNameLogsOnce(t *testing.T) {
	var logged bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logged, nil))
	tg := &target{addr: "nowhere.invalid:80", weight: 1}
	up := &upstream{name: "svc", targets: []*target{tg}, resolver: offlineResolver, log: log}
	for range 3 {
		up.resolveTargets(context.Background())
	}
	if n := strings.Count(logged.String(), "name lookup failed"); n != 1 {
		t.Fatalf("%d warnings for 3 failed lookups, want 1:\n%s", n, logged.String())
	}
	up.noteLookup(tg, nil, false)
	up.noteLookup(tg, nil, false)
	if n := strings.Count(logged.String(), "answers again"); n != 1 {
		t.Fatalf("%d recoveries logged for 2 good lookups after failures, want 1:\n%s", n, logged.String())
	}
	up.resolveTargets(context.Background())
	if n := strings.Count(logged.String(), "name lookup failed"); n != 2 {
		t.Fatalf("a failure after a recovery: %d warnings in all, want 2", n)
	}
}
