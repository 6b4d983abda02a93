package dataplane

import (
	"encoding/hex"
	"net/http"
	"strings"
	"testing"
)

const (
	testTraceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	testParent  = "00f067aa0ba902b7"
	testTP      = "00-" + testTraceID + "-" + testParent + "-01"
)

func TestParseTraceparent(t *testing.T) {
	tests := []struct {
		name, in string
		ok       bool
		flags    byte
	}{
		{"valid sampled", testTP, true, 1},
		{"valid not sampled", "00-" + testTraceID + "-" + testParent + "-00", true, 0},
		{"unknown flags kept on parse", "00-" + testTraceID + "-" + testParent + "-09", true, 9},
		{"future version with more fields", "01-" + testTraceID + "-" + testParent + "-01-extra", true, 1},
		{"future version exact", "cc-" + testTraceID + "-" + testParent + "-00", true, 0},
		{"version ff", "ff-" + testTraceID + "-" + testParent + "-01", false, 0},
		{"version 00 too long", testTP + "-x", false, 0},
		{"future version junk after", "01-" + testTraceID + "-" + testParent + "-01x", false, 0},
		{"uppercase trace id", "00-" + strings.ToUpper(testTraceID) + "-" + testParent + "-01", false, 0},
		{"uppercase version", "0A-" + testTraceID + "-" + testParent + "-01", false, 0},
		{"uppercase flags", "00-" + testTraceID + "-" + testParent + "-0A", false, 0},
		{"zero trace id", "00-" + strings.Repeat("0", 32) + "-" + testParent + "-01", false, 0},
		{"zero parent id", "00-" + testTraceID + "-" + strings.Repeat("0", 16) + "-01", false, 0},
		{"short", testTP[:54], false, 0},
		{"bad separator", strings.Replace(testTP, "-", "_", 1), false, 0},
		{"non-hex", "00-" + testTraceID[:31] + "g-" + testParent + "-01", false, 0},
		{"empty", "", false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var tc traceContext
			if got := tc.parse(tt.in); got != tt.ok {
				t.Fatalf("parse(%q) = %v, want %v", tt.in, got, tt.ok)
			}
			if !tt.ok {
				return
			}
			if hex.EncodeToString(tc.traceID[:]) != testTraceID || hex.EncodeToString(tc.parentID[:]) != testParent {
				t.Errorf("ids %x %x", tc.traceID, tc.parentID)
			}
			if tc.flags != tt.flags {
				t.Errorf("flags %02x, want %02x", tc.flags, tt.flags)
			}
		})
	}
}

func TestStartTrace(t *testing.T) {
	always, never := newSampler(1), newSampler(0)
	t.Run("joins a valid trace with a new span", func(t *testing.T) {
		h := http.Header{headerTraceparent: {testTP}}
		tc := startTrace(h, never)
		out := tc.traceparent()
		want := "00-" + testTraceID + "-" + hex.EncodeToString(tc.spanID[:]) + "-01"
		if !tc.joined || out != want || strings.Contains(out, testParent) {
			t.Errorf("traceparent %q, want %q (joined %v)", out, want, tc.joined)
		}
	})
	t.Run("only the sampled flag goes on", func(t *testing.T) {
		tc := startTrace(http.Header{headerTraceparent: {"00-" + testTraceID + "-" + testParent + "-ff"}}, never)
		if out := tc.traceparent(); !strings.HasSuffix(out, "-01") {
			t.Errorf("traceparent %q, want flags 01", out)
		}
	})
	for name, h := range map[string]http.Header{
		"absent":   {},
		"invalid":  {headerTraceparent: {strings.ToUpper(testTP)}},
		"repeated": {headerTraceparent: {testTP, testTP}},
	} {
		t.Run("starts a trace when "+name, func(t *testing.T) {
			tc := startTrace(h, always)
			var back traceContext
			if tc.joined || !back.parse(tc.traceparent()) || back.flags != flagSampled {
				t.Fatalf("started trace %q is not a valid sampled traceparent", tc.traceparent())
			}
			if hex.EncodeToString(tc.traceID[:]) == testTraceID {
				t.Error("kept the invalid trace id")
			}
			if startTrace(h, never).flags != 0 {
				t.Error("sampled at ratio 0")
			}
		})
	}
}

func TestSamplerRatio(t *testing.T) {
	s := newSampler(0.25)
	n, sampled := 20000, 0
	for range n {
		tc := startTrace(http.Header{}, s)
		if tc.flags&flagSampled != 0 {
			sampled++
			if !s.sampled(&tc.traceID) {
				t.Fatal("the decision is not a function of the trace id")
			}
		}
	}
	if got := float64(sampled) / float64(n); got < 0.22 || got > 0.28 {
		t.Errorf("sampled %.3f of new traces, want about 0.25", got)
	}
}

func TestSetTraceHeaders(t *testing.T) {
	joined := startTrace(http.Header{headerTraceparent: {testTP}}, newSampler(1))
	h := http.Header{headerTraceparent: {testTP}, headerTracestate: {"vendor=x"}}
	setTraceHeaders(h, &joined)
	if h.Get(headerTracestate) != "vendor=x" || h.Get(headerTraceparent) != joined.traceparent() {
		t.Errorf("joined trace: headers %v", h)
	}
	fresh := startTrace(http.Header{}, newSampler(1))
	h = http.Header{headerTracestate: {"vendor=x"}}
	setTraceHeaders(h, &fresh)
	if _, ok := h[headerTracestate]; ok {
		t.Errorf("tracestate of no trace passed on: %v", h)
	}
}
