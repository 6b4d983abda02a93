package limiter

import (
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

func benchLimiter(b *testing.B, keys int) (*Limiter, []string) {
	l, err := New(Options{NodeID: "bench", MaxKeys: 2 * keys})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(l.Close)
	ks := make([]string, keys)
	for i := range ks {
		ks[i] = "consumer:" + strconv.Itoa(i)
	}
	return l, ks
}

// BenchmarkAllow decides for an existing key on a tracked entry.
func BenchmarkAllow(b *testing.B) {
	l, ks := benchLimiter(b, 1024)
	p := &Policy{ID: 1, Limit: 1 << 40, Window: time.Second}
	for _, k := range ks {
		l.Allow(p, k)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		l.Allow(p, ks[i&1023])
	}
}

// BenchmarkAllowDenied decides for a key that is over its limit.
func BenchmarkAllowDenied(b *testing.B) {
	l, ks := benchLimiter(b, 1)
	p := &Policy{ID: 1, Limit: 1, Window: time.Hour}
	l.Allow(p, ks[0])
	b.ReportAllocs()
	for b.Loop() {
		l.Allow(p, ks[0])
	}
}

// BenchmarkAllowWithPeers includes eight peers' counts in each decision.
func BenchmarkAllowWithPeers(b *testing.B) {
	l, ks := benchLimiter(b, 1024)
	p := &Policy{ID: 1, Limit: 1 << 40, Window: time.Second}
	epoch := time.Now().UnixNano() / int64(time.Second)
	for peer := 0; peer < 8; peer++ {
		h := header{nodeID: "peer" + strconv.Itoa(peer), incarnation: 1, round: 1}
		var es []wireEntry
		for i, k := range ks {
			es = append(es, wireEntry{policy: 1, windowMs: 1000, epoch: epoch, cur: 1, key: k})
			if len(es) == 20 || i == len(ks)-1 {
				l.HandleMessage(appendMessage(nil, &h, es))
				es = es[:0]
			}
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		l.Allow(p, ks[i&1023])
	}
}

// BenchmarkAllowParallel decides from all Ps over 64k keys.
func BenchmarkAllowParallel(b *testing.B) {
	l, ks := benchLimiter(b, 1<<16)
	p := &Policy{ID: 1, Limit: 1 << 40, Window: time.Second}
	for _, k := range ks {
		l.Allow(p, k)
	}
	var seed atomic.Uint64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := seed.Add(7919)
		for pb.Next() {
			i = i*6364136223846793005 + 1442695040888963407
			l.Allow(p, ks[i>>48])
		}
	})
}

// BenchmarkHandleMessage merges a full message of 30 keys.
func BenchmarkHandleMessage(b *testing.B) {
	l, ks := benchLimiter(b, 30)
	epoch := time.Now().UnixNano() / int64(time.Second)
	h := header{nodeID: "peer", incarnation: 1, round: 1}
	var es []wireEntry
	for _, k := range ks {
		es = append(es, wireEntry{policy: 1, windowMs: 1000, epoch: epoch, cur: 1, key: k})
	}
	msg := appendMessage(nil, &h, es)
	b.ReportAllocs()
	for b.Loop() {
		l.HandleMessage(msg)
	}
}
