package limiter

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"
)

// Sizes on the wire.
const (
	// MaxMessage is the largest datagram the limiter sends; it matches
	// cluster.MaxGossipMessage.
	MaxMessage = 1200
	// MaxKeyLen is the longest key counted as is; longer keys are
	// replaced by a SHA-256 digest before counting.
	MaxKeyLen = 256
)

// Wire format, version 1. All integers are unsigned varints.
//
//	message = version:byte(1) flags:byte idLen id incarnation round [echo] count entry*
//	echo    = targetLen target targetIncarnation    (when flags has flagEcho)
//	entry   = policy windowMs epoch cur prev keyLen key
//
// cur and prev are the sender's own hits in windows epoch and epoch-1 of
// the (policy, windowMs, key) counter; in an echo they are the counts the
// target's previous incarnation reported to the sender (see echo.go).
const (
	wireVersion = 1
	// maxWindowMs bounds decoded windows (MaxWindow in milliseconds).
	maxWindowMs = uint64(MaxWindow / time.Millisecond)
	// countSlack is room reserved in a message for the entry count.
	countSlack = 2
	// minEntrySize is the smallest encoded entry: six one-byte varints.
	minEntrySize = 6
)

// wireEntry is one counter as carried in a message.
type wireEntry struct {
	policy    uint32
	windowMs  int64
	epoch     int64
	cur, prev int64
	key       string
}

// header identifies the sender of a message and its sync round, and
// for an echo the node (and incarnation) it is addressed to.
type header struct {
	nodeID      string
	incarnation uint64
	round       uint64
	target      string // "" for an ordinary message
	targetInc   uint64
}

// flagEcho marks a message that echoes a restarted node's counts to it.
const flagEcho = 1

func (h *header) flags() byte {
	if h.target != "" {
		return flagEcho
	}
	return 0
}

// message is a decoded datagram.
type message struct {
	header
	entries []wireEntry
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// size is the encoded size of the header, without the entry count.
func (h *header) size() int {
	n := 2 + uvarintLen(uint64(len(h.nodeID))) + len(h.nodeID) +
		uvarintLen(h.incarnation) + uvarintLen(h.round)
	if h.target != "" {
		n += uvarintLen(uint64(len(h.target))) + len(h.target) + uvarintLen(h.targetInc)
	}
	return n
}

// size is the encoded size of the entry.
func (e *wireEntry) size() int {
	return uvarintLen(uint64(e.policy)) + uvarintLen(uint64(e.windowMs)) +
		uvarintLen(uint64(e.epoch)) + uvarintLen(uint64(e.cur)) + uvarintLen(uint64(e.prev)) +
		uvarintLen(uint64(len(e.key))) + len(e.key)
}

// appendMessage encodes h and entries onto dst.
func appendMessage(dst []byte, h *header, entries []wireEntry) []byte {
	dst = append(dst, wireVersion, h.flags())
	dst = binary.AppendUvarint(dst, uint64(len(h.nodeID)))
	dst = append(dst, h.nodeID...)
	dst = binary.AppendUvarint(dst, h.incarnation)
	dst = binary.AppendUvarint(dst, h.round)
	if h.target != "" {
		dst = binary.AppendUvarint(dst, uint64(len(h.target)))
		dst = append(dst, h.target...)
		dst = binary.AppendUvarint(dst, h.targetInc)
	}
	dst = binary.AppendUvarint(dst, uint64(len(entries)))
	for i := range entries {
		e := &entries[i]
		dst = binary.AppendUvarint(dst, uint64(e.policy))
		dst = binary.AppendUvarint(dst, uint64(e.windowMs))
		dst = binary.AppendUvarint(dst, uint64(e.epoch))
		dst = binary.AppendUvarint(dst, uint64(e.cur))
		dst = binary.AppendUvarint(dst, uint64(e.prev))
		dst = binary.AppendUvarint(dst, uint64(len(e.key)))
		dst = append(dst, e.key...)
	}
	return dst
}

// decoder reads varints from a buffer, remembering the first error.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", ErrMalformedMessage, what)
	}
}

func (d *decoder) uvarint(what string, limit uint64) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 || v > limit {
		d.fail(what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes(what string, n uint64) string {
	if d.err != nil {
		return ""
	}
	if n > uint64(len(d.b)) {
		d.fail(what)
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

// decodeMessage parses b; it never panics and copies what it keeps.
func decodeMessage(b []byte) (message, error) {
	var m message
	if len(b) < 2 || len(b) > MaxMessage {
		return m, fmt.Errorf("%w: length %d", ErrMalformedMessage, len(b))
	}
	if b[0] != wireVersion || b[1]&^flagEcho != 0 {
		return m, fmt.Errorf("%w: version %d flags %d", ErrMalformedMessage, b[0], b[1])
	}
	d := decoder{b: b[2:]}
	m.nodeID = d.bytes("node id", d.uvarint("node id length", MaxNodeID))
	m.incarnation = d.uvarint("incarnation", math.MaxUint64)
	m.round = d.uvarint("round", math.MaxUint64)
	if b[1]&flagEcho != 0 {
		m.target = d.bytes("target", d.uvarint("target length", MaxNodeID))
		m.targetInc = d.uvarint("target incarnation", math.MaxUint64)
		if d.err == nil && m.target == "" {
			d.fail("empty echo target")
		}
	}
	n := d.uvarint("entry count", uint64(len(d.b)/minEntrySize))
	if d.err == nil && m.nodeID == "" {
		d.fail("empty node id")
	}
	if d.err == nil && n > 0 {
		m.entries = make([]wireEntry, 0, n)
	}
	for i := uint64(0); i < n && d.err == nil; i++ {
		m.entries = append(m.entries, d.entry())
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("trailing bytes")
	}
	if d.err != nil {
		return message{}, d.err
	}
	return m, nil
}

func (d *decoder) entry() wireEntry {
	var e wireEntry
	e.policy = uint32(d.uvarint("policy", math.MaxUint32))
	e.windowMs = int64(d.uvarint("window", maxWindowMs))
	e.epoch = int64(d.uvarint("epoch", math.MaxInt64))
	e.cur = int64(d.uvarint("count", math.MaxInt64))
	e.prev = int64(d.uvarint("previous count", math.MaxInt64))
	e.key = d.bytes("key", d.uvarint("key length", MaxKeyLen))
	if d.err == nil && e.windowMs == 0 {
		d.fail("zero window")
	}
	return e
}
