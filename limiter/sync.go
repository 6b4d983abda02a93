package limiter

import "sync"

// sweepBudget bounds the expired entries one shard drops per tick.
const sweepBudget = 1024

// syncState is the sender side of gossip, owned by the sync loop.
type syncState struct {
	mu      sync.Mutex
	round   uint64
	next    int         // shard the next flush starts with
	entries []wireEntry // reused between flushes
	echoes  []echo      // reused between flushes
	cuts    []int       // end index in entries of each message
	buf     []byte
}

func (l *Limiter) tick() { l.tickAt(l.now().UnixNano()) }

// tickAt runs one sync round at now: refresh membership, send changed
// counts, drop expired entries.
func (l *Limiter) tickAt(now int64) {
	l.refreshMembers()
	l.flush(now)
	l.sweep(now)
}

// refreshMembers caches the membership count and the cluster size for
// the request path.
func (l *Limiter) refreshMembers() {
	if l.opts.LivePeers != nil {
		l.members.Store(int64(max(l.opts.LivePeers(), 0)))
	}
	if l.opts.ClusterSize != nil {
		l.clusterSize.Store(int64(max(l.opts.ClusterSize(), 0)))
	}
}

func (l *Limiter) sweep(now int64) {
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		s.sweep(now, sweepBudget)
		s.mu.Unlock()
	}
}

// flush sends this node's counts for the keys changed since the last
// flush, packed in as few messages as fit, or one empty message as a
// heartbeat. Changes beyond MaxMessagesPerSync messages wait.
func (l *Limiter) flush(now int64) {
	st := &l.sync
	st.mu.Lock()
	defer st.mu.Unlock()
	st.round++
	h := header{nodeID: l.opts.NodeID, incarnation: l.incarnation, round: st.round}
	pk := packer{room: MaxMessage - h.size() - countSlack, maxMsgs: l.opts.MaxMessagesPerSync}
	st.entries, st.cuts = st.entries[:0], st.cuts[:0]
	for i := 0; i < numShards; i++ {
		l.collect(&l.shards[(st.next+i)%numShards], &pk, st)
	}
	st.next = (st.next + 1) % numShards
	st.cuts = append(st.cuts, len(st.entries))
	if l.opts.Transport == nil {
		return
	}
	start := 0 // with no entries, one empty message goes out as a heartbeat
	for _, end := range st.cuts {
		st.buf = appendMessage(st.buf[:0], &h, st.entries[start:end])
		l.send(st.buf)
		start = end
	}
	l.sendEchoes(st, now)
}

func (l *Limiter) send(msg []byte) {
	if err := l.opts.Transport.SendGossip(l.opts.Channel, msg); err != nil {
		l.stats.sendErrors.Add(1)
		l.log.Debug("gossip send failed", "err", err)
		return
	}
	l.stats.sent.Add(1)
}

// collect moves the dirty entries of s into st while the packer has
// room; the rest stay dirty for the next flush.
func (l *Limiter) collect(s *shard, pk *packer, st *syncState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	kept := s.dirty[:0]
	for _, e := range s.dirty {
		if e.dead {
			continue
		}
		w := wireEntry{policy: e.k.policy, windowMs: e.k.windowMs, epoch: e.epoch,
			cur: e.cur, prev: e.prev, key: e.k.key}
		cut, ok := pk.add(w.size())
		if !ok {
			kept = append(kept, e)
			continue
		}
		if cut {
			st.cuts = append(st.cuts, len(st.entries))
		}
		e.dirty = false
		st.entries = append(st.entries, w)
	}
	clear(s.dirty[len(kept):])
	s.dirty = kept
}

// packer splits entries into messages of at most room bytes each.
type packer struct {
	room, maxMsgs int
	used, msgs    int
}

// add reserves n bytes; cut reports that the entry starts a new message,
// ok false that no message has room.
func (p *packer) add(n int) (cut, ok bool) {
	if p.msgs == 0 {
		p.msgs = 1
	}
	if p.used+n <= p.room {
		p.used += n
		return false, true
	}
	if p.msgs == p.maxMsgs || n > p.room {
		return false, false
	}
	p.msgs++
	p.used = n
	return true, true
}

// HandleMessage merges a gossip message from a peer. It is the receive
// handler to register on the transport; it does not block and does not
// keep msg. Malformed messages are counted and dropped.
func (l *Limiter) HandleMessage(msg []byte) {
	m, err := decodeMessage(msg)
	if err != nil {
		l.stats.malformed.Add(1)
		l.log.Debug("dropping gossip message", "err", err)
		return
	}
	if m.nodeID == l.opts.NodeID {
		return
	}
	now := l.now().UnixNano()
	if m.target != "" {
		l.mergeEcho(&m, now)
		return
	}
	obs, ok := l.peers.observe(m.nodeID, m.incarnation, m.round, now, l.memberTimeoutNs)
	if !ok {
		l.stats.dropped.Add(uint64(len(m.entries)))
		l.log.Debug("too many peers, dropping message", "peer", m.nodeID, "max", MaxPeers)
		return
	}
	l.stats.received.Add(1)
	for i := range m.entries {
		l.merge(&m.entries[i], obs, now)
	}
}

// merge folds one peer counter into the matching entry by max.
func (l *Limiter) merge(w *wireEntry, obs observation, now int64) {
	windowNs := w.windowMs * 1e6
	nowEpoch := now / windowNs
	if w.epoch < nowEpoch-1 || w.epoch > nowEpoch+1 {
		return // too old to matter, or from a clock too far ahead
	}
	k := entryKey{policy: w.policy, windowMs: w.windowMs, key: w.key}
	h := l.hash(&k)
	s := &l.shards[h>>(64-shardBits)]
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.lookup(&k, h, windowNs, now, l.perShard)
	if e == nil {
		l.stats.dropped.Add(1)
		return
	}
	pc := e.peer(obs.slot)
	if pc.gen != obs.gen {
		*pc = peerCount{gen: obs.gen}
	}
	delta, known := pc.merge(w.epoch, w.cur, w.prev)
	e.lastEpoch = max(e.lastEpoch, pc.epoch)
	if obs.latest {
		pc.observe(delta, known, now, obs.round)
	}
}
