package auth

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func newJWKSPolicy(t *testing.T, clock *fakeClock, srv *jwksServer, cfg JWTConfig, sets *KeySets) *JWT {
	t.Helper()
	cfg.JWKSURL = srv.srv.URL
	p, err := NewJWT(cfg, testConsumers(t), Options{Now: clock.Now, HTTPClient: srv.srv.Client(), KeySets: sets})
	if err != nil {
		t.Fatalf("NewJWT: %v", err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// expect serves a token and checks the status and, for a 401, the
// error_description.
func expect(t *testing.T, p *JWT, tok string, status int, desc string) {
	t.Helper()
	rec, _ := serve(p, bearerRequest(tok))
	if rec.Code != status {
		t.Fatalf("status = %d, want %d (%s)", rec.Code, status, rec.Header().Get("WWW-Authenticate"))
	}
	if desc != "" && !strings.Contains(rec.Header().Get("WWW-Authenticate"), `error_description="`+desc+`"`) {
		t.Fatalf("challenge = %q, want %q", rec.Header().Get("WWW-Authenticate"), desc)
	}
}

func expectFetches(t *testing.T, srv *jwksServer, want int) {
	t.Helper()
	if got := srv.count(); got != want {
		t.Fatalf("JWKS fetched %d times, want %d", got, want)
	}
}

// fresh returns valid claims at the clock's time, unique per call so
// that the token is not served from the cache.
func fresh(clock *fakeClock, n int) jwt.MapClaims {
	return with(baseClaims(clock), "jti", fmt.Sprint(n))
}

func TestJWKSUnknownKidThenRotation(t *testing.T) {
	k := keys(t)
	clock := newClock()
	srv := newJWKSServer(t, rsaJWK("k1", "RS256", &k.rsa.PublicKey))
	p := newJWKSPolicy(t, clock, srv, JWTConfig{Issuer: "https://idp.example"}, nil)

	tok1 := sign(t, jwt.SigningMethodRS256, k.rsa, "k1", fresh(clock, 1))
	expect(t, p, tok1, 200, "") // waits for the first fetch
	expectFetches(t, srv, 1)

	// The IdP publishes k2 and signs with it at once: the unknown kid
	// fetches the set again, with no false 401.
	srv.set(rsaJWK("k1", "RS256", &k.rsa.PublicKey), ecJWK("k2", &k.ec256.PublicKey))
	expect(t, p, sign(t, jwt.SigningMethodES256, k.ec256, "k2", fresh(clock, 2)), 200, "")
	expectFetches(t, srv, 2)

	// A flood of unknown kids costs at most one fetch per interval.
	for i := range 5 {
		expect(t, p, sign(t, jwt.SigningMethodRS256, k.rsa2, fmt.Sprint("bogus-", i), fresh(clock, 3)), 401, "unknown signing key")
	}
	expectFetches(t, srv, 2)
	clock.Advance(minRefresh)
	expect(t, p, sign(t, jwt.SigningMethodRS256, k.rsa2, "bogus-x", fresh(clock, 4)), 401, "unknown signing key")
	expect(t, p, sign(t, jwt.SigningMethodRS256, k.rsa2, "bogus-y", fresh(clock, 5)), 401, "unknown signing key")
	expectFetches(t, srv, 3)

	// k1 retires, k3 arrives.
	srv.set(ecJWK("k2", &k.ec256.PublicKey), rsaJWK("k3", "", &k.rsa2.PublicKey))
	clock.Advance(minRefresh)
	expect(t, p, sign(t, jwt.SigningMethodPS256, k.rsa2, "k3", fresh(clock, 6)), 200, "")
	expectFetches(t, srv, 4)
	expect(t, p, sign(t, jwt.SigningMethodRS256, k.rsa, "k1", fresh(clock, 7)), 401, "unknown signing key")

	// A cached k1 token is checked again against the refreshed set once
	// its cache entry (capped at the refresh interval) lapses.
	expect(t, p, tok1, 200, "")
	clock.Advance(5 * time.Minute)
	expect(t, p, tok1, 401, "unknown signing key")
}

func TestJWKSDownKeepsLastGoodKeys(t *testing.T) {
	k := keys(t)
	clock := newClock()
	srv := newJWKSServer(t, rsaJWK("k1", "RS256", &k.rsa.PublicKey))
	p := newJWKSPolicy(t, clock, srv, JWTConfig{}, nil)
	expect(t, p, sign(t, jwt.SigningMethodRS256, k.rsa, "k1", fresh(clock, 1)), 200, "")

	srv.setDown(true)
	clock.Advance(6 * time.Minute) // the set is stale: refreshed in the background
	expect(t, p, sign(t, jwt.SigningMethodRS256, k.rsa, "k1", fresh(clock, 2)), 200, "")
	p.jwks.wait()
	expectFetches(t, srv, 2)
	expect(t, p, sign(t, jwt.SigningMethodRS256, k.rsa, "k1", fresh(clock, 3)), 200, "")
	expect(t, p, sign(t, jwt.SigningMethodRS256, k.rsa, "k9", fresh(clock, 4)), 401, "unknown signing key")
	expectFetches(t, srv, 3)

	clock.Advance(3 * time.Hour) // a long outage
	expect(t, p, sign(t, jwt.SigningMethodRS256, k.rsa, "k1", fresh(clock, 5)), 200, "")
	p.jwks.wait()

	srv.setDown(false)
	srv.set(rsaJWK("k1", "RS256", &k.rsa.PublicKey), edJWK("k2", k.ed.Public().(ed25519PublicKey)))
	clock.Advance(minRefresh)
	expect(t, p, sign(t, jwt.SigningMethodEdDSA, k.ed, "k2", fresh(clock, 6)), 200, "")
}

func TestJWKSDownAtStart(t *testing.T) {
	k := keys(t)
	clock := newClock()
	srv := newJWKSServer(t, rsaJWK("k1", "RS256", &k.rsa.PublicKey))
	srv.setDown(true)
	p := newJWKSPolicy(t, clock, srv, JWTConfig{}, nil)
	tok := sign(t, jwt.SigningMethodRS256, k.rsa, "k1", fresh(clock, 1))
	expect(t, p, tok, 401, "signing keys unavailable")
	srv.setDown(false)
	clock.Advance(minRefresh)
	expect(t, p, tok, 200, "")
}

func TestKeySetsSurviveConfigVersions(t *testing.T) {
	k := keys(t)
	clock := newClock()
	srv := newJWKSServer(t, rsaJWK("k1", "RS256", &k.rsa.PublicKey))
	sets := NewKeySets(Options{Now: clock.Now, HTTPClient: srv.srv.Client()})
	defer sets.Close()

	v1 := newJWKSPolicy(t, clock, srv, JWTConfig{}, sets)
	expect(t, v1, sign(t, jwt.SigningMethodRS256, k.rsa, "k1", fresh(clock, 1)), 200, "")
	srv.setDown(true)
	if err := v1.Close(); err != nil { // a shared KeySets outlives the policy
		t.Fatal(err)
	}
	v2 := newJWKSPolicy(t, clock, srv, JWTConfig{RequiredScopes: []string{"read"}}, sets)
	expect(t, v2, sign(t, jwt.SigningMethodRS256, k.rsa, "k1", fresh(clock, 2)), 200, "")
	expectFetches(t, srv, 1)
}

func TestJWTCloseCancelsFetchInFlight(t *testing.T) {
	entered, cancelled := make(chan struct{}), make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-r.Context().Done()
		close(cancelled)
	}))
	defer srv.Close()
	p, err := NewJWT(JWTConfig{JWKSURL: srv.URL}, nil, Options{HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	<-entered // the first fetch started in the background
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-cancelled:
	case <-time.After(10 * time.Second):
		t.Fatal("Close returned but the fetch was not cancelled")
	}
	if p.jwks.startRefresh(fetchUnknownKid) != nil {
		t.Fatal("a closed key set started a fetch")
	}
}

func TestJWKSKeyAlgorithmsComeFromTheKey(t *testing.T) {
	k := keys(t)
	clock := newClock()
	srv := newJWKSServer(t, rsaJWK("rsa", "", &k.rsa.PublicKey), rsaJWK("rs-only", "RS256", &k.rsa2.PublicKey))
	p := newJWKSPolicy(t, clock, srv, JWTConfig{}, nil)
	pemKey := []byte(publicPEM(t, &k.rsa.PublicKey))
	for _, tt := range []struct {
		name   string
		tok    string
		status int
		desc   string
	}{
		{"RS256 with an RSA key without alg", sign(t, jwt.SigningMethodRS256, k.rsa, "rsa", fresh(clock, 1)), 200, ""},
		{"PS256 with an RSA key without alg", sign(t, jwt.SigningMethodPS256, k.rsa, "rsa", fresh(clock, 2)), 200, ""},
		{"PS256 with an RS256 key", sign(t, jwt.SigningMethodPS256, k.rsa2, "rs-only", fresh(clock, 3)), 401, "algorithm not allowed"},
		{"HS256 signed with the RSA key's PEM", sign(t, jwt.SigningMethodHS256, pemKey, "rsa", fresh(clock, 4)), 401, "algorithm not allowed"},
		{"alg none", unsignedToken(t, "rsa", fresh(clock, 5)), 401, "algorithm not allowed"},
	} {
		t.Run(tt.name, func(t *testing.T) { expect(t, p, tt.tok, tt.status, tt.desc) })
	}
}

func TestJWKSConsumerClaim(t *testing.T) {
	k := keys(t)
	clock := newClock()
	srv := newJWKSServer(t, rsaJWK("k1", "RS256", &k.rsa.PublicKey))
	p := newJWKSPolicy(t, clock, srv, JWTConfig{ConsumerClaim: "client_id"}, nil)
	for _, tt := range []struct{ client, consumer string }{{"alice", "alice"}, {"mallory", ""}} {
		tok := sign(t, jwt.SigningMethodRS256, k.rsa, "k1", with(baseClaims(clock), "client_id", tt.client))
		_, s := serve(p, bearerRequest(tok))
		if !s.called || s.consumer != tt.consumer || s.header.Get("X-Consumer") != tt.consumer {
			t.Fatalf("client %s: consumer %q, X-Consumer %q, want %q", tt.client, s.consumer, s.header.Get("X-Consumer"), tt.consumer)
		}
	}
}

func TestParseJWKS(t *testing.T) {
	k := keys(t)
	weak := rsaJWK("weak", "", &k.rsa.PublicKey)
	weak["n"] = b64u(k.rsa.N.Bytes()[:64]) // 512 bits
	for _, tt := range []struct {
		name    string
		keys    []map[string]string
		usable  []string // kids
		skipped int
	}{
		{"all kinds", []map[string]string{rsaJWK("r", "", &k.rsa.PublicKey), ecJWK("e", &k.ec256.PublicKey), edJWK("d", k.ed.Public().(ed25519PublicKey))}, []string{"r", "e", "d"}, 0},
		{"encryption key skipped", []map[string]string{with2(rsaJWK("enc", "", &k.rsa.PublicKey), "use", "enc"), rsaJWK("r", "", &k.rsa.PublicKey)}, []string{"r"}, 1},
		{"symmetric key skipped", []map[string]string{{"kty": "oct", "kid": "s", "k": "c2VjcmV0"}, ecJWK("e", &k.ec256.PublicKey)}, []string{"e"}, 1},
		{"weak RSA skipped", []map[string]string{weak, ecJWK("e", &k.ec256.PublicKey)}, []string{"e"}, 1},
		{"alg contradicting the key skipped", []map[string]string{rsaJWK("x", "ES256", &k.rsa.PublicKey), ecJWK("e", &k.ec256.PublicKey)}, []string{"e"}, 1},
		{"off-curve point skipped", []map[string]string{with2(ecJWK("bad", &k.ec256.PublicKey), "y", b64u(make([]byte, 32))), ecJWK("e", &k.ec256.PublicKey)}, []string{"e"}, 1},
		{"no usable key", []map[string]string{{"kty": "oct", "kid": "s", "k": "c2VjcmV0"}}, nil, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			body := mustJSON(t, map[string]any{"keys": tt.keys})
			set, skipped, err := parseJWKS(body, time.Time{})
			if len(skipped) != tt.skipped {
				t.Fatalf("skipped %v, want %d", skipped, tt.skipped)
			}
			if tt.usable == nil {
				if err == nil {
					t.Fatal("want an error for a set without usable keys")
				}
				return
			}
			if err != nil || len(set.byKid) != len(tt.usable) {
				t.Fatalf("set %v, err %v, want kids %v", set, err, tt.usable)
			}
			for _, kid := range tt.usable {
				if set.lookup(kid) == nil {
					t.Fatalf("kid %q missing", kid)
				}
			}
		})
	}
}
