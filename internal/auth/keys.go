package auth

import (
	"fmt"
	"slices"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tollgate/tollgate/store"
)

// keyEntry is one key that verifies tokens: from a consumer's credential
// or from a JWKS. It is immutable once built.
type keyEntry struct {
	key any
	// algs are the algorithms the key verifies; the token's "alg" must be
	// one of them. A credential names one; a JWKS key names one or, for an
	// RSA key without "alg", RS256 and PS256.
	algs []string
	// consumer owns a credential key; "" for JWKS keys.
	consumer string
	fromJWKS bool
}

// allows reports whether the key may verify a token signed with alg.
func (k *keyEntry) allows(alg string) bool { return slices.Contains(k.algs, alg) }

// keyfunc returns the key for jwt.Parser, checking again that the token's
// algorithm is alg, the one chosen from the key.
func (k *keyEntry) keyfunc(alg string) jwt.Keyfunc {
	return func(t *jwt.Token) (any, error) {
		if t.Method == nil || t.Method.Alg() != alg {
			return nil, errAlgorithm
		}
		return k.key, nil
	}
}

// credentialKeys maps each JWT credential's key (the kid or iss tokens
// name it by) to its verification key.
func credentialKeys(consumers []store.Consumer) (map[string]*keyEntry, error) {
	out := map[string]*keyEntry{}
	for i, c := range consumers {
		for j, cred := range c.Credentials.JWT {
			key, err := cred.VerificationKey()
			if err != nil {
				return nil, fmt.Errorf("%w: consumers[%d].credentials.jwt[%d]: %w", ErrInvalidConfig, i, j, err)
			}
			if _, dup := out[cred.Key]; dup {
				return nil, fmt.Errorf("%w: consumers[%d].credentials.jwt[%d]: duplicate key %q", ErrInvalidConfig, i, j, cred.Key)
			}
			out[cred.Key] = &keyEntry{key: key, algs: []string{cred.Algorithm}, consumer: c.Username}
		}
	}
	return out, nil
}
