package limiter

import (
	"math"
	"time"
)

// decide evaluates the sliding window of e at now against the share of
// limit that v leaves this node, counts the hit when it fits, and builds
// the Decision. s.mu is held. The overflow counter is local: it gets the
// node's fair share and no peer counts.
func (l *Limiter) decide(s *shard, e *entry, limit, now int64, v *view) Decision {
	epoch := e.roll(now / e.windowNs)
	frac := min(max(float64(now-epoch*e.windowNs)/float64(e.windowNs), 0), 1)
	prev, cur := float64(e.prev), float64(e.cur)
	scale, degraded := v.fairShare(), true
	if !e.overflow {
		p, c := l.peerCounts(e, epoch, now, v)
		gc, gp := e.ghost.at(epoch)
		prev, cur = prev+p+float64(gp), cur+c+float64(gc)
		scale, degraded = v.scale, v.degraded()
	}
	capacity := float64(limit) * scale
	est := prev*(1-frac) + cur
	d := Decision{
		Limit:    limit,
		Reset:    time.Duration(max((epoch+1)*e.windowNs-now, 0)),
		Degraded: degraded,
	}
	if est+1 <= capacity {
		e.cur++
		e.lastEpoch = epoch
		s.markDirty(e)
		d.Allowed = true
		est++
	} else {
		d.RetryAfter = retryAfter(prev, cur, capacity, frac, float64(e.windowNs))
	}
	d.Remaining = int64(min(max(math.Floor(capacity-est), 0), float64(limit)))
	return d
}

// peerCounts sums the peers' last reported counts of e for epoch and
// epoch-1 (fresh peers, and silent ones membership has dropped); cur
// includes, for fresh peers, the extrapolation of what each admitted since
// its last report, when that report is from the peer's newest round.
func (l *Limiter) peerCounts(e *entry, epoch, now int64, v *view) (prev, cur float64) {
	for i := range e.peers {
		pc := &e.peers[i]
		slot := &l.peers.slots[i]
		fresh := v.fresh&(1<<uint(i)) != 0
		if pc.gen != slot.gen.Load() || (!fresh && v.degraded()) {
			// A silent peer that membership still counts may be cut off
			// and admitting its own share: hold that share back instead.
			continue
		}
		// A silent peer that membership no longer counts is gone, and its
		// share is back with the survivors; what it admitted in these
		// windows stays admitted, or the survivors would admit it again.
		c, p := pc.at(epoch)
		cur += float64(c)
		prev += float64(p)
		if fresh && pc.rate > 0 && pc.round == slot.localRound.Load() {
			age := min(now-pc.reportAt, l.peerTimeoutNs)
			cur += pc.rate * float64(max(age, 0))
		}
	}
	return prev, cur
}

// minRetry is the smallest RetryAfter reported.
const minRetry = time.Millisecond

// retryAfter is the time until the estimate prev×(1−f)+cur leaves room
// for one hit under capacity, assuming no further hits. w is the window
// in nanoseconds and frac the elapsed fraction of the current window.
func retryAfter(prev, cur, capacity, frac, w float64) time.Duration {
	room := capacity - 1
	var t float64
	switch {
	case cur <= room && prev > 0:
		t = (1 - (room-cur)/prev - frac) * w
	case cur <= room:
		t = 0
	case room >= 0:
		t = (1-frac)*w + (1-room/cur)*w
	default:
		t = (2 - frac) * w
	}
	return max(time.Duration(math.Ceil(t)), minRetry)
}
