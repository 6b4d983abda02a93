package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// negativeTTL is how long a token refused for good (a bad signature, an
// expired token, a wrong issuer or audience) is refused from the negative
// cache without verifying it again.
const negativeTTL = 30 * time.Second

// verify returns the verification of raw: from the cache while it is
// valid (no parsing, no signature check, no allocation), otherwise by
// verifying it and caching the outcome. Tokens refused for a reason that
// time cannot cure are kept in a separate, smaller negative cache, so a
// client repeating a bad token costs no signature check, and a flood of
// bad tokens cannot evict the good ones.
func (p *JWT) verify(ctx context.Context, raw string) (*verified, error) {
	now := p.now()
	if v := p.cache.get(raw, now.UnixNano()); v != nil {
		return v, nil
	}
	if v := p.refused.get(raw, now.UnixNano()); v != nil {
		return nil, v.err
	}
	v, err := p.verifySlow(ctx, raw, now)
	if err != nil {
		if lasting(err) {
			p.refused.put(raw, &verified{expires: now.Add(negativeTTL).UnixNano(), err: err}, now.UnixNano())
		}
		return nil, err
	}
	p.cache.put(raw, v, now.UnixNano())
	return v, nil
}

// lasting reports whether a token refused with err stays refused: not one
// whose key is unknown (a key rotation may bring it), not one that is not
// valid yet, and not a failure to reach the identity provider.
func lasting(err error) bool {
	switch {
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, errUnknownKey),
		errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return false
	}
	return errors.Is(err, jwt.ErrTokenSignatureInvalid) || errors.Is(err, jwt.ErrTokenExpired) ||
		errors.Is(err, jwt.ErrTokenInvalidIssuer) || errors.Is(err, jwt.ErrTokenInvalidAudience) ||
		errors.Is(err, errAlgorithm)
}

// verifySlow verifies raw: it reads the token's kid and iss to choose the
// key, takes the algorithm from the key (the token's "alg" must be one
// the key allows, and the policy too), then parses and verifies with the
// parser for that algorithm alone.
func (p *JWT) verifySlow(ctx context.Context, raw string, now time.Time) (*verified, error) {
	p.verifications.Add(1)
	tok, _, err := p.peek.ParseUnverified(raw, jwt.MapClaims{})
	if err != nil {
		return nil, err
	}
	key, err := p.keyFor(ctx, tok)
	if err != nil {
		return nil, err
	}
	alg := tok.Method.Alg()
	parser := p.parsers[alg]
	if parser == nil || !key.allows(alg) {
		return nil, fmt.Errorf("%w: %q", errAlgorithm, alg)
	}
	claims := jwt.MapClaims{}
	if _, err := parser.ParseWithClaims(raw, claims, key.keyfunc(alg)); err != nil {
		return nil, err
	}
	return p.outcome(claims, key, now)
}

// keyFor finds the key a token names: a consumer's credential by kid, then
// by iss, then the JWKS key by kid (which may wait for a refresh).
func (p *JWT) keyFor(ctx context.Context, tok *jwt.Token) (*keyEntry, error) {
	kid, _ := tok.Header["kid"].(string)
	if k := p.creds[kid]; kid != "" && k != nil {
		return k, nil
	}
	if claims, ok := tok.Claims.(jwt.MapClaims); ok {
		if iss, _ := claims["iss"].(string); iss != "" && p.creds[iss] != nil {
			return p.creds[iss], nil
		}
	}
	if p.jwks != nil {
		return p.jwks.key(ctx, kid)
	}
	return nil, errUnknownKey
}

// outcome builds the cacheable result of a verified token.
func (p *JWT) outcome(claims jwt.MapClaims, key *keyEntry, now time.Time) (*verified, error) {
	exp, err := claims.GetExpirationTime()
	if err != nil || exp == nil {
		return nil, fmt.Errorf("%w: exp", jwt.ErrTokenRequiredClaimMissing)
	}
	ttl := maxCacheTTL
	if key.fromJWKS {
		ttl = min(ttl, p.jwks.refresh) // re-check against a refreshed set
	}
	expires := min(exp.Add(p.leeway).UnixNano(), now.Add(ttl).UnixNano())
	sub, _ := claims["sub"].(string)
	scopes := scopesOf(claims)
	joined := strings.Join(scopes, " ")
	if !validHeaderValue(sub) || !validHeaderValue(joined) {
		return nil, errBadClaims
	}
	v := &verified{expires: expires, consumer: p.consumerOf(claims, key), scopesOK: hasAll(scopes, p.required)}
	v.add(HeaderUserID, sub)
	v.add(HeaderUserScopes, joined)
	v.add(HeaderConsumer, v.consumer)
	for _, ch := range p.claimHeaders {
		if s, ok := claimString(claims[ch.claim]); ok && validHeaderValue(s) {
			v.add(ch.header, s)
		}
	}
	return v, nil
}

// consumerOf is the consumer a token belongs to: the credential's owner,
// or for a JWKS key the consumer named by consumer_claim, if it exists.
func (p *JWT) consumerOf(claims jwt.MapClaims, key *keyEntry) string {
	if key.consumer != "" || p.consumerClaim == "" {
		return key.consumer
	}
	if name, _ := claims[p.consumerClaim].(string); p.consumers[name] {
		return name
	}
	return ""
}

// add stamps a non-empty header value.
func (v *verified) add(name, value string) {
	if value != "" {
		v.headers = append(v.headers, newStamped(name, value))
	}
}

// scopesOf returns the union of the "scope" (space-separated) and "scp"
// (list or space-separated) claims.
func scopesOf(claims jwt.MapClaims) []string {
	var out []string
	if s, ok := claims["scope"].(string); ok {
		out = strings.Fields(s)
	}
	switch scp := claims["scp"].(type) {
	case string:
		out = append(out, strings.Fields(scp)...)
	case []any:
		for _, e := range scp {
			if s, ok := e.(string); ok && s != "" && !strings.ContainsAny(s, " \t") {
				out = append(out, s)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// hasAll reports whether have includes every entry of want.
func hasAll(have, want []string) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}

// claimString formats a claim for a header: strings as they are, numbers
// and booleans in JSON form, lists of those comma-separated, anything
// else as JSON.
func claimString(v any) (string, bool) {
	switch x := v.(type) {
	case nil:
		return "", false
	case string:
		return x, true
	case bool:
		return strconv.FormatBool(x), true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	case []any:
		parts := make([]string, 0, len(x))
		for _, e := range x {
			s, ok := claimString(e)
			if !ok {
				return "", false
			}
			parts = append(parts, s)
		}
		return strings.Join(parts, ","), true
	}
	b, err := json.Marshal(v)
	return string(b), err == nil
}
