package auth

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tollgate/tollgate/dataplane"
	"github.com/tollgate/tollgate/store"
)

// maxCacheTTL bounds how long a verified token is served from the cache
// without verifying it again.
const maxCacheTTL = time.Hour

// JWT is the jwt plugin's policy: requests must carry a bearer token
// signed by a consumer's JWT credential or a key of the configured JWKS.
type JWT struct {
	log   *slog.Logger
	now   func() time.Time
	creds map[string]*keyEntry // consumers' credentials by key (kid or iss)
	jwks  *jwksSource          // nil without a jwks_url
	own   *KeySets             // key sets created for this policy alone

	// parsers verify tokens, one per allowed algorithm, each accepting
	// only that algorithm (jwt.WithValidMethods); the key picks which.
	parsers map[string]*jwt.Parser
	peek    *jwt.Parser // reads kid/iss before the key is known
	cache   *tokenCache
	refused *tokenCache // the negative cache: tokens refused for good

	strip         []string // client headers removed before anything else
	claimHeaders  []claimHeader
	required      []string // required scopes
	scopeDenied   string   // WWW-Authenticate of a 403
	consumerClaim string
	consumers     map[string]bool
	keep          bool          // keep the Authorization header
	leeway        time.Duration // tolerated clock skew

	verifications atomic.Uint64 // tokens verified (cache misses)
}

// claimHeader copies a claim to a header.
type claimHeader struct{ claim, header string }

var (
	_ dataplane.Policy = (*JWT)(nil)
	_ io.Closer        = (*JWT)(nil)
)

// NewJWT builds a jwt policy. consumers supply the JWT credentials (and,
// with consumer_claim, the usernames JWKS tokens may map to). With a
// jwks_url the key set is fetched in the background right away. Close the
// policy when it is replaced.
func NewJWT(cfg JWTConfig, consumers []store.Consumer, opts Options) (*JWT, error) {
	if err := revalidate(store.PluginJWT, cfg, store.ParseJWTConfig); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	creds, err := credentialKeys(consumers)
	if err != nil {
		return nil, err
	}
	p := &JWT{
		log:           opts.Logger.With("component", "auth", "plugin", store.PluginJWT),
		now:           opts.Now,
		creds:         creds,
		parsers:       parsersFor(cfg, opts.Now),
		peek:          jwt.NewParser(),
		cache:         newTokenCache(opts.CacheSize),
		refused:       newTokenCache(max(opts.CacheSize/4, 1)),
		required:      cfg.RequiredScopes,
		consumerClaim: cfg.ConsumerClaim,
		consumers:     usernames(consumers),
		keep:          cfg.KeepAuthorization,
		leeway:        cfg.Leeway.Std(),
	}
	p.claimHeaders, p.strip = claimHeadersOf(cfg.ClaimsToHeaders)
	p.scopeDenied = bearerChallenge("insufficient_scope", "token lacks a required scope", strings.Join(cfg.RequiredScopes, " "))
	if cfg.JWKSURL != "" {
		p.attachJWKS(cfg, opts)
	}
	return p, nil
}

// attachJWKS connects the policy to its key set and starts the first
// fetch if the set has none yet.
func (p *JWT) attachJWKS(cfg JWTConfig, opts Options) {
	sets := opts.KeySets
	if sets == nil {
		sets = NewKeySets(opts)
		p.own = sets
	}
	refresh, minimum := cfg.RefreshIntervals()
	p.jwks = sets.source(cfg.JWKSURL, refresh.Std(), minimum.Std())
	if p.jwks.keys.Load() == nil {
		p.jwks.startRefresh(fetchBackground)
	}
}

// parsersFor builds one parser per allowed algorithm.
func parsersFor(cfg JWTConfig, now func() time.Time) map[string]*jwt.Parser {
	base := []jwt.ParserOption{
		jwt.WithLeeway(cfg.Leeway.Std()),
		jwt.WithTimeFunc(now),
		jwt.WithExpirationRequired(),
	}
	if cfg.Issuer != "" {
		base = append(base, jwt.WithIssuer(cfg.Issuer))
	}
	if len(cfg.Audiences) > 0 {
		base = append(base, jwt.WithAudience(cfg.Audiences...))
	}
	out := map[string]*jwt.Parser{}
	for _, alg := range cfg.AllowedAlgorithms() {
		opts := append(slices.Clip(base), jwt.WithValidMethods([]string{alg}))
		out[alg] = jwt.NewParser(opts...)
	}
	return out
}

// claimHeadersOf lists the claim headers in a stable order, and every
// header a client must not send: the identity ones and the claim ones.
func claimHeadersOf(m map[string]string) ([]claimHeader, []string) {
	strip := []string{HeaderUserID, HeaderUserScopes, HeaderConsumer}
	var out []claimHeader
	for claim, header := range m {
		h := http.CanonicalHeaderKey(header)
		out = append(out, claimHeader{claim, h})
		strip = append(strip, h)
	}
	slices.SortFunc(out, func(a, b claimHeader) int { return strings.Compare(a.claim, b.claim) })
	return out, strip
}

func usernames(consumers []store.Consumer) map[string]bool {
	out := make(map[string]bool, len(consumers))
	for _, c := range consumers {
		out[c.Username] = true
	}
	return out
}

// Close releases the policy's own JWKS key set (cancelling a fetch in
// flight). With shared Options.KeySets it does nothing; the owner closes
// those. Safe to call more than once.
func (p *JWT) Close() error {
	if p.own == nil {
		return nil
	}
	return p.own.Close()
}

// Name names the policy in recorded spans (dataplane.Named).
func (p *JWT) Name() string { return "auth:jwt" }

// Wrap authenticates each request before next runs: 401 without a valid
// token, 403 when it lacks a required scope.
func (p *JWT) Wrap(next dataplane.Handler) dataplane.Handler {
	return func(rc *dataplane.RequestContext) {
		if p.Before(rc) {
			next(rc)
		}
	}
}

// Before authenticates the request and reports whether it goes on; a
// refused one is answered 401 or 403. It makes the policy a
// dataplane.InlinePolicy, which the epoll engine runs on its event loop
// unless Inline says otherwise.
func (p *JWT) Before(rc *dataplane.RequestContext) bool {
	h := rc.Request.Header
	for _, name := range p.strip {
		delete(h, name)
	}
	v, err := p.authenticate(rc.Request.Context(), h)
	if err != nil {
		p.unauthorized(rc, err)
		return false
	}
	if !v.scopesOK {
		p.log.Debug("token lacks a required scope", "request_id", rc.RequestID)
		reject(rc, http.StatusForbidden, "insufficient_scope", "token lacks a required scope", p.scopeDenied)
		return false
	}
	if !p.keep {
		delete(h, headerAuthorization)
	}
	v.stamp(h)
	rc.Consumer = v.consumer
	return true
}

// Inline reports whether Before never waits: false with a jwks_url, whose
// unknown kids wait for a fetch of the key set.
func (p *JWT) Inline() bool { return p.jwks == nil }

// authenticate verifies the request's bearer token.
func (p *JWT) authenticate(ctx context.Context, h http.Header) (*verified, error) {
	raw, err := bearerToken(h)
	if err != nil {
		return nil, err
	}
	return p.verify(ctx, raw)
}

// unauthorized answers 401 with a challenge that says why.
func (p *JWT) unauthorized(rc *dataplane.RequestContext, err error) {
	p.log.Debug("request refused", "request_id", rc.RequestID, "reason", err)
	if errors.Is(err, errMissingToken) || errors.Is(err, errNotBearer) {
		reject(rc, http.StatusUnauthorized, "missing_token", err.Error(), bearerChallenge("", "", ""))
		return
	}
	desc := describe(err)
	reject(rc, http.StatusUnauthorized, "invalid_token", desc, bearerChallenge("invalid_token", desc, ""))
}

// describe turns a verification failure into a short, fixed description
// that reveals nothing of the token or the keys.
func describe(err error) string {
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return "token expired"
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return "token not valid yet"
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return "invalid issuer"
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return "invalid audience"
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return "missing required claim"
	case errors.Is(err, errAlgorithm):
		return "algorithm not allowed"
	case errors.Is(err, errUnknownKey):
		return "unknown signing key"
	case errors.Is(err, errNoKeySet):
		return "signing keys unavailable"
	case errors.Is(err, jwt.ErrTokenMalformed):
		return "malformed token"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return "invalid signature"
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		return "unsupported algorithm"
	case errors.Is(err, errTokenTooLarge), errors.Is(err, errManyTokens), errors.Is(err, errBadClaims):
		return err.Error()
	}
	return "invalid token"
}
