package auth

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tollgate/tollgate/store"
)

// FuzzJWT feeds arbitrary bearer tokens through a jwt policy whose only
// key is an HS256 secret. It must never panic, and whatever it lets
// through must be a token that the secret really signed with HS256.
func FuzzJWT(f *testing.F) {
	clock := newClock()
	secret := []byte("0123456789abcdef0123456789abcdef-fuzz")
	claims := jwt.MapClaims{"sub": "u1", "iss": "fuzz", "exp": clock.Now().Add(time.Hour).Unix()}
	good := sign(f, jwt.SigningMethodHS256, secret, "k1", claims)
	f.Add(good)
	f.Add(unsignedToken(f, "k1", claims))
	f.Add(sign(f, jwt.SigningMethodHS512, secret, "k1", claims))
	f.Add("a.b.c")
	f.Add("")
	f.Add("eyJhbGciOiJub25lIn0.e30.")

	consumers := []store.Consumer{{Username: "alice", Credentials: store.ConsumerCredentials{
		JWT: []store.JWTCredential{{Key: "k1", Algorithm: "HS256", Secret: string(secret)}}}}}
	pol, err := NewJWT(JWTConfig{}, consumers, Options{Now: clock.Now})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, token string) {
		req := httptest.NewRequest(http.MethodGet, "http://gw/x", nil)
		req.Header["Authorization"] = []string{"Bearer " + token}
		rec, s := serve(pol, req)
		if !s.called {
			if rec.Code != http.StatusUnauthorized && rec.Code != http.StatusForbidden {
				t.Fatalf("refused with %d", rec.Code)
			}
			return
		}
		parsed, err := jwt.Parse(token, func(*jwt.Token) (any, error) { return secret, nil },
			jwt.WithValidMethods([]string{"HS256"}), jwt.WithTimeFunc(clock.Now), jwt.WithExpirationRequired())
		if err != nil || !parsed.Valid {
			t.Fatalf("accepted a token the key did not sign: %q (%v)", token, err)
		}
	})
}
