package limiter

import (
	"math/rand/v2"
	"sort"
	"testing"
	"time"
)

// TestThreeNodesConvergeUnevenTraffic offers 3× the limit split 60/30/10
// over three nodes and checks every full window after the first.
func TestThreeNodesConvergeUnevenTraffic(t *testing.T) {
	const limit = 1000
	tests := []struct {
		name     string
		drop     float64 // probability a message is lost
		maxDelay int     // sync rounds a message may be held back
		tol      float64 // allowed relative error per window
	}{
		{name: "reliable", tol: 0.05},
		{name: "20% loss", drop: 0.2, tol: 0.05},
		{name: "delay and reorder", maxDelay: 1, tol: 0.05},
		{name: "50% loss and delay", drop: 0.5, maxDelay: 2, tol: 0.08},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newSimCluster(t, 3, nil)
			r := rand.New(rand.NewPCG(1, 2))
			c.net.drop = func(_, _ string) bool { return r.Float64() < tc.drop }
			c.net.delay = func(_, _ string) int { return r.IntN(tc.maxDelay + 1) }
			c.net.reverse = tc.maxDelay > 0
			p := &Policy{ID: 7, Limit: limit, Window: time.Second}
			got := c.run(load{policy: p, key: "consumer-a", rates: []float64{1800, 900, 300}, dur: 10 * time.Second})
			for i, n := range windowTotals(got) {
				t.Logf("window %d: admitted %d", i, n)
				if i == 0 {
					continue // warm-up: the window starts empty everywhere
				}
				if lo, hi := limit*(1-tc.tol), limit*(1+tc.tol); float64(n) < lo || float64(n) > hi {
					t.Errorf("window %d admitted %d, want %d ± %.0f%%", i, n, limit, tc.tol*100)
				}
			}
		})
	}
}

// sortedEpochs returns the windows of got in order.
func sortedEpochs(got map[int64][]int) []int64 {
	epochs := make([]int64, 0, len(got))
	for e := range got {
		epochs = append(epochs, e)
	}
	sort.Slice(epochs, func(i, j int) bool { return epochs[i] < epochs[j] })
	return epochs
}

// windowTotals returns the cluster-wide admitted count of each window, in
// order.
func windowTotals(got map[int64][]int) []int {
	epochs := sortedEpochs(got)
	out := make([]int, len(epochs))
	for i, e := range epochs {
		out[i] = sum(got[e])
	}
	return out
}
