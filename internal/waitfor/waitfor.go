// Package waitfor lets tests wait on a condition with a deadline instead
// of sleeping and hoping.
package waitfor

import (
	"testing"
	"time"
)

// Condition polls cond every 10 ms until it holds, and fails the test if
// it does not hold within d. It returns how long the wait took.
func Condition(t testing.TB, d time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := time.After(d)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline:
			t.Fatalf("timed out after %s waiting for %s", d, what)
		case <-tick.C:
		}
	}
	return time.Since(start)
}
