package dataplane

import (
	"slices"
	"sync/atomic"
	"time"

	"github.com/tollgate/tollgate/store"
)

// target is one upstream instance and its health. The request path reads
// it with atomic loads only.
type target struct {
	addr   string // host:port
	weight int    // 0: out of rotation
	index  int    // position in upstream.targets

	inflight     atomic.Int64           // requests sent and not finished
	activeDown   atomic.Bool            // marked unhealthy by active checks
	ejectedUntil atomic.Int64           // unix nanoseconds; 0 when not ejected
	failures     atomic.Int32           // consecutive passive failures
	resolved     atomic.Pointer[string] // the ip:port the event loops dial (see dialAddr)
	lookupFailed bool                   // the last lookup of the name failed; only resolveLoop touches it
}

// available reports whether the target may get traffic now.
func (t *target) available() bool {
	if t.weight == 0 || t.activeDown.Load() {
		return false
	}
	until := t.ejectedUntil.Load()
	return until == 0 || time.Now().UnixNano() >= until
}

// Defaults of passive health checks.
const (
	defaultConsecutiveFailures = 5
	defaultEjectionTime        = 30 * time.Second
)

// passiveCheck ejects targets after consecutive failed requests.
type passiveCheck struct {
	threshold int32
	ejection  time.Duration
	statuses  []int // answers counted as failures
}

func newPassiveCheck(c *store.PassiveHealthCheck) *passiveCheck {
	if c == nil {
		return nil
	}
	p := &passiveCheck{
		threshold: int32(c.ConsecutiveFailures),
		ejection:  orDefault(c.EjectionTime.Std(), defaultEjectionTime),
		statuses:  c.FailureStatuses,
	}
	if p.threshold <= 0 {
		p.threshold = defaultConsecutiveFailures
	}
	if len(p.statuses) == 0 {
		p.statuses = []int{500, 502, 503, 504}
	}
	return p
}

// failed reports whether an answer with status counts as a failure.
func (p *passiveCheck) failed(status int) bool {
	return slices.Contains(p.statuses, status)
}

// observe records the outcome of one attempt on t: status 0 means the
// attempt failed without an answer. It reports whether t got ejected, and
// then tells onEject.
func (up *upstream) observe(t *target, status int) (ejected bool) {
	p := up.passive
	if p == nil {
		return false
	}
	if status != 0 && !p.failed(status) {
		if t.failures.Load() != 0 {
			t.failures.Store(0)
		}
		return false
	}
	if t.failures.Add(1) < p.threshold {
		return false
	}
	t.failures.Store(0)
	t.ejectedUntil.Store(time.Now().Add(p.ejection).UnixNano())
	up.log.Warn("target ejected after consecutive failures", "service", up.name, "target", t.addr,
		"failures", p.threshold, "for", p.ejection)
	if up.onEject != nil {
		up.onEject(up.name, t.addr)
	}
	return true
}
