package limiter

import (
	"fmt"
	"time"
)

// Common policy windows.
const (
	Second = time.Second
	Minute = time.Minute
	Hour   = time.Hour
)

// MaxWindow is the longest supported policy window.
const MaxWindow = 31 * 24 * time.Hour

// Policy is one rate limit: at most Limit hits per Window for each key.
// Every node must use the same ID for the same (Limit, Window); the ID is
// what travels in gossip.
type Policy struct {
	// ID identifies the policy cluster-wide.
	ID uint32
	// Limit is the number of hits admitted per window; 0 admits nothing.
	Limit int64
	// Window is the window length: a whole number of milliseconds,
	// typically Second, Minute or Hour, at most MaxWindow.
	Window time.Duration
}

// Validate reports whether p can be enforced; Allow denies every request
// made under a policy that does not validate.
func (p *Policy) Validate() error {
	switch {
	case p.Limit < 0:
		return fmt.Errorf("%w: negative limit %d", ErrInvalidPolicy, p.Limit)
	case p.Window < time.Millisecond || p.Window > MaxWindow:
		return fmt.Errorf("%w: window %v outside [1ms, %v]", ErrInvalidPolicy, p.Window, MaxWindow)
	case p.Window%time.Millisecond != 0:
		return fmt.Errorf("%w: window %v is not whole milliseconds", ErrInvalidPolicy, p.Window)
	}
	return nil
}

func (p *Policy) valid() bool {
	return p.Limit >= 0 && p.Window >= time.Millisecond && p.Window <= MaxWindow &&
		p.Window%time.Millisecond == 0
}

// Decision is the answer for one request, with what rate-limit headers
// need.
type Decision struct {
	// Allowed reports whether the request is admitted (and was counted).
	Allowed bool
	// Limit is the policy's configured limit.
	Limit int64
	// Remaining is how many more requests the node would admit now.
	Remaining int64
	// Reset is the time until the current window ends and its count
	// starts to decay.
	Reset time.Duration
	// RetryAfter is, for a denied request, the time until a request would
	// be admitted if no other hits arrive; 0 when allowed.
	RetryAfter time.Duration
	// Degraded reports that the decision used a reduced share of the limit
	// (unreachable peers or the key-cap overflow counter).
	Degraded bool
}
