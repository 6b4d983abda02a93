package auth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/tollgate/tollgate/store"
)

// maxJWKSBytes bounds a JWKS document.
const maxJWKSBytes = 1 << 20

// keySet is one fetched JWKS: immutable, replaced whole on refresh.
type keySet struct {
	byKid   map[string]*keyEntry
	fetched time.Time
}

// lookup returns the key named kid. A token without a kid matches the
// only key of a one-key set.
func (s *keySet) lookup(kid string) *keyEntry {
	if k := s.byKid[kid]; k != nil {
		return k
	}
	if kid == "" && len(s.byKid) == 1 {
		for _, k := range s.byKid {
			return k
		}
	}
	return nil
}

// jsonWebKey is the subset of RFC 7517/7518/8037 members tollgate reads.
type jsonWebKey struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	Crv string `json:"crv"`
	N   string `json:"n"`
	E   string `json:"e"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

// parseJWKS reads a JWKS document. Keys that cannot verify signatures
// (encryption keys, symmetric or unsupported ones) are skipped and
// reported in skipped; a set without a usable key is an error.
func parseJWKS(body []byte, fetched time.Time) (set *keySet, skipped []error, err error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, nil, fmt.Errorf("decode jwks: %w", err)
	}
	set = &keySet{byKid: map[string]*keyEntry{}, fetched: fetched}
	for i, raw := range doc.Keys {
		var jk jsonWebKey
		if err := json.Unmarshal(raw, &jk); err != nil {
			skipped = append(skipped, fmt.Errorf("keys[%d]: %w", i, err))
			continue
		}
		entry, err := jk.entry()
		if err == nil && set.byKid[jk.Kid] != nil {
			err = fmt.Errorf("duplicate kid %q", jk.Kid)
		}
		if err != nil {
			skipped = append(skipped, fmt.Errorf("keys[%d] (kid %q): %w", i, jk.Kid, err))
			continue
		}
		set.byKid[jk.Kid] = entry
	}
	if len(set.byKid) == 0 {
		return nil, skipped, errors.New("jwks has no usable signing key")
	}
	return set, skipped, nil
}

// entry turns a JWK into a verification key with the algorithms it may
// verify: its "alg" when given, else those its type implies.
func (jk jsonWebKey) entry() (*keyEntry, error) {
	if jk.Use != "" && jk.Use != "sig" {
		return nil, fmt.Errorf("use %q is not for signatures", jk.Use)
	}
	pub, algs, err := jk.publicKey()
	if err != nil {
		return nil, err
	}
	if jk.Alg != "" {
		algs = []string{jk.Alg}
	}
	for _, alg := range algs {
		if err := store.CheckJWTKey(alg, pub); err != nil {
			return nil, err
		}
	}
	return &keyEntry{key: pub, algs: algs, fromJWKS: true}, nil
}

// publicKey decodes the key material and the algorithms its type implies.
func (jk jsonWebKey) publicKey() (any, []string, error) {
	switch jk.Kty {
	case "RSA":
		pub, err := jk.rsaKey()
		return pub, []string{store.AlgRS256, store.AlgPS256}, err
	case "EC":
		return jk.ecKey()
	case "OKP":
		if jk.Crv != "Ed25519" {
			return nil, nil, fmt.Errorf("unsupported OKP curve %q", jk.Crv)
		}
		x, err := b64(jk.X)
		if err != nil || len(x) != ed25519.PublicKeySize {
			return nil, nil, errors.New("invalid Ed25519 key")
		}
		return ed25519.PublicKey(x), []string{store.AlgEdDSA}, nil
	}
	return nil, nil, fmt.Errorf("unsupported key type %q", jk.Kty)
}

func (jk jsonWebKey) rsaKey() (*rsa.PublicKey, error) {
	n, err := b64(jk.N)
	if err != nil || len(n) == 0 {
		return nil, errors.New("invalid RSA modulus")
	}
	e, err := b64(jk.E)
	if err != nil || len(e) == 0 || len(e) > 4 {
		return nil, errors.New("invalid RSA exponent")
	}
	exp := int(new(big.Int).SetBytes(e).Int64())
	if exp < 3 || exp%2 == 0 {
		return nil, errors.New("invalid RSA exponent")
	}
	return &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: exp}, nil
}

func (jk jsonWebKey) ecKey() (any, []string, error) {
	var curve elliptic.Curve
	var alg string
	switch jk.Crv {
	case "P-256":
		curve, alg = elliptic.P256(), store.AlgES256
	case "P-384":
		curve, alg = elliptic.P384(), store.AlgES384
	default:
		return nil, nil, fmt.Errorf("unsupported EC curve %q", jk.Crv)
	}
	size := (curve.Params().BitSize + 7) / 8
	x, errX := b64(jk.X)
	y, errY := b64(jk.Y)
	if errX != nil || errY != nil || len(x) > size || len(y) > size {
		return nil, nil, errors.New("invalid EC point")
	}
	point := make([]byte, 1+2*size)
	point[0] = 4 // uncompressed
	copy(point[1+size-len(x):1+size], x)
	copy(point[1+2*size-len(y):], y)
	pub, err := ecdsa.ParseUncompressedPublicKey(curve, point)
	if err != nil {
		return nil, nil, fmt.Errorf("invalid EC point: %w", err)
	}
	return pub, []string{alg}, nil
}

// b64 decodes base64url without padding, tolerating padding.
func b64(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}
