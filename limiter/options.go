package limiter

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Sentinel errors of the package.
var (
	// ErrInvalidOptions means New was given options it cannot run with.
	ErrInvalidOptions = errors.New("invalid limiter options")
	// ErrInvalidPolicy means a policy cannot be enforced.
	ErrInvalidPolicy = errors.New("invalid rate-limit policy")
	// ErrMalformedMessage means a gossip message failed to decode.
	ErrMalformedMessage = errors.New("malformed limiter message")
)

// Defaults and bounds of Options.
const (
	// DefaultChannel is the gossip channel used when Options.Channel is 0.
	DefaultChannel byte = 'L'
	// DefaultSyncInterval is Δ, the gossip period.
	DefaultSyncInterval = 25 * time.Millisecond
	// MinSyncInterval and MaxSyncInterval bound Options.SyncInterval.
	MinSyncInterval = 20 * time.Millisecond
	// MaxSyncInterval is the largest accepted Options.SyncInterval.
	MaxSyncInterval = 50 * time.Millisecond
	// DefaultMaxKeys is the default cap on tracked keys.
	DefaultMaxKeys = 100_000
	// DefaultMaxMessagesPerSync bounds the datagrams sent per sync tick.
	DefaultMaxMessagesPerSync = 64
	// MaxPeers is the largest number of peers a limiter tracks at once.
	MaxPeers = 64
	// MaxNodeID is the longest accepted node id, in bytes.
	MaxNodeID = 64
)

// Transport sends gossip datagrams to every other live node, best effort.
// *cluster.Node implements it. Receiving is wired separately: pass
// [Limiter.HandleMessage] to the transport's handler registration.
type Transport interface {
	// SendGossip sends msg (at most MaxMessage bytes) on channel ch. The
	// transport must not keep msg after returning.
	SendGossip(ch byte, msg []byte) error
}

// Options configure a Limiter. Zero values take the documented defaults.
type Options struct {
	// NodeID identifies this node in gossip (required, 1..MaxNodeID bytes).
	NodeID string
	// Transport sends gossip. Nil runs the limiter standalone.
	Transport Transport
	// Channel is the gossip channel; 0 means DefaultChannel.
	Channel byte
	// SyncInterval is Δ, the gossip period, within [MinSyncInterval,
	// MaxSyncInterval]; 0 means DefaultSyncInterval.
	SyncInterval time.Duration
	// PeerTimeout is how old a peer's last message may be before its
	// counts stop contributing; 0 means 4 × SyncInterval. At least
	// 2 × SyncInterval.
	PeerTimeout time.Duration
	// MemberTimeout is, when LivePeers is nil, how long a silent peer
	// still counts as a cluster member whose share is held back; it also
	// lets a silent peer's slot be reused. 0 means 1 s. At least
	// PeerTimeout.
	MemberTimeout time.Duration
	// ReclaimAfter is, with ClusterSize, how long a peer membership still
	// lists may be silent before a node whose other peers still make a
	// majority takes its share of the limit back; 0 means 2 × PeerTimeout.
	// At least PeerTimeout.
	ReclaimAfter time.Duration
	// MaxKeys caps tracked (policy, key, window) entries; 0 means
	// DefaultMaxKeys. The effective cap is rounded down to a multiple of
	// the shard count (64), and is at least 64.
	MaxKeys int
	// MaxMessagesPerSync caps the datagrams sent per tick; changes that do
	// not fit are sent on later ticks. 0 means DefaultMaxMessagesPerSync.
	MaxMessagesPerSync int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// LivePeers returns the number of other nodes membership considers
	// alive. It is called by New and once per sync tick, never on the
	// request path.
	// Nil means: peers heard from within MemberTimeout.
	LivePeers func() int
	// ClusterSize returns the number of nodes the cluster is configured
	// with, this one included (the Raft voters), or 0 when unknown. With
	// it, a node that sees no majority of the cluster alive (itself
	// included) keeps holding back the shares of the members it cannot
	// see, even once membership has declared them dead: on the minority
	// side of a partition it stays at its fair share instead of claiming
	// the whole limit. Called like LivePeers. Nil means unknown.
	ClusterSize func() int
	// Logger receives diagnostics; nil discards them.
	Logger *slog.Logger
}

// withDefaults returns o with zero values replaced by defaults, or an error
// wrapping ErrInvalidOptions.
func (o Options) withDefaults() (Options, error) {
	if o.Channel == 0 {
		o.Channel = DefaultChannel
	}
	if o.SyncInterval == 0 {
		o.SyncInterval = DefaultSyncInterval
	}
	if o.PeerTimeout == 0 {
		o.PeerTimeout = 4 * o.SyncInterval
	}
	if o.ReclaimAfter == 0 {
		o.ReclaimAfter = 2 * o.PeerTimeout
	}
	if o.MemberTimeout == 0 {
		o.MemberTimeout = time.Second
	}
	if o.MaxKeys == 0 {
		o.MaxKeys = DefaultMaxKeys
	}
	if o.MaxMessagesPerSync == 0 {
		o.MaxMessagesPerSync = DefaultMaxMessagesPerSync
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o, o.validate()
}

func (o Options) validate() error {
	switch {
	case o.NodeID == "" || len(o.NodeID) > MaxNodeID:
		return fmt.Errorf("%w: NodeID must be 1..%d bytes", ErrInvalidOptions, MaxNodeID)
	case o.SyncInterval < MinSyncInterval || o.SyncInterval > MaxSyncInterval:
		return fmt.Errorf("%w: SyncInterval %v outside [%v, %v]", ErrInvalidOptions,
			o.SyncInterval, MinSyncInterval, MaxSyncInterval)
	case o.PeerTimeout < 2*o.SyncInterval:
		return fmt.Errorf("%w: PeerTimeout %v below 2 × SyncInterval", ErrInvalidOptions, o.PeerTimeout)
	case o.ReclaimAfter < o.PeerTimeout:
		return fmt.Errorf("%w: ReclaimAfter %v below PeerTimeout", ErrInvalidOptions, o.ReclaimAfter)
	case o.MemberTimeout < o.PeerTimeout:
		return fmt.Errorf("%w: MemberTimeout %v below PeerTimeout", ErrInvalidOptions, o.MemberTimeout)
	case o.MaxKeys < 0 || o.MaxMessagesPerSync < 0:
		return fmt.Errorf("%w: negative MaxKeys or MaxMessagesPerSync", ErrInvalidOptions)
	}
	return nil
}
