package limiter

// A restarted node has forgotten what it admitted in the current windows,
// and would admit it again. Its peers still hold those counts, in the slot
// of its previous incarnation (which keeps counting there). When a peer
// first hears a new incarnation it owes the node an echo: for echoRounds
// sync rounds it sends it the previous incarnation's counts, addressed by
// node id and new incarnation. The node merges them by max into each
// entry's ghost, which its decisions add to its own counts and which it
// never gossips (the peers have them already). Echoes are idempotent, so
// losing or repeating one is harmless; a node that restarts twice within
// two windows only gets back the larger of its previous incarnations'
// counts.

// echoRounds is how many sync rounds an echo is sent, against loss.
const echoRounds = 3

// sendEchoes sends the echoes due this round; st.mu is held.
func (l *Limiter) sendEchoes(st *syncState, now int64) {
	st.echoes = l.peers.takeEchoes(st.echoes[:0])
	for _, ec := range st.echoes {
		l.sendEcho(st, ec, now)
	}
}

// sendEcho sends the counts of ec's retired slot that still matter at now,
// in as many messages as they need, up to MaxMessagesPerSync.
func (l *Limiter) sendEcho(st *syncState, ec echo, now int64) {
	h := header{nodeID: l.opts.NodeID, incarnation: l.incarnation, round: st.round,
		target: ec.to, targetInc: ec.inc}
	pk := packer{room: MaxMessage - h.size() - countSlack, maxMsgs: l.opts.MaxMessagesPerSync}
	st.entries, st.cuts = st.entries[:0], st.cuts[:0]
	for i := range l.shards {
		l.collectEcho(&l.shards[i], ec, now, &pk, st)
	}
	if len(st.entries) == 0 {
		return
	}
	st.cuts = append(st.cuts, len(st.entries))
	start := 0
	for _, end := range st.cuts {
		if end == start {
			continue
		}
		st.buf = appendMessage(st.buf[:0], &h, st.entries[start:end])
		l.send(st.buf)
		l.stats.echoesSent.Add(1)
		start = end
	}
}

// collectEcho adds the retired slot's live counts in s to st.
func (l *Limiter) collectEcho(s *shard, ec echo, now int64, pk *packer, st *syncState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, head := range s.m {
		for e := head; e != nil; e = e.hnext {
			if ec.slot >= len(e.peers) {
				continue
			}
			pc := &e.peers[ec.slot]
			if pc.gen != ec.gen || pc.epoch < now/e.windowNs-1 || pc.cur+pc.prev == 0 {
				continue
			}
			w := wireEntry{policy: e.k.policy, windowMs: e.k.windowMs, epoch: pc.epoch,
				cur: pc.cur, prev: pc.prev, key: e.k.key}
			cut, ok := pk.add(w.size())
			if !ok {
				return
			}
			if cut {
				st.cuts = append(st.cuts, len(st.entries))
			}
			st.entries = append(st.entries, w)
		}
	}
}

// mergeEcho folds an echo addressed to this incarnation into the ghosts.
func (l *Limiter) mergeEcho(m *message, now int64) {
	if m.target != l.opts.NodeID || m.targetInc != l.incarnation {
		return
	}
	l.stats.echoesMerged.Add(1)
	for i := range m.entries {
		w := &m.entries[i]
		windowNs := w.windowMs * 1e6
		if nowEpoch := now / windowNs; w.epoch < nowEpoch-1 || w.epoch > nowEpoch+1 {
			continue
		}
		k := entryKey{policy: w.policy, windowMs: w.windowMs, key: w.key}
		h := l.hash(&k)
		s := &l.shards[h>>(64-shardBits)]
		s.mu.Lock()
		if e := s.lookup(&k, h, windowNs, now, l.perShard); e != nil {
			e.ghost.merge(w.epoch, w.cur, w.prev)
			e.lastEpoch = max(e.lastEpoch, e.ghost.epoch)
		} else {
			l.stats.dropped.Add(1)
		}
		s.mu.Unlock()
	}
}
