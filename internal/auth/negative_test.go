package auth

import (
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// TestJWTNegativeCache: a token refused for good is refused again from
// the negative cache, with the same answer and no signature check, until
// negativeTTL; a token whose key is unknown or that is not valid yet is
// checked again each time (a rotation or the clock may cure it).
func TestJWTNegativeCache(t *testing.T) {
	k := keys(t)
	clock := newClock()
	p := newTestJWT(t, clock, JWTConfig{Issuer: "https://idp.example", Audiences: []string{"api"}})
	base := baseClaims(clock)
	tests := []struct {
		name   string
		token  string
		cached bool
	}{
		{"bad signature", sign(t, jwt.SigningMethodHS256, []byte("another-secret-another-secret-12"), "alice-kid", base), true},
		{"expired", sign(t, jwt.SigningMethodHS256, k.hs, "alice-kid", with(base, "exp", clock.Now().Add(-time.Hour).Unix())), true},
		{"wrong audience", sign(t, jwt.SigningMethodHS256, k.hs, "alice-kid", with(base, "aud", "other")), true},
		{"alg none", unsignedToken(t, "alice-kid", base), true},
		{"unknown kid", sign(t, jwt.SigningMethodHS256, k.hs, "nobody", with(base, "iss", "nobody")), false},
		{"not valid yet", sign(t, jwt.SigningMethodHS256, k.hs, "alice-kid", with(base, "nbf", clock.Now().Add(time.Hour).Unix())), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := p.verifications.Load()
			first, _ := serve(p, bearerRequest(tc.token))
			second, _ := serve(p, bearerRequest(tc.token))
			if first.Code != 401 || second.Code != 401 {
				t.Fatalf("status %d then %d, want 401 twice", first.Code, second.Code)
			}
			c1, m1 := errorBody(t, first)
			if c2, m2 := errorBody(t, second); c1 != c2 || m1 != m2 {
				t.Errorf("answers differ: %s %q then %s %q", c1, m1, c2, m2)
			}
			want := uint64(2)
			if tc.cached {
				want = 1
			}
			if n := p.verifications.Load() - before; n != want {
				t.Errorf("verified %d times, want %d", n, want)
			}
		})
	}
	// After negativeTTL the bad token is checked again.
	before := p.verifications.Load()
	clock.Advance(negativeTTL + time.Second)
	serve(p, bearerRequest(tests[0].token))
	if n := p.verifications.Load() - before; n != 1 {
		t.Errorf("after negativeTTL: verified %d times, want 1", n)
	}
}
