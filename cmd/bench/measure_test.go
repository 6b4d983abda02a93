package main

import (
	"testing"
	"time"
)

func TestPairedAdded(t *testing.T) {
	us := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Microsecond
		}
		return out
	}
	// The machine drifts by 80 µs between rounds: the medians of the raw
	// p50s mix rounds, the paired differences do not.
	direct := result{openP50s: us(140, 140, 220, 220, 220)}
	proxy := result{openP50s: us(270, 270, 350, 350, 350)}
	if got := pairedAdded(proxy, direct); got != 130*time.Microsecond {
		t.Errorf("paired added %v, want 130µs", got)
	}
	if got := pairedAdded(result{openP50s: us(300)}, direct); got != 160*time.Microsecond {
		t.Errorf("with fewer rounds than direct: %v, want 160µs", got)
	}
}

func TestPostBody(t *testing.T) {
	for _, n := range []int{8, 60, 512} {
		if got := len(postBody(n)); got != n {
			t.Errorf("postBody(%d) is %d bytes", n, got)
		}
	}
}
