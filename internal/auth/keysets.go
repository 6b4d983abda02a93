package auth

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"
)

// KeySets fetches and caches JSON Web Key Sets for jwt policies: one
// source per JWKS URL (and refresh settings), shared by every policy that
// names it. Create one per process and pass it in Options.KeySets, so that
// the keys (and the last good set while the identity provider is down)
// survive the policies being rebuilt for each config version.
//
// KeySets runs no goroutine of its own: a fetch runs in a short-lived
// goroutine started when a policy needs one, and Close cancels and waits
// for those. Sources live until Close; there is one per distinct URL ever
// configured.
type KeySets struct {
	client *http.Client
	log    *slog.Logger
	now    func() time.Time

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	closed  bool
	sources map[sourceKey]*jwksSource
}

type sourceKey struct {
	url              string
	refresh, minimum time.Duration
}

// NewKeySets returns an empty KeySets that fetches with opts.HTTPClient,
// logs to opts.Logger and tells time by opts.Now (other fields are
// ignored).
func NewKeySets(opts Options) *KeySets {
	opts = opts.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	return &KeySets{
		client:  opts.HTTPClient,
		log:     opts.Logger.With("component", "jwks"),
		now:     opts.Now,
		ctx:     ctx,
		cancel:  cancel,
		sources: map[sourceKey]*jwksSource{},
	}
}

// Close cancels fetches in flight and waits for them to end. Keys already
// fetched stay usable; no new fetch starts. It is safe to call twice.
func (k *KeySets) Close() error {
	k.mu.Lock()
	if k.closed {
		k.mu.Unlock()
		return nil
	}
	k.closed = true
	k.mu.Unlock()
	k.cancel()
	k.wg.Wait()
	return nil
}

// source returns the shared source of url with the given refresh interval
// and least time between fetches.
func (k *KeySets) source(url string, refresh, minimum time.Duration) *jwksSource {
	key := sourceKey{url, refresh, minimum}
	k.mu.Lock()
	defer k.mu.Unlock()
	s := k.sources[key]
	if s == nil {
		s = &jwksSource{sets: k, url: url, refresh: refresh, minimum: minimum}
		k.sources[key] = s
	}
	return s
}

// start runs f in a goroutine that Close waits for; false once closed.
func (k *KeySets) start(f func(context.Context)) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.closed {
		return false
	}
	k.wg.Add(1)
	go func() {
		defer k.wg.Done()
		f(k.ctx)
	}()
	return true
}
