// Package limiter enforces cluster-wide rate limits without a shared store.
//
// Every node counts its own admitted hits exactly, per (policy, key,
// window), in a sliding-window counter: the estimate for a request at
// fraction f of the current window is
//
//	prev_window_total × (1 − f) + current_window_total.
//
// The totals are G-counters: one component per node. Each node owns its
// component and gossips its absolute counts for the keys that changed,
// every SyncInterval, in datagrams of at most [MaxMessage] bytes.
// Receivers merge a peer's component by max, so duplicated, lost and
// reordered messages are harmless. A decision never leaves the process:
// own counts + each fresh peer's last known counts + an extrapolation of
// what that peer admitted since its report (its observed rate × the age
// of the report, capped at PeerTimeout).
//
// Degraded modes:
//   - A peer whose last message is older than PeerTimeout no longer
//     contributes counts; its fair share of the limit is held back for as
//     long as membership (Options.LivePeers) still lists it. A node that
//     hears from no peer therefore admits limit / (1 + live peers). When
//     membership drops the peer, the survivors get its share back at the
//     next sync tick, and what it admitted in the current windows counts
//     again (frozen at its last report), so a dead node's admissions are
//     not admitted a second time.
//   - With Options.ClusterSize (the Raft voters), majorities decide. A
//     node whose peers heard within ReclaimAfter (default 2 × PeerTimeout,
//     200 ms) still make a majority of the cluster takes back the shares
//     of the members gone silent, without waiting for membership to
//     declare them dead: a killed node's share returns within a few Δ.
//     A node that sees no majority keeps holding back the shares of the
//     members it cannot see, even once membership declares them dead: the
//     minority side of a partition stays at its fair share. The majority
//     cannot tell a dead node from a cut-off one, so while a partition
//     lasts the cluster admits up to (1 + minority/N) × the limit.
//   - A restarted node (a new incarnation) has forgotten what it admitted
//     in the current windows. Its peers count that in the old
//     incarnation's slot and echo it back to the new incarnation (see
//     echo.go), which adds it to its own counts.
//   - When MaxKeys keys are tracked and no tracked key has expired, a new
//     key is not tracked: it is decided against a per-(policy, window)
//     overflow counter, local to the node, at the node's fair share. This
//     is deliberately conservative: under a flood of distinct keys, new
//     keys share one small budget until tracked keys expire, and the keys
//     already tracked keep their exact counts.
//
// Windows are aligned to the wall clock (window index = Unix time /
// window), so nodes' clocks must agree to well within a window; counts for
// a window more than one away from the receiver's are ignored.
//
// Memory: entries live in 64 mutex-guarded shards, each a map from a
// seeded 64-bit hash to the entry, with one recency list per window
// length. An entry expires once all its counts are two windows old; the
// sync loop drops expired entries, and a full shard evicts its least
// recently used entry if it has expired. A node tracks the keys it sees
// and those its peers report, within the same MaxKeys cap; a peer report
// that does not fit is dropped (counted in Stats.Dropped).
//
// Wire format: see message.go. Each datagram carries the sender's node
// id, a random incarnation chosen at start, and the sync round, so that a
// receiver can tell who sent it and whether a key was left out of a newer
// round (unchanged: no extrapolation).
//
// Wiring with the cluster package (the transport does not register the
// receiver by itself, because cluster.GossipHandler is a named type):
//
//	lim, err := limiter.New(limiter.Options{NodeID: id, Transport: node, LivePeers: peers})
//	node.HandleGossip(lim.Channel(), lim.HandleMessage)
//	lim.Start(ctx)
//	defer lim.Close()
package limiter
