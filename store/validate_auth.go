package store

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"time"
)

// maxJWTLeeway bounds JWTConfig.Leeway.
const maxJWTLeeway = 10 * time.Minute

// auth checks the consumers' credentials and the configs of the jwt,
// key-auth and acl plugins.
func (v *validator) auth(c *Config) {
	v.credentials(c.Consumers)
	for i, pl := range c.Plugins {
		var errs []FieldError
		switch pl.Name {
		case PluginJWT:
			_, errs = ParseJWTConfig(pl.Config)
		case PluginKeyAuth:
			_, errs = ParseKeyAuthConfig(pl.Config)
		case PluginACL:
			_, errs = ParseACLConfig(pl.Config)
		}
		for _, fe := range errs {
			path := fmt.Sprintf("plugins[%d].config", i)
			if fe.Path != "" {
				path += "." + fe.Path
			}
			v.errs = append(v.errs, FieldError{Path: path, Message: fe.Message})
		}
	}
}

// credentials checks every consumer's credentials: key ids unique per
// consumer, API key hashes and JWT keys unique across consumers, and each
// JWT key usable with its algorithm.
func (v *validator) credentials(consumers []Consumer) {
	hashes := map[[32]byte]string{}
	jwtKeys := map[string]string{}
	for i, c := range consumers {
		p := fmt.Sprintf("consumers[%d].credentials", i)
		ids := map[string]bool{}
		for j, k := range c.Credentials.KeyAuth {
			kp := fmt.Sprintf("%s.key_auth[%d]", p, j)
			v.uniqueName(kp, "key_id", k.KeyID, ids)
			v.keyAuthCredential(kp, k, hashes)
		}
		for j, jc := range c.Credentials.JWT {
			v.jwtCredential(fmt.Sprintf("%s.jwt[%d]", p, j), jc, jwtKeys)
		}
	}
}

func (v *validator) keyAuthCredential(path string, k KeyAuthCredential, seen map[[32]byte]string) {
	if k.Key != "" {
		v.addf(path+".key", "plaintext keys are not stored: send key_hash (%q + hex SHA-256 of the key) or write through the admin API, which hashes it", apiKeyHashPrefix)
		return
	}
	switch k.KeyHash {
	case "":
		v.addf(path+".key_hash", "is required")
		return
	case RedactedValue:
		v.addf(path+".key_hash", "is redacted; send the key again, or its key_hash")
		return
	}
	d, err := k.Digest()
	if err != nil {
		v.addf(path+".key_hash", "%v", err)
		return
	}
	if other, dup := seen[d]; dup {
		v.addf(path+".key_hash", "same key as %s", other)
		return
	}
	seen[d] = path
}

func (v *validator) jwtCredential(path string, jc JWTCredential, seen map[string]string) {
	switch other, dup := seen[jc.Key]; {
	case jc.Key == "":
		v.addf(path+".key", "is required")
	case dup:
		v.addf(path+".key", "duplicate key %q (also %s)", jc.Key, other)
	default:
		seen[jc.Key] = path
	}
	if _, field, err := jc.verificationKey(); err != nil {
		v.addf(path+"."+field, "%v", err)
	}
}

// ParseKeyAuthConfig decodes and validates a key-auth plugin config.
// Errors carry field paths relative to the plugin's config.
func ParseKeyAuthConfig(raw json.RawMessage) (KeyAuthConfig, []FieldError) {
	var c KeyAuthConfig
	if errs := decodeStrict(raw, &c); len(errs) > 0 {
		return c, errs
	}
	var v validator
	if !c.InHeader() && !c.InQuery() {
		v.addf("key_in_header", "key_in_header and key_in_query must not both be false")
	}
	v.names("key_names", c.KeyNames)
	return c, v.errs
}

// ParseJWTConfig decodes and validates a jwt plugin config. Errors carry
// field paths relative to the plugin's config.
func ParseJWTConfig(raw json.RawMessage) (JWTConfig, []FieldError) {
	var c JWTConfig
	if errs := decodeStrict(raw, &c); len(errs) > 0 {
		return c, errs
	}
	var v validator
	v.algorithms(c.Algorithms)
	v.jwksURL(c.JWKSURL)
	v.jwtDurations(c)
	v.nonEmpty("audiences", c.Audiences)
	v.nonEmpty("required_scopes", c.RequiredScopes)
	for i, s := range c.RequiredScopes {
		if strings.ContainsAny(s, " \t\"\\") {
			v.addf(fmt.Sprintf("required_scopes[%d]", i), "must not contain spaces, quotes or backslashes")
		}
	}
	v.claimHeaders(c.ClaimsToHeaders)
	return c, v.errs
}

// ParseACLConfig decodes and validates an acl plugin config. Errors carry
// field paths relative to the plugin's config.
func ParseACLConfig(raw json.RawMessage) (ACLConfig, []FieldError) {
	var c ACLConfig
	if errs := decodeStrict(raw, &c); len(errs) > 0 {
		return c, errs
	}
	var v validator
	if len(c.Allow) == 0 && len(c.Deny) == 0 {
		v.addf("", "allow or deny is required")
	}
	v.nonEmpty("allow", c.Allow)
	v.nonEmpty("deny", c.Deny)
	for i, g := range c.Allow {
		if g != "" && slices.Contains(c.Deny, g) {
			v.addf(fmt.Sprintf("allow[%d]", i), "group %q is also denied", g)
		}
	}
	return c, v.errs
}

// decodeStrict decodes a plugin config into out, reporting unknown fields
// and mistyped values with their paths. An empty config is {}.
func decodeStrict[T any](raw json.RawMessage, out *T) []FieldError {
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		raw = json.RawMessage("{}")
	}
	var generic any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&generic); err != nil {
		return []FieldError{{Message: "malformed JSON: " + err.Error()}}
	}
	if _, ok := generic.(map[string]any); !ok {
		return []FieldError{{Message: "must be an object"}}
	}
	if errs := checkFields(generic, reflect.TypeFor[T](), ""); len(errs) > 0 {
		return errs
	}
	strict := json.NewDecoder(bytes.NewReader(raw))
	strict.DisallowUnknownFields()
	if err := strict.Decode(out); err != nil {
		return []FieldError{typeError(err)}
	}
	return nil
}

func (v *validator) nonEmpty(field string, list []string) {
	for i, s := range list {
		if s == "" {
			v.addf(fmt.Sprintf("%s[%d]", field, i), "must not be empty")
		}
	}
}

// names checks header or query parameter names.
func (v *validator) names(field string, list []string) {
	for i, n := range list {
		if !isToken(n) {
			v.addf(fmt.Sprintf("%s[%d]", field, i), "invalid name %q", n)
		}
	}
}

func (v *validator) algorithms(algs []string) {
	for i, a := range algs {
		p := fmt.Sprintf("algorithms[%d]", i)
		switch {
		case !slices.Contains(JWTAlgorithms(), a):
			v.addf(p, "unsupported %q (supported: %s)", a, strings.Join(JWTAlgorithms(), ", "))
		case slices.Contains(algs[:i], a):
			v.addf(p, "duplicate %q", a)
		}
	}
}

func (v *validator) jwksURL(raw string) {
	if raw == "" {
		return
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		v.addf("jwks_url", "invalid URL: %v", err)
	case u.Scheme != "http" && u.Scheme != "https":
		v.addf("jwks_url", "scheme must be http or https, not %q", u.Scheme)
	case u.Host == "":
		v.addf("jwks_url", "must include a host")
	}
}

func (v *validator) jwtDurations(c JWTConfig) {
	if c.Leeway < 0 || c.Leeway.Std() > maxJWTLeeway {
		v.addf("leeway", "must be between 0 and %s", maxJWTLeeway)
	}
	if c.JWKSRefreshInterval < 0 {
		v.addf("jwks_refresh_interval", "must not be negative")
	}
	if c.JWKSMinRefreshInterval < 0 {
		v.addf("jwks_min_refresh_interval", "must not be negative")
	}
	if refresh, minimum := c.RefreshIntervals(); c.JWKSRefreshInterval >= 0 && c.JWKSMinRefreshInterval >= 0 && minimum > refresh {
		v.addf("jwks_min_refresh_interval", "must not exceed jwks_refresh_interval (%s)", refresh.Std())
	}
}

// isReservedHeader reports whether h (canonical) may not be set from
// claims: the identity headers the jwt plugin stamps itself, and headers
// the gateway or HTTP owns.
func isReservedHeader(h string) bool {
	switch h {
	case "Authorization", "X-User-Id", "X-User-Scopes", "X-Consumer", "X-Request-Id", "Host",
		"Content-Length", "Content-Type", "Transfer-Encoding", "Connection", "Te", "Upgrade", "Trailer":
		return true
	}
	return strings.HasPrefix(h, "X-Forwarded-") || strings.HasPrefix(h, "Proxy-")
}

func (v *validator) claimHeaders(m map[string]string) {
	claims := make([]string, 0, len(m))
	for k := range m {
		claims = append(claims, k)
	}
	slices.Sort(claims)
	seen := map[string]string{}
	for _, claim := range claims {
		p := "claims_to_headers." + claim
		h := http.CanonicalHeaderKey(m[claim])
		switch other, dup := seen[h]; {
		case claim == "":
			v.addf(p, "claim name must not be empty")
		case !isToken(h):
			v.addf(p, "invalid header name %q", m[claim])
		case isReservedHeader(h):
			v.addf(p, "header %q is reserved", h)
		case dup:
			v.addf(p, "header %q is also set from claim %q", h, other)
		}
		seen[h] = claim
	}
}

// isToken reports whether s is a non-empty RFC 9110 token, as header
// names are.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0 {
			continue
		}
		return false
	}
	return true
}

// VerificationKey returns what verifies tokens for this credential: the
// secret's bytes for HS*, otherwise the parsed public key of the type the
// algorithm needs (*rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey).
// Errors wrap ErrInvalidCredential.
func (c JWTCredential) VerificationKey() (any, error) {
	key, field, err := c.verificationKey()
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrInvalidCredential, field, err)
	}
	return key, nil
}

// ErrInvalidCredential is wrapped by JWTCredential.VerificationKey errors.
var ErrInvalidCredential = errors.New("invalid credential")

// verificationKey is VerificationKey, also naming the field at fault.
func (c JWTCredential) verificationKey() (key any, field string, err error) {
	if !slices.Contains(JWTAlgorithms(), c.Algorithm) {
		if c.Algorithm == "" {
			return nil, "algorithm", errors.New("is required")
		}
		return nil, "algorithm", fmt.Errorf("unsupported %q", c.Algorithm)
	}
	if minLen := hmacMinSecret(c.Algorithm); minLen > 0 {
		return c.hmacKey(minLen)
	}
	if c.Secret != "" {
		return nil, "secret", fmt.Errorf("must be empty for %s (give public_key)", c.Algorithm)
	}
	if c.PublicKey == "" {
		return nil, "public_key", fmt.Errorf("is required for %s", c.Algorithm)
	}
	pub, err := ParsePublicKeyPEM(c.PublicKey)
	if err == nil {
		err = CheckJWTKey(c.Algorithm, pub)
	}
	if err != nil {
		return nil, "public_key", err
	}
	return pub, "", nil
}

func (c JWTCredential) hmacKey(minLen int) (any, string, error) {
	switch {
	case c.PublicKey != "":
		return nil, "public_key", fmt.Errorf("must be empty for %s (give secret)", c.Algorithm)
	case c.Secret == RedactedValue:
		return nil, "secret", errors.New("is redacted; send the secret again")
	case len(c.Secret) < minLen:
		return nil, "secret", fmt.Errorf("must be at least %d bytes for %s", minLen, c.Algorithm)
	}
	return []byte(c.Secret), "", nil
}

// hmacMinSecret is the minimum secret length of an HMAC algorithm (RFC
// 7518 section 3.2), or 0 for other algorithms.
func hmacMinSecret(alg string) int {
	switch alg {
	case AlgHS256:
		return 32
	case AlgHS384:
		return 48
	case AlgHS512:
		return 64
	}
	return 0
}

// ParsePublicKeyPEM parses the first PEM block of s: a PKIX "PUBLIC KEY",
// a PKCS #1 "RSA PUBLIC KEY" or a "CERTIFICATE" whose key is returned.
func ParsePublicKeyPEM(s string) (any, error) {
	block, _ := pem.Decode([]byte(s))
	if block == nil {
		return nil, errors.New("no PEM block found")
	}
	switch {
	case block.Type == "PUBLIC KEY":
		return wrapKeyErr(x509.ParsePKIXPublicKey(block.Bytes))
	case block.Type == "RSA PUBLIC KEY":
		return wrapKeyErr(x509.ParsePKCS1PublicKey(block.Bytes))
	case block.Type == "CERTIFICATE":
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate: %w", err)
		}
		return cert.PublicKey, nil
	case strings.Contains(block.Type, "PRIVATE KEY"):
		return nil, errors.New("is a private key; give the public key")
	}
	return nil, fmt.Errorf("unsupported PEM block %q", block.Type)
}

func wrapKeyErr[K any](k K, err error) (any, error) {
	if err != nil {
		return nil, fmt.Errorf("public key: %w", err)
	}
	return k, nil
}

// CheckJWTKey reports whether pub is a key of the type and strength alg
// needs: RSA of at least 2048 bits for RS256/PS256, P-256 for ES256, P-384
// for ES384, Ed25519 for EdDSA.
func CheckJWTKey(alg string, pub any) error {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if alg != AlgRS256 && alg != AlgPS256 {
			break
		}
		if k.N.BitLen() < 2048 {
			return fmt.Errorf("RSA key of %d bits; at least 2048 are required", k.N.BitLen())
		}
		return nil
	case *ecdsa.PublicKey:
		if (alg == AlgES256 && k.Curve == elliptic.P256()) || (alg == AlgES384 && k.Curve == elliptic.P384()) {
			return nil
		}
	case ed25519.PublicKey:
		if alg == AlgEdDSA {
			return nil
		}
	}
	return fmt.Errorf("a %s key cannot verify %s", keyKind(pub), alg)
}

// keyKind names a public key's type for error messages.
func keyKind(pub any) string {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return "RSA"
	case *ecdsa.PublicKey:
		return "ECDSA " + k.Curve.Params().Name
	case ed25519.PublicKey:
		return "Ed25519"
	}
	return fmt.Sprintf("%T", pub)
}
