package chaos

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// progress prints one line a second: elapsed time, requests, the leader,
// each node's config version, writes and the fault in progress.
func (r *runner) progress(ctx context.Context) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			fmt.Fprintln(r.cfg.Progress, r.progressLine(now))
		}
	}
}

func (r *runner) progressLine(now time.Time) string {
	tot, last := r.coll.progress(now)
	writes, _ := r.writes.records()
	acked := 0
	for _, w := range writes {
		if w.Acked {
			acked++
		}
	}
	active, _ := r.inj.status()
	vs := make([]string, 0, len(r.nodes))
	for _, v := range r.obs.versions() {
		vs = append(vs, fmt.Sprint(v))
	}
	leader := r.obs.leader()
	if leader == "" {
		leader = "none"
	}
	line := fmt.Sprintf("[%3ds/%ds] %4d req/s  sent %d ok %d failed %d retried %d | leader %s | versions %s | writes %d acked %d",
		int(now.Sub(r.start)/time.Second), int(r.cfg.Duration/time.Second), last.Sent, tot.Sent, tot.OK, tot.Failed,
		tot.Retried, leader, strings.Join(vs, "/"), len(writes), acked)
	if active != "" {
		line += " | " + active
	}
	return line
}
