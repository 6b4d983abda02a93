package dataplane

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/tollgate/tollgate/store"
)

// Defaults of active health checks.
const (
	defaultCheckInterval      = 5 * time.Second
	defaultCheckTimeout       = time.Second
	defaultHealthyThreshold   = 2
	defaultUnhealthyThreshold = 3
)

// activeCheck probes every target of an upstream in the background.
type activeCheck struct {
	path               string
	interval, timeout  time.Duration
	healthy, unhealthy int
}

func newActiveCheck(c *store.ActiveHealthCheck) *activeCheck {
	if c == nil {
		return nil
	}
	a := &activeCheck{
		path:      c.Path,
		interval:  orDefault(c.Interval.Std(), defaultCheckInterval),
		timeout:   orDefault(c.Timeout.Std(), defaultCheckTimeout),
		healthy:   c.HealthyThreshold,
		unhealthy: c.UnhealthyThreshold,
	}
	a.timeout = min(a.timeout, a.interval)
	if a.healthy <= 0 {
		a.healthy = defaultHealthyThreshold
	}
	if a.unhealthy <= 0 {
		a.unhealthy = defaultUnhealthyThreshold
	}
	return a
}

// start begins the upstream's background work (active health checks, and
// the lookups of its targets' names), logging to log. It is called once, when the upstream first goes live.
func (up *upstream) start(log *slog.Logger) {
	up.stopMu.Lock()
	defer up.stopMu.Unlock()
	up.log, up.started = log, true
	named := up.hasNamedTargets()
	if up.active == nil && !named || up.stopped {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	up.cancel = cancel
	if named {
		up.wg.Go(func() { up.resolveLoop(ctx) })
	}
	if up.active == nil {
		return
	}
	for _, t := range up.targets {
		if t.weight == 0 {
			continue
		}
		up.checking.Add(1)
		up.wg.Go(func() {
			defer up.checking.Add(-1)
			up.checkLoop(ctx, t)
		})
	}
}

// stop ends the upstream's background work and waits for it. Requests
// may still use the upstream; its health state just stops changing.
func (up *upstream) stop() {
	up.stopMu.Lock()
	up.stopped = true
	if up.cancel != nil {
		up.cancel()
	}
	up.stopMu.Unlock()
	up.wg.Wait()
}

// running reports whether the upstream was started and not stopped.
func (up *upstream) running() bool {
	up.stopMu.Lock()
	defer up.stopMu.Unlock()
	return up.started && !up.stopped
}

// checkLoop probes t every interval and flips its health after enough
// consecutive successes or failures.
func (up *upstream) checkLoop(ctx context.Context, t *target) {
	a := up.active
	tick := time.NewTicker(a.interval)
	defer tick.Stop()
	var ok, bad int
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if up.probe(ctx, t) {
			ok, bad = ok+1, 0
			if ok >= a.healthy && t.activeDown.Load() {
				t.activeDown.Store(false)
				up.log.Info("target healthy", "service", up.name, "target", t.addr, "successes", ok)
			}
			continue
		}
		ok, bad = 0, bad+1
		if bad >= a.unhealthy && !t.activeDown.Load() {
			t.activeDown.Store(true)
			up.log.Warn("target unhealthy", "service", up.name, "target", t.addr, "failures", bad)
		}
	}
}

// probe sends one health check; 2xx and 3xx within the timeout pass.
func (up *upstream) probe(ctx context.Context, t *target) bool {
	ctx, cancel := context.WithTimeout(ctx, up.active.timeout)
	defer cancel()
	u := up.scheme + "://" + t.addr + up.active.path
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return false
	}
	req.Header.Set("User-Agent", "tollgate-health-check")
	resp, err := up.transport.RoundTrip(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return resp.StatusCode >= 200 && resp.StatusCode < 400
}
