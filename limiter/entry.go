package limiter

// entryKey identifies one counter: a policy, its window and a caller key.
type entryKey struct {
	policy   uint32
	windowMs int64
	key      string
}

// entry is the sliding-window state of one key: this node's exact counts
// and the last known counts of each peer, indexed by peer slot. Guarded by
// its shard's mutex.
type entry struct {
	k        entryKey
	hash     uint64 // key of the shard map
	hnext    *entry // next entry with the same hash
	windowNs int64

	epoch     int64 // window index of cur (unix nanos / windowNs)
	cur, prev int64 // this node's hits in epoch and epoch-1
	lastEpoch int64 // newest epoch of any count held
	active    int64 // unix nanos of the last move in the recency list

	peers []peerCount
	// ghost is what this node's previous incarnation admitted in the
	// current windows, echoed back by peers after a restart.
	ghost peerCount

	lru          *lruList
	prevE, nextE *entry

	dirty    bool // own counts changed since last sent
	dead     bool // removed from its shard
	overflow bool // local counter shared by untracked keys
}

// roll advances the own counts to epoch; it never moves backwards.
func (e *entry) roll(epoch int64) int64 {
	switch {
	case epoch <= e.epoch:
		return e.epoch
	case epoch == e.epoch+1:
		e.prev, e.cur = e.cur, 0
	default:
		e.prev, e.cur = 0, 0
	}
	e.epoch = epoch
	return epoch
}

// expired reports whether every count in e is at least two windows old,
// so that e no longer affects any decision.
func (e *entry) expired(now int64) bool {
	return e.lastEpoch < now/e.windowNs-1
}

// peer returns the count of slot i, growing e.peers as needed.
func (e *entry) peer(i int) *peerCount {
	if i >= len(e.peers) {
		if i < cap(e.peers) {
			e.peers = e.peers[:i+1]
		} else {
			grown := make([]peerCount, i+1, i+2)
			copy(grown, e.peers)
			e.peers = grown
		}
	}
	return &e.peers[i]
}

// peerCount is one peer's component of the G-counters of an entry.
type peerCount struct {
	gen       uint32 // slot generation the counts belong to
	epoch     int64
	cur, prev int64
	reportAt  int64   // unix nanos when the newest counts arrived
	round     uint64  // the slot's localRound of that report
	rate      float64 // observed admissions per nanosecond
}

// at returns the peer's counts for epoch and epoch-1.
func (c *peerCount) at(epoch int64) (cur, prev int64) {
	switch c.epoch {
	case epoch:
		return c.cur, c.prev
	case epoch - 1:
		return 0, c.cur
	}
	return 0, 0
}

// merge folds a report (epoch, cur, prev) in by max. It returns how many
// hits the report adds over what was known, when that can be told.
func (c *peerCount) merge(epoch, cur, prev int64) (delta int64, known bool) {
	switch {
	case epoch == c.epoch:
		delta = max(cur-c.cur, 0)
		c.cur, c.prev = max(c.cur, cur), max(c.prev, prev)
		return delta, true
	case epoch == c.epoch+1:
		old := c.cur
		c.epoch, c.cur, c.prev = epoch, cur, max(c.cur, prev)
		return c.prev - old + cur, true
	case epoch > c.epoch:
		c.epoch, c.cur, c.prev = epoch, cur, prev
	case epoch == c.epoch-1:
		c.prev = max(c.prev, cur)
	}
	return 0, false
}

// observe updates the rate estimate with a report that added delta hits
// at now, and records the report's time and round.
func (c *peerCount) observe(delta int64, known bool, now int64, round uint64) {
	if known && c.reportAt > 0 {
		if dt := now - c.reportAt; dt >= minRateSpan {
			inst := float64(delta) / float64(dt)
			if c.rate == 0 {
				c.rate = inst
			} else {
				c.rate = (c.rate + inst) / 2
			}
		}
	}
	c.reportAt, c.round = now, round
}

// minRateSpan is the shortest interval between reports that updates a
// rate; closer reports (reordering, split rounds) carry no rate signal.
const minRateSpan = int64(1_000_000)
