package auth

import (
	"log/slog"
	"net/http"
	"time"
)

// DefaultCacheSize bounds a jwt policy's cache of verified tokens.
const DefaultCacheSize = 100_000

// defaultFetchTimeout bounds one JWKS fetch when the HTTP client has no
// timeout of its own.
const defaultFetchTimeout = 10 * time.Second

// Options are what the policies need at run time besides their config.
// The zero value works.
type Options struct {
	// Logger receives JWKS refresh results and, at debug level, why
	// requests were refused. Default: discard.
	Logger *slog.Logger
	// Now is the clock for token expiry and JWKS refresh. Default:
	// time.Now.
	Now func() time.Time
	// HTTPClient fetches JWKS documents. Default: a client with a 10s
	// timeout.
	HTTPClient *http.Client
	// KeySets shares JWKS key sets across policies and config versions.
	// Default: each jwt policy with a jwks_url gets its own, which its
	// Close releases.
	KeySets *KeySets
	// CacheSize bounds a jwt policy's verified-token cache. Default:
	// DefaultCacheSize.
	CacheSize int
}

// withDefaults fills in the zero fields.
func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: defaultFetchTimeout}
	}
	if o.CacheSize <= 0 {
		o.CacheSize = DefaultCacheSize
	}
	return o
}
