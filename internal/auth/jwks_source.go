package auth

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// jwksSource is the cached key set of one JWKS URL. Lookups are one atomic
// load. A stale set is refreshed in the background; an unknown kid makes
// the caller wait for a refresh. Each of the two kinds of fetch happens at
// most once per minimum interval, so a flood of unknown kids costs the
// identity provider one request per interval, and a background refresh
// never uses up the fetch that a rotated-in kid needs. A failed fetch
// keeps the last good set.
type jwksSource struct {
	sets    *KeySets
	url     string
	refresh time.Duration // age after which the set is refreshed
	minimum time.Duration // least time between two fetches of one kind

	keys atomic.Pointer[keySet] // last good set; nil before the first

	mu       sync.Mutex
	last     [2]time.Time  // when each kind of fetch last started
	started  [2]bool       // whether it ever did
	inflight chan struct{} // closed when the running fetch ends
}

// Kinds of fetch, rate-limited separately.
const (
	fetchBackground = iota // first fetch, or the set is stale
	fetchUnknownKid        // a token names a kid the set lacks
)

// key returns the key named kid, refreshing the set when it is stale (in
// the background) or lacks kid (waiting, within ctx).
func (s *jwksSource) key(ctx context.Context, kid string) (*keyEntry, error) {
	if set := s.keys.Load(); set != nil {
		if k := set.lookup(kid); k != nil {
			if s.sets.now().Sub(set.fetched) >= s.refresh {
				s.startRefresh(fetchBackground)
			}
			return k, nil
		}
	}
	done := s.startRefresh(fetchUnknownKid)
	if done == nil {
		return nil, s.missing(kid)
	}
	select {
	case <-done:
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: %w", errNoKeySet, ctx.Err())
	}
	if set := s.keys.Load(); set != nil {
		if k := set.lookup(kid); k != nil {
			return k, nil
		}
	}
	return nil, s.missing(kid)
}

// missing is the error for a kid the set lacks.
func (s *jwksSource) missing(kid string) error {
	if s.keys.Load() == nil {
		return errNoKeySet
	}
	return fmt.Errorf("%w: kid %q", errUnknownKey, kid)
}

// startRefresh starts a fetch unless one is running (whose channel it
// returns) or a fetch of this kind started less than the minimum interval
// ago (then it returns nil). The channel is closed when the fetch ends.
func (s *jwksSource) startRefresh(kind int) <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inflight != nil {
		return s.inflight
	}
	now := s.sets.now()
	if s.started[kind] && now.Sub(s.last[kind]) < s.minimum {
		return nil
	}
	done := make(chan struct{})
	if !s.sets.start(func(ctx context.Context) { s.fetchAndStore(ctx, done) }) {
		return nil
	}
	s.inflight, s.started[kind], s.last[kind] = done, true, now
	return done
}

// fetchAndStore fetches the set, keeps it if it is good, and ends the
// fetch in flight.
func (s *jwksSource) fetchAndStore(ctx context.Context, done chan struct{}) {
	set, err := s.fetch(ctx)
	if err != nil {
		s.sets.log.Warn("jwks refresh failed; keeping the last good key set",
			"url", s.url, "error", err, "have_keys", s.keys.Load() != nil)
	} else {
		s.keys.Store(set)
		s.sets.log.Info("jwks refreshed", "url", s.url, "keys", len(set.byKid))
	}
	s.mu.Lock()
	s.inflight = nil
	s.mu.Unlock()
	close(done)
}

// fetch downloads and parses the key set.
func (s *jwksSource) fetch(ctx context.Context) (*keySet, error) {
	ctx, cancel := context.WithTimeout(ctx, defaultFetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errJWKSFetch, err)
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := s.sets.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errJWKSFetch, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: status %s", errJWKSFetch, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%w: read body: %w", errJWKSFetch, err)
	}
	if len(body) > maxJWKSBytes {
		return nil, fmt.Errorf("%w: document exceeds %d bytes", errJWKSFetch, maxJWKSBytes)
	}
	set, skipped, err := parseJWKS(body, s.sets.now())
	for _, e := range skipped {
		s.sets.log.Warn("jwks key skipped", "url", s.url, "reason", e)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errJWKSFetch, err)
	}
	return set, nil
}
