// Package fakeclock is a clock for tests: it stands still until the test
// moves it, so that expiry, max-age and freshness can be checked without
// waiting.
package fakeclock

import (
	"sync"
	"time"
)

// Start is where a new Clock stands: a whole second, so that an HTTP
// Date written from it has no rounding.
var Start = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// Clock is a clock that moves only by Advance. It is safe for concurrent
// use.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// New returns a Clock standing at Start.
func New() *Clock { return &Clock{t: Start} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
