package store

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
)

// Names of the authentication and authorization plugins.
const (
	PluginJWT     = "jwt"
	PluginKeyAuth = "key-auth"
	PluginACL     = "acl"
)

// RedactedValue replaces secrets (API key hashes, JWT shared secrets) in
// documents the admin API shows. Sent back unchanged, it means "keep the
// stored value" (see RestoreRedactedCredentials).
const RedactedValue = "<redacted>"

// apiKeyHashPrefix marks the hash algorithm of KeyAuthCredential.KeyHash.
const apiKeyHashPrefix = "sha256:"

// JWT signing algorithms a credential or a JWKS key may use.
const (
	AlgHS256 = "HS256"
	AlgHS384 = "HS384"
	AlgHS512 = "HS512"
	AlgRS256 = "RS256"
	AlgPS256 = "PS256"
	AlgES256 = "ES256"
	AlgES384 = "ES384"
	AlgEdDSA = "EdDSA"
)

// JWTAlgorithms returns every supported JWT signing algorithm.
func JWTAlgorithms() []string {
	return []string{AlgHS256, AlgHS384, AlgHS512, AlgRS256, AlgPS256, AlgES256, AlgES384, AlgEdDSA}
}

// ConsumerCredentials are what authentication plugins recognise a
// consumer by.
type ConsumerCredentials struct {
	// KeyAuth are the consumer's API keys, for the key-auth plugin.
	KeyAuth []KeyAuthCredential `json:"key_auth,omitempty"`
	// JWT are the keys that verify the consumer's tokens, for the jwt
	// plugin.
	JWT []JWTCredential `json:"jwt,omitempty"`
}

// KeyAuthCredential is one API key of a consumer. Only a hash of the key
// is stored.
type KeyAuthCredential struct {
	// KeyID names the key within its consumer (for rotation: add a new
	// key, move clients, remove the old one).
	KeyID string `json:"key_id"`
	// KeyHash is "sha256:" followed by the hex SHA-256 of the key
	// (HashAPIKey).
	KeyHash string `json:"key_hash,omitempty"`
	// Key is the plaintext key, accepted on write only: the admin API
	// replaces it with KeyHash (Config.HashAPIKeys) before the document is
	// validated and replicated. Validate rejects a document that still
	// holds one, so a plaintext key never reaches the Raft log.
	Key string `json:"key,omitempty"`
}

// JWTCredential is a key that verifies a consumer's tokens. A token names
// it by its "kid" header or, failing that, its "iss" claim.
type JWTCredential struct {
	// Key is the kid or iss value that selects this credential; unique
	// across all consumers.
	Key string `json:"key"`
	// Algorithm is the one algorithm tokens verified by this key must use
	// (one of JWTAlgorithms). The token's own "alg" header never widens it.
	Algorithm string `json:"algorithm"`
	// Secret is the shared secret of HS256/384/512, at least as many
	// bytes as the hash output (32/48/64).
	Secret string `json:"secret,omitempty"`
	// PublicKey is the PEM public key (or certificate) of RS256, PS256,
	// ES256, ES384 and EdDSA.
	PublicKey string `json:"public_key,omitempty"`
}

// HashAPIKey returns the stored form of an API key.
func HashAPIKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return apiKeyHashPrefix + hex.EncodeToString(sum[:])
}

// Digest returns the SHA-256 that KeyHash holds.
func (c KeyAuthCredential) Digest() ([32]byte, error) {
	var d [32]byte
	h, ok := strings.CutPrefix(c.KeyHash, apiKeyHashPrefix)
	if !ok || len(h) != 2*len(d) || strings.ToLower(h) != h {
		return d, fmt.Errorf("must be %q followed by 64 lower-case hex digits", apiKeyHashPrefix)
	}
	if _, err := hex.Decode(d[:], []byte(h)); err != nil {
		return d, fmt.Errorf("must be %q followed by 64 lower-case hex digits", apiKeyHashPrefix)
	}
	return d, nil
}

// Redacted returns a copy of c whose API key hashes and JWT secrets are
// replaced by RedactedValue. The admin API shows consumers this way.
func (c Consumer) Redacted() Consumer {
	out := c
	out.Credentials = ConsumerCredentials{}
	for _, k := range c.Credentials.KeyAuth {
		k.KeyHash, k.Key = RedactedValue, ""
		out.Credentials.KeyAuth = append(out.Credentials.KeyAuth, k)
	}
	for _, j := range c.Credentials.JWT {
		if j.Secret != "" {
			j.Secret = RedactedValue
		}
		out.Credentials.JWT = append(out.Credentials.JWT, j)
	}
	return out
}

// WithRedactedCredentials returns a shallow copy of c whose consumers and
// tracing section are Redacted. c is not modified.
func (c *Config) WithRedactedCredentials() *Config {
	out := *c
	out.Tracing = c.Tracing.Redacted()
	if c.Consumers != nil {
		out.Consumers = make([]Consumer, len(c.Consumers))
		for i, cons := range c.Consumers {
			out.Consumers[i] = cons.Redacted()
		}
	}
	return &out
}

// RestoreRedactedCredentials puts back, from prev, the secrets that a
// client sent as RedactedValue (it read a redacted document, changed it
// and wrote it back): a key hash by consumer and key_id, a JWT secret by
// consumer and key, a tracing header by name. A redacted value without a
// match stays, and Validate rejects it. c is modified; it must be a
// freshly decoded document.
func (c *Config) RestoreRedactedCredentials(prev *Config) {
	if prev == nil {
		return
	}
	c.Tracing.restoreRedacted(prev.Tracing)
	for i := range c.Consumers {
		cons := &c.Consumers[i]
		old := prev.consumer(cons.Username)
		if old == nil {
			continue
		}
		restoreKeyHashes(cons.Credentials.KeyAuth, old.Credentials.KeyAuth)
		restoreSecrets(cons.Credentials.JWT, old.Credentials.JWT)
	}
}

func restoreKeyHashes(creds, old []KeyAuthCredential) {
	for i := range creds {
		if creds[i].KeyHash != RedactedValue {
			continue
		}
		for _, o := range old {
			if o.KeyID == creds[i].KeyID {
				creds[i].KeyHash = o.KeyHash
			}
		}
	}
}

func restoreSecrets(creds, old []JWTCredential) {
	for i := range creds {
		if creds[i].Secret != RedactedValue {
			continue
		}
		for _, o := range old {
			if o.Key == creds[i].Key && o.Algorithm == creds[i].Algorithm {
				creds[i].Secret = o.Secret
			}
		}
	}
}

// HashAPIKeys replaces every plaintext API key in c by its hash. The admin
// API calls it on a freshly decoded document, before validating it.
func (c *Config) HashAPIKeys() {
	for i := range c.Consumers {
		keys := c.Consumers[i].Credentials.KeyAuth
		for j := range keys {
			if keys[j].Key != "" {
				keys[j].KeyHash, keys[j].Key = HashAPIKey(keys[j].Key), ""
			}
		}
	}
}

// consumer returns the consumer with the given username, or nil.
func (c *Config) consumer(username string) *Consumer {
	for i := range c.Consumers {
		if c.Consumers[i].Username == username {
			return &c.Consumers[i]
		}
	}
	return nil
}

// KeyAuthConfig is the config of a key-auth plugin: requests must carry
// one of the consumers' API keys.
//
//	plugins:
//	  - name: key-auth
//	    route: orders
//	    config: {key_names: [apikey, X-API-Key], key_in_query: false, hide_credentials: true}
type KeyAuthConfig struct {
	// KeyNames are the header and query parameter names the key is read
	// from, tried in order. Default: ["apikey"].
	KeyNames []string `json:"key_names,omitempty"`
	// KeyInHeader reads the key from request headers (default true).
	KeyInHeader *bool `json:"key_in_header,omitempty"`
	// KeyInQuery reads the key from query parameters (default true).
	KeyInQuery *bool `json:"key_in_query,omitempty"`
	// HideCredentials removes the key from the request before proxying.
	HideCredentials bool `json:"hide_credentials,omitempty"`
}

// Names returns KeyNames, or the default.
func (c KeyAuthConfig) Names() []string {
	if len(c.KeyNames) == 0 {
		return []string{"apikey"}
	}
	return c.KeyNames
}

// InHeader reports whether keys are read from headers.
func (c KeyAuthConfig) InHeader() bool { return c.KeyInHeader == nil || *c.KeyInHeader }

// InQuery reports whether keys are read from query parameters.
func (c KeyAuthConfig) InQuery() bool { return c.KeyInQuery == nil || *c.KeyInQuery }

// JWTConfig is the config of a jwt plugin: requests must carry a valid
// bearer token, verified by a consumer's JWT credential or a key of the
// JWKS at JWKSURL.
//
//	plugins:
//	  - name: jwt
//	    route: orders
//	    config:
//	      jwks_url: https://idp.example.com/.well-known/jwks.json
//	      issuer: https://idp.example.com/
//	      audiences: [orders-api]
//	      leeway: 30s
//	      required_scopes: [orders:read]
type JWTConfig struct {
	// Algorithms restricts the algorithms tokens may use (default: all of
	// JWTAlgorithms). A key's own algorithm must also be in the list.
	Algorithms []string `json:"algorithms,omitempty"`
	// JWKSURL is an http(s) URL serving a JSON Web Key Set. Its keys verify
	// tokens in addition to the consumers' JWT credentials.
	JWKSURL string `json:"jwks_url,omitempty"`
	// JWKSRefreshInterval is the age after which the key set is refreshed
	// in the background (default 5m).
	JWKSRefreshInterval Duration `json:"jwks_refresh_interval,omitempty"`
	// JWKSMinRefreshInterval is the least time between two fetches of the
	// key set, however many unknown "kid"s arrive (default 5s).
	JWKSMinRefreshInterval Duration `json:"jwks_min_refresh_interval,omitempty"`
	// Issuer, when set, must equal the token's "iss".
	Issuer string `json:"issuer,omitempty"`
	// Audiences, when set, must include one of the token's "aud" values.
	Audiences []string `json:"audiences,omitempty"`
	// Leeway tolerates clock skew in "exp" and "nbf" (at most 10m).
	Leeway Duration `json:"leeway,omitempty"`
	// RequiredScopes must all be in the token's "scope" (space-separated)
	// or "scp" claim; a token lacking one is answered 403.
	RequiredScopes []string `json:"required_scopes,omitempty"`
	// KeepAuthorization forwards the Authorization header upstream; by
	// default it is removed.
	KeepAuthorization bool `json:"keep_authorization,omitempty"`
	// ClaimsToHeaders copies claims to upstream request headers: claim
	// name → header name.
	ClaimsToHeaders map[string]string `json:"claims_to_headers,omitempty"`
	// ConsumerClaim names the claim (such as "sub" or "client_id") whose
	// value is the consumer's username for tokens verified by a JWKS key.
	// Tokens verified by a consumer's credential belong to that consumer.
	ConsumerClaim string `json:"consumer_claim,omitempty"`
}

// Default JWKS refresh intervals.
const (
	DefaultJWKSRefreshInterval    = Duration(5 * time.Minute)
	DefaultJWKSMinRefreshInterval = Duration(5 * time.Second)
)

// AllowedAlgorithms returns Algorithms, or every supported algorithm.
func (c JWTConfig) AllowedAlgorithms() []string {
	if len(c.Algorithms) == 0 {
		return JWTAlgorithms()
	}
	return c.Algorithms
}

// RefreshIntervals returns the JWKS refresh interval and the least time
// between fetches, defaults applied.
func (c JWTConfig) RefreshIntervals() (refresh, minimum Duration) {
	refresh, minimum = c.JWKSRefreshInterval, c.JWKSMinRefreshInterval
	if refresh == 0 {
		refresh = DefaultJWKSRefreshInterval
	}
	if minimum == 0 {
		minimum = DefaultJWKSMinRefreshInterval
	}
	return refresh, minimum
}

// ACLConfig is the config of an acl plugin: which consumer groups may use
// a route. A consumer in a Deny group is refused; with Allow set, so is a
// consumer in none of its groups.
//
//	plugins:
//	  - name: acl
//	    route: admin
//	    config: {allow: [admins], deny: [suspended]}
type ACLConfig struct {
	// Allow lists the groups that may pass; empty allows every group.
	Allow []string `json:"allow,omitempty"`
	// Deny lists the groups that may not pass, whatever Allow says.
	Deny []string `json:"deny,omitempty"`
}
