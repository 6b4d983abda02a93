package auth

import (
	"crypto/sha256"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/tollgate/tollgate/dataplane"
	"github.com/tollgate/tollgate/store"
)

// KeyAuth is the key-auth plugin's policy: requests must carry one of the
// consumers' API keys in a configured header or query parameter.
type KeyAuth struct {
	log     *slog.Logger
	headers []string // canonical header names to read, in order
	queries []string // query parameter names to read, in order
	hide    bool
	owners  map[[sha256.Size]byte]*keyOwner // by SHA-256 of the key
}

// keyOwner is the consumer an API key belongs to.
type keyOwner struct {
	consumer string
	header   stamped // X-Consumer
}

// keyLocation says where a request's key was found.
type keyLocation struct{ header, query string }

var _ dataplane.Policy = (*KeyAuth)(nil)

// NewKeyAuth builds a key-auth policy that recognises the API keys of
// consumers.
func NewKeyAuth(cfg KeyAuthConfig, consumers []store.Consumer, opts Options) (*KeyAuth, error) {
	if err := revalidate(store.PluginKeyAuth, cfg, store.ParseKeyAuthConfig); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	p := &KeyAuth{
		log:    opts.Logger.With("component", "auth", "plugin", store.PluginKeyAuth),
		hide:   cfg.HideCredentials,
		owners: map[[sha256.Size]byte]*keyOwner{},
	}
	for _, name := range cfg.Names() {
		if cfg.InHeader() {
			p.headers = append(p.headers, http.CanonicalHeaderKey(name))
		}
		if cfg.InQuery() {
			p.queries = append(p.queries, name)
		}
	}
	for i, c := range consumers {
		owner := &keyOwner{consumer: c.Username, header: newStamped(HeaderConsumer, c.Username)}
		for j, k := range c.Credentials.KeyAuth {
			d, err := k.Digest()
			if err != nil {
				return nil, fmt.Errorf("%w: consumers[%d].credentials.key_auth[%d].key_hash: %w", ErrInvalidConfig, i, j, err)
			}
			if other := p.owners[d]; other != nil {
				return nil, fmt.Errorf("%w: consumers[%d].credentials.key_auth[%d]: same key as consumer %q", ErrInvalidConfig, i, j, other.consumer)
			}
			p.owners[d] = owner
		}
	}
	return p, nil
}

// Name names the policy in recorded spans (dataplane.Named).
func (p *KeyAuth) Name() string { return "auth:key-auth" }

// Wrap authenticates each request by its API key before next runs.
func (p *KeyAuth) Wrap(next dataplane.Handler) dataplane.Handler {
	return func(rc *dataplane.RequestContext) {
		if p.Before(rc) {
			next(rc)
		}
	}
}

// Before authenticates the request by its key and reports whether it
// goes on (a dataplane.InlinePolicy); a refused one is answered 401.
func (p *KeyAuth) Before(rc *dataplane.RequestContext) bool {
	h := rc.Request.Header
	StripIdentity(h)
	key, loc := p.find(rc.Request)
	if key == "" {
		p.refuse(rc, errMissingAPIKey, "missing_api_key")
		return false
	}
	owner := p.owners[sha256.Sum256([]byte(key))]
	if owner == nil {
		p.refuse(rc, errInvalidAPIKey, "invalid_api_key")
		return false
	}
	if p.hide {
		hideKey(rc, loc)
	}
	h[owner.header.name] = owner.header.values
	rc.Consumer = owner.consumer
	return true
}

func (p *KeyAuth) refuse(rc *dataplane.RequestContext, err error, code string) {
	p.log.Debug("request refused", "request_id", rc.RequestID, "reason", err)
	reject(rc, http.StatusUnauthorized, code, err.Error(), `Key realm="`+realm+`"`)
}

// find returns the first non-empty key in the configured headers, then
// query parameters, and where it was.
func (p *KeyAuth) find(r *http.Request) (string, keyLocation) {
	for _, name := range p.headers {
		if v := r.Header[name]; len(v) > 0 && v[0] != "" {
			return v[0], keyLocation{header: name}
		}
	}
	if r.URL == nil || r.URL.RawQuery == "" {
		return "", keyLocation{}
	}
	for _, name := range p.queries {
		if v, ok := queryValue(r.URL.RawQuery, name); ok && v != "" {
			return v, keyLocation{query: name}
		}
	}
	return "", keyLocation{}
}

// hideKey removes the key from what the proxy forwards: the header, or
// every value of the query parameter (in a copy of the URL).
func hideKey(rc *dataplane.RequestContext, loc keyLocation) {
	if loc.header != "" {
		delete(rc.Request.Header, loc.header)
		return
	}
	u := *rc.Request.URL
	u.RawQuery = removeQuery(u.RawQuery, loc.query)
	rc.Request.URL = &u
}

// queryValue returns the first value of name in a raw query. It allocates
// only when the value (or a key) is escaped.
func queryValue(raw, name string) (string, bool) {
	for raw != "" {
		var part string
		part, raw, _ = strings.Cut(raw, "&")
		k, v, _ := strings.Cut(part, "=")
		if !queryKeyIs(k, name) {
			continue
		}
		if !strings.ContainsAny(v, "%+") {
			return v, true
		}
		uv, err := url.QueryUnescape(v)
		return uv, err == nil
	}
	return "", false
}

// removeQuery returns raw without any parameter named name.
func removeQuery(raw, name string) string {
	var b strings.Builder
	for raw != "" {
		var part string
		part, raw, _ = strings.Cut(raw, "&")
		if k, _, _ := strings.Cut(part, "="); part == "" || queryKeyIs(k, name) {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		b.WriteString(part)
	}
	return b.String()
}

// queryKeyIs reports whether the raw query key k is name.
func queryKeyIs(k, name string) bool {
	if k == name {
		return true
	}
	if !strings.ContainsAny(k, "%+") {
		return false
	}
	uk, err := url.QueryUnescape(k)
	return err == nil && uk == name
}
