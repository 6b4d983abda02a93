package accesslog

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/tollgate/tollgate/dataplane"
)

// TestLinesAreSlogJSON: the direct encoder writes exactly what slog's
// JSONHandler writes for the same record and attributes.
func TestLinesAreSlogJSON(t *testing.T) {
	attrs := []slog.Attr{slog.String("node", "n\"1"), slog.Int("shard", 3), slog.Bool("b", true),
		slog.Duration("d", time.Second), slog.Any("err", errors.New("e")), slog.Any("list", []int{1, 2})}
	recs := []dataplane.AccessRecord{
		{},
		*record(200, "plain"),
		{Time: time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("x", 3600)), RequestID: "id", TraceID: [16]byte{1, 2},
			Method: "GET", Host: "h\u2028ost", Path: "/caf\xe9/\"q\"\\\n\t\r\x01\x7f<>&\u2029", RemoteAddr: "[::1]:5",
			Status: 502, Bytes: -1, Duration: 1234567, UpstreamTime: 999, Upstream: "10.0.0.1:80", Attempts: 3,
			Route: "r", Service: "s", Consumer: "ålice", Cache: "MISS", Reason: "upstream_unavailable",
			Err: errors.New("dial: \"refused\"")},
	}
	for i := range recs {
		var want bytes.Buffer
		h := slog.NewJSONHandler(&want, nil).WithAttrs(attrs)
		if err := h.Handle(context.Background(), recs[i].Record()); err != nil {
			t.Fatal(err)
		}
		if got := newLineEncoder(attrs).encode(&recs[i]); !bytes.Equal(got, want.Bytes()) {
			t.Errorf("record %d:\n got %s\nwant %s", i, got, want.Bytes())
		}
	}
}

func BenchmarkEncodeLine(b *testing.B) {
	e, rec := newLineEncoder([]slog.Attr{slog.String("node", "n1")}), record(200, "id")
	b.ReportAllocs()
	for range b.N {
		e.encode(rec)
	}
}

func BenchmarkSlogJSONLine(b *testing.B) {
	var buf bytes.Buffer
	h, rec := slog.NewJSONHandler(&buf, nil).WithAttrs([]slog.Attr{slog.String("node", "n1")}), record(200, "id")
	b.ReportAllocs()
	for range b.N {
		buf.Reset()
		_ = h.Handle(context.Background(), rec.Record())
	}
}

// TestTimeCacheMatchesAppendFormat: the cached formatting writes what
// t.AppendFormat(b, time.RFC3339Nano) writes, across seconds, zones,
// fractions with trailing zeros and years the cache leaves alone.
func TestTimeCacheMatchesAppendFormat(t *testing.T) {
	east, west := time.FixedZone("east", 5*3600+30*60), time.FixedZone("west", -7*3600)
	base := time.Date(2026, 11, 28, 2, 2, 8, 0, time.UTC)
	var times []time.Time
	for _, ns := range []int{0, 1, 10, 453325025, 453325000, 500000000, 999999999} {
		for _, loc := range []*time.Location{time.UTC, east, west, time.Local} {
			times = append(times, base.Add(time.Duration(ns)).In(loc), base.Add(time.Second+time.Duration(ns)).In(loc))
		}
	}
	times = append(times, time.Date(0, 1, 1, 0, 0, 0, 5, time.UTC), time.Date(1, 1, 1, 0, 0, 0, 5, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 120, east), time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(-5, 1, 1, 0, 0, 0, 7, time.UTC), time.Now(), time.Now())
	var c timeCache
	for i, tm := range times {
		want := tm.AppendFormat(nil, time.RFC3339Nano)
		if got := c.appendTime([]byte("x"), tm); string(got) != "x"+string(want) {
			t.Errorf("time %d: got %s, want x%s", i, got, want)
		}
	}
}

// TestClientIPMatchesSplitHostPort: ClientIP's fast path for ipv4:port
// agrees with net.SplitHostPort on every shape of address.
func TestClientIPMatchesSplitHostPort(t *testing.T) {
	for _, addr := range []string{"10.0.0.1:4000", "[::1]:5", "::1", "10.0.0.1", "10.0.0.1:", ":80", "host:1",
		"a:b:c", "[fe80::1%eth0]:9", "", "@"} {
		want := addr
		if ip, _, err := net.SplitHostPort(addr); err == nil {
			want = ip
		}
		rec := dataplane.AccessRecord{RemoteAddr: addr}
		if got := rec.ClientIP(); got != want {
			t.Errorf("ClientIP(%q) = %q, want %q", addr, got, want)
		}
	}
}
