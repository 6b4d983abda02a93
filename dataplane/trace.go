package dataplane

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"net/http"
)

// W3C trace context (https://www.w3.org/TR/trace-context/). The gateway
// is one span of the trace: it keeps the trace id a client sends in a
// valid traceparent, and hands the upstream a traceparent with the same
// trace id and the gateway's own span id as the parent id. Without a
// valid traceparent it starts a trace. It records no spans itself.
//
// Sampling: a trace that comes in keeps its sampled flag (parent-based).
// A trace the gateway starts is sampled when the last 8 bytes of its
// random trace id, read as a big-endian number, fall below
// Options.TraceSample × 2^64, so the decision is a pure function of the
// trace id (like OpenTelemetry's TraceIdRatioBased sampler).

// Header names of the trace context, in canonical form.
const (
	headerTraceparent = "Traceparent"
	headerTracestate  = "Tracestate"
)

// traceparentLen is the length of a version 00 traceparent:
// "00-" 32 hex "-" 16 hex "-" 2 hex.
const traceparentLen = 55

// flagSampled is the sampled bit of the trace flags.
const flagSampled = 0x01

// traceContext is a request's place in a trace.
type traceContext struct {
	traceID  [16]byte
	parentID [8]byte // the caller's span; zero when the gateway started the trace
	spanID   [8]byte // the gateway's span: the parent id the upstream sees
	flags    byte
	// joined is true when the trace came in with the request, so its
	// tracestate travels on with it.
	joined bool
}

// sampler decides whether a trace the gateway starts is sampled.
type sampler struct {
	always    bool
	threshold uint64 // sampled when the trace id's low 8 bytes are below it
}

func newSampler(ratio float64) sampler {
	switch {
	case ratio >= 1:
		return sampler{always: true}
	case ratio <= 0 || math.IsNaN(ratio):
		return sampler{}
	}
	return sampler{threshold: uint64(ratio * (1 << 64))}
}

func (s sampler) sampled(traceID *[16]byte) bool {
	return s.always || binary.BigEndian.Uint64(traceID[8:]) < s.threshold
}

// startTrace joins the trace of the request's traceparent, or starts a new
// one when it has none or an invalid one (or several).
func startTrace(h http.Header, s sampler) traceContext {
	var tc traceContext
	if v := h[headerTraceparent]; len(v) == 1 && tc.parse(v[0]) {
		tc.joined = true
	} else {
		tc = traceContext{}
		fillRandom(tc.traceID[:])
		if s.sampled(&tc.traceID) {
			tc.flags = flagSampled
		}
	}
	fillRandom(tc.spanID[:])
	return tc
}

// fillRandom fills b (8 or 16 bytes) with random bytes, never all zero.
func fillRandom(b []byte) {
	for {
		for i := 0; i < len(b); i += 8 {
			binary.BigEndian.PutUint64(b[i:], rand.Uint64())
		}
		if !allZero(b) {
			return
		}
	}
}

// parse reads a traceparent into tc: strictly version 00 (exactly 55
// characters), or a later version read for its version 00 fields as the
// spec asks. Hex must be lowercase; version ff and all-zero ids are
// invalid. It reports whether s is valid.
func (tc *traceContext) parse(s string) bool {
	if len(s) < traceparentLen || s[2] != '-' || s[35] != '-' || s[52] != '-' {
		return false
	}
	var version [1]byte
	if !decodeHex(version[:], s[0:2]) || version[0] == 0xff {
		return false
	}
	if version[0] == 0 && len(s) != traceparentLen ||
		version[0] != 0 && len(s) > traceparentLen && s[traceparentLen] != '-' {
		return false
	}
	var flags [1]byte
	if !decodeHex(tc.traceID[:], s[3:35]) || !decodeHex(tc.parentID[:], s[36:52]) || !decodeHex(flags[:], s[53:55]) {
		return false
	}
	tc.flags = flags[0]
	return !allZero(tc.traceID[:]) && !allZero(tc.parentID[:])
}

// traceparent formats the header the upstream gets: version 00, the trace
// id, the gateway's span id as the parent, and the sampled flag (other
// flags are not defined for version 00 and are sent as zero).
func (tc *traceContext) traceparent() string {
	var b [traceparentLen]byte
	return string(tc.appendTraceparent(b[:0]))
}

// appendTraceparent appends the traceparent to dst.
func (tc *traceContext) appendTraceparent(dst []byte) []byte {
	var b [traceparentLen]byte
	b[0], b[1], b[2] = '0', '0', '-'
	encodeHex(b[3:35], tc.traceID[:])
	b[35] = '-'
	encodeHex(b[36:52], tc.spanID[:])
	b[52] = '-'
	encodeHex(b[53:55], []byte{tc.flags & flagSampled})
	return append(dst, b[:]...)
}

// child returns the context of a further call the gateway makes within
// its span (a mirror copy): the same trace and flags, the gateway's span
// as the parent and a new span id of its own, so that the callee's
// traceparent names this call rather than the gateway's main one.
func (tc *traceContext) child() traceContext {
	c := *tc
	c.parentID = tc.spanID
	fillRandom(c.spanID[:])
	return c
}

// setTraceHeaders puts the gateway's traceparent on an outbound request's
// headers (cloned from the client's). The client's tracestate goes on
// only with the trace it belongs to.
func setTraceHeaders(h http.Header, tc *traceContext) {
	h[headerTraceparent] = []string{tc.traceparent()}
	if !tc.joined {
		delete(h, headerTracestate)
	}
}

const hexDigits = "0123456789abcdef"

func encodeHex(dst, src []byte) {
	for i, c := range src {
		dst[2*i], dst[2*i+1] = hexDigits[c>>4], hexDigits[c&0x0f]
	}
}

// decodeHex decodes lowercase hex s into dst (len(s) == 2*len(dst)).
func decodeHex(dst []byte, s string) bool {
	for i := range dst {
		hi, ok1 := hexValue(s[2*i])
		lo, ok2 := hexValue(s[2*i+1])
		if !ok1 || !ok2 {
			return false
		}
		dst[i] = hi<<4 | lo
	}
	return true
}

func hexValue(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
