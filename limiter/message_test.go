package limiter

import (
	"encoding/binary"
	"errors"
	"math"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

func sampleMessage() message {
	return message{
		header: header{nodeID: "node-1", incarnation: math.MaxUint64, round: 42},
		entries: []wireEntry{
			{policy: 1, windowMs: 1000, epoch: 1_735_689_600, cur: 7, prev: 3, key: "consumer:alice"},
			{policy: math.MaxUint32, windowMs: int64(maxWindowMs), epoch: 0, cur: math.MaxInt64, key: ""},
			{policy: 9, windowMs: 3_600_000, epoch: 482_136, cur: 0, prev: 1, key: strings.Repeat("k", MaxKeyLen)},
		},
	}
}

func TestMessageRoundTrip(t *testing.T) {
	want := sampleMessage()
	b := appendMessage(nil, &want.header, want.entries)
	size := want.header.size() + uvarintLen(uint64(len(want.entries)))
	for i := range want.entries {
		size += want.entries[i].size()
	}
	if len(b) != size {
		t.Fatalf("encoded %d bytes, size() says %d", len(b), size)
	}
	got, err := decodeMessage(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, want)
	}
	echo := message{header: header{nodeID: "n2", incarnation: 5, round: 9, target: "n1", targetInc: math.MaxUint64},
		entries: want.entries[:1]}
	b = appendMessage(nil, &echo.header, echo.entries)
	if len(b) != echo.header.size()+1+echo.entries[0].size() {
		t.Fatalf("echo: encoded %d bytes, size() disagrees", len(b))
	}
	if got, err := decodeMessage(b); err != nil || !reflect.DeepEqual(got, echo) {
		t.Fatalf("echo round trip: %+v, %v", got, err)
	}
	empty := header{nodeID: "n", round: 1}
	if m, err := decodeMessage(appendMessage(nil, &empty, nil)); err != nil || m.entries != nil {
		t.Fatalf("heartbeat: %+v, %v", m, err)
	}
}

func TestDecodeRejectsMalformed(t *testing.T) {
	valid := func() []byte {
		m := sampleMessage()
		return appendMessage(nil, &m.header, m.entries[:1])
	}
	uv := func(b []byte, v uint64) []byte { return binary.AppendUvarint(b, v) }
	head := func(id string) []byte { return append(uv([]byte{1, 0}, uint64(len(id))), id...) }
	withEntry := func(fields ...uint64) []byte {
		b := uv(uv(uv(head("n"), 1), 1), 1) // incarnation, round, one entry
		for _, f := range fields {
			b = uv(b, f)
		}
		return b
	}
	tests := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"one byte", []byte{1}},
		{"bad version", append([]byte{2}, valid()[1:]...)},
		{"flags set", append([]byte{1, 1}, valid()[2:]...)},
		{"truncated", valid()[:len(valid())-1]},
		{"trailing byte", append(valid(), 0)},
		{"too long", append(valid(), make([]byte, MaxMessage)...)},
		{"empty node id", uv(uv(uv(head(""), 1), 1), 0)},
		{"node id too long", uv(uv(uv(head(strings.Repeat("n", MaxNodeID+1)), 1), 1), 0)},
		{"varint overflow", append(head("n"), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01)},
		{"count beyond bytes", uv(uv(uv(head("n"), 1), 1), 1000)},
		{"policy over uint32", withEntry(math.MaxUint32+1, 1000, 1, 1, 0, 0)},
		{"zero window", withEntry(1, 0, 1, 1, 0, 0)},
		{"window too long", withEntry(1, maxWindowMs+1, 1, 1, 0, 0)},
		{"count over int64", withEntry(1, 1000, 1, math.MaxInt64+1, 0, 0)},
		{"key too long", withEntry(1, 1000, 1, 1, 0, MaxKeyLen+1)},
		{"key beyond bytes", withEntry(1, 1000, 1, 1, 0, 5)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := decodeMessage(tc.b); !errors.Is(err, ErrMalformedMessage) {
				t.Fatalf("decode = %v, want ErrMalformedMessage", err)
			}
		})
	}
	l := newTestLimiter(t, newFakeClock(), nil)
	l.HandleMessage([]byte{9, 9, 9})
	if st := l.Stats(); st.Malformed != 1 || st.Received != 0 {
		t.Fatalf("stats after malformed message: %+v", st)
	}
}

func FuzzDecodeMessage(f *testing.F) {
	m := sampleMessage()
	f.Add(appendMessage(nil, &m.header, m.entries))
	f.Add(appendMessage(nil, &m.header, nil))
	echo := header{nodeID: "n2", round: 1, target: "n1", targetInc: 7}
	f.Add(appendMessage(nil, &echo, m.entries[:1]))
	f.Add([]byte{1, 0, 1, 'n', 0, 0, 1, 1, 1, 1, 1, 1, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeMessage(b)
		if err != nil {
			return
		}
		again, err := decodeMessage(appendMessage(nil, &m.header, m.entries))
		if err != nil || !reflect.DeepEqual(again, m) {
			t.Fatalf("re-encoding a decoded message: %v\n%+v\n%+v", err, m, again)
		}
	})
}

// TestFlushSplitsMessages: many changed keys go out in several messages,
// each within MaxMessage; MaxMessagesPerSync defers the rest.
func TestFlushSplitsMessages(t *testing.T) {
	const keys = 2000
	c := newSimCluster(t, 2, func(_ int, o *Options) { o.MaxMessagesPerSync = 4 })
	p := &Policy{ID: 1, Limit: 10, Window: time.Minute}
	for i := 0; i < keys; i++ {
		c.nodes[0].Allow(p, "key-"+strconv.Itoa(i)+strings.Repeat("x", i%50))
	}
	rounds := 0
	for ; c.nodes[1].Stats().Keys < keys; rounds++ {
		if rounds == 100 {
			t.Fatalf("peer tracks %d of %d keys after 100 rounds", c.nodes[1].Stats().Keys, keys)
		}
		c.syncFor(DefaultSyncInterval)
	}
	c.net.mu.Lock()
	defer c.net.mu.Unlock()
	for _, n := range c.net.sizes {
		if n > MaxMessage {
			t.Fatalf("message of %d bytes", n)
		}
	}
	if rounds < 2 {
		t.Fatalf("all %d keys fit in one round of 4 messages", keys)
	}
	t.Logf("%d keys sent in %d rounds, %d messages", keys, rounds, len(c.net.sizes))
}
