package accesslog

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
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
