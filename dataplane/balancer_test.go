package dataplane

import (
	"fmt"
	"testing"

	"github.com/tollgate/tollgate/store"
)

func weight(n int) *int { return &n }

// testUpstream compiles a service with targets t0..tn of the given weights.
func testUpstream(t *testing.T, balancer string, weights ...int) *upstream {
	t.Helper()
	s := store.Service{Name: "s", Balancer: balancer}
	for i, w := range weights {
		s.Targets = append(s.Targets, store.Target{Target: fmt.Sprintf("t%d:80", i), Weight: weight(w)})
	}
	up, err := newUpstream(&s)
	if err != nil {
		t.Fatal(err)
	}
	return up
}

func TestRoundRobinWeights(t *testing.T) {
	tests := []struct {
		weights []int
		picks   int
		want    []int
	}{
		{[]int{95, 5}, 10000, []int{9500, 500}},
		{[]int{1, 1, 1}, 300, []int{100, 100, 100}},
		{[]int{5, 1, 1}, 700, []int{500, 100, 100}},
		{[]int{100, 0}, 100, []int{100, 0}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.weights), func(t *testing.T) {
			up := testUpstream(t, "", tt.weights...)
			got := make([]int, len(tt.weights))
			for range tt.picks {
				got[up.balancer.pick(0, 0).index]++
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("picks %v, want %v", got, tt.want)
			}
		})
	}
}

func TestRoundRobinIsSmooth(t *testing.T) {
	up := testUpstream(t, "", 5, 1, 1)
	var seq []int
	for range 7 {
		seq = append(seq, up.balancer.pick(0, 0).index)
	}
	// nginx's documented sequence for weights 5,1,1: a a b a c a a.
	if fmt.Sprint(seq) != "[0 0 1 0 2 0 0]" {
		t.Errorf("sequence %v", seq)
	}
}

func TestBalancersSkipUnavailableAndTried(t *testing.T) {
	for _, b := range []string{"round-robin", "least-connections", "consistent-hash"} {
		t.Run(b, func(t *testing.T) {
			up := testUpstream(t, b, 10, 10, 10)
			up.targets[0].activeDown.Store(true)
			for key := range uint64(50) {
				got := up.balancer.pick(key*7919, 1<<1)
				if got == nil || got.index != 2 {
					t.Fatalf("pick with t0 down and t1 tried = %v, want t2", got)
				}
			}
			up.targets[2].ejectedUntil.Store(1) // long expired: available again
			up.targets[1].activeDown.Store(true)
			if got := up.balancer.pick(1, 0); got == nil || got.index != 2 {
				t.Errorf("expired ejection: pick = %v", got)
			}
			up.targets[2].activeDown.Store(true)
			if got := up.balancer.pick(1, 0); got != nil {
				t.Errorf("all down: pick = t%d, want nil", got.index)
			}
		})
	}
}

func TestLeastConnections(t *testing.T) {
	up := testUpstream(t, "least-connections", 100, 100, 200)
	up.targets[0].inflight.Store(3)
	up.targets[1].inflight.Store(1)
	up.targets[2].inflight.Store(3) // 1.5 per weight unit of 100
	for range 10 {
		if got := up.balancer.pick(0, 0); got.index != 1 {
			t.Fatalf("pick = t%d, want t1 (fewest in flight)", got.index)
		}
	}
	up.targets[1].inflight.Store(2)
	if got := up.balancer.pick(0, 0); got.index != 2 {
		t.Errorf("pick = t%d, want t2 (least per weight)", got.index)
	}
	up.targets[0].inflight.Store(0)
	up.targets[1].inflight.Store(0)
	up.targets[2].inflight.Store(0)
	seen := map[int]bool{}
	for range 6 {
		seen[up.balancer.pick(0, 0).index] = true
	}
	if len(seen) != 3 {
		t.Errorf("ties did not rotate: %v", seen)
	}
}

func TestConsistentHash(t *testing.T) {
	up := testUpstream(t, "consistent-hash", 100, 100, 100, 100)
	owner := map[string]int{}
	counts := make([]int, 4)
	for i := range 4000 {
		k := fmt.Sprintf("user-%d", i)
		owner[k] = up.balancer.pick(fnv1a(k), 0).index
		counts[owner[k]]++
	}
	for i, c := range counts {
		if c < 600 || c > 1400 { // an even share is 1000
			t.Errorf("target %d owns %d of 4000 keys", i, c)
		}
	}
	up.targets[3].activeDown.Store(true)
	moved := 0
	for k, was := range owner {
		now := up.balancer.pick(fnv1a(k), 0).index
		switch {
		case was != 3 && now != was:
			moved++
		case now == 3:
			t.Fatalf("key %s still on the down target", k)
		}
	}
	if moved != 0 {
		t.Errorf("%d keys of healthy targets moved when another went down", moved)
	}
}

func TestRetryBackoff(t *testing.T) {
	p := newRetryPolicy(&store.Retry{MaxAttempts: 5, Backoff: store.Duration(100), MaxBackoff: store.Duration(350)})
	for n, max := range map[int]int64{1: 100, 2: 200, 3: 350, 4: 350} {
		for range 50 {
			if d := int64(p.wait(n)); d < max/2 || d > max {
				t.Fatalf("wait(%d) = %d, want %d..%d", n, d, max/2, max)
			}
		}
	}
}
