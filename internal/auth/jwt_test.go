package auth

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// baseClaims are valid claims at clock's time for the "api" audience.
func baseClaims(clock *fakeClock) jwt.MapClaims {
	now := clock.Now()
	return jwt.MapClaims{
		"iss": "https://idp.example", "aud": "api", "sub": "user-1",
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "scope": "read write",
	}
}

func with(c jwt.MapClaims, kv ...any) jwt.MapClaims {
	out := jwt.MapClaims{}
	for k, v := range c {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
			continue
		}
		out[kv[i].(string)] = kv[i+1]
	}
	return out
}

func newTestJWT(t *testing.T, clock *fakeClock, cfg JWTConfig) *JWT {
	t.Helper()
	p, err := NewJWT(cfg, testConsumers(t), Options{Now: clock.Now})
	if err != nil {
		t.Fatalf("NewJWT: %v", err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func TestJWTFailureModes(t *testing.T) {
	k := keys(t)
	clock := newClock()
	now := clock.Now()
	base := baseClaims(clock)
	rsaPEM := publicPEM(t, &k.rsa.PublicKey)
	hs := func(c jwt.MapClaims) string { return sign(t, jwt.SigningMethodHS256, k.hs, "alice-kid", c) }
	tampered := func() string {
		parts := strings.Split(hs(base), ".")
		parts[1] = b64u([]byte(`{"sub":"admin","aud":"api","iss":"https://idp.example","exp":9999999999}`))
		return strings.Join(parts, ".")
	}
	defaults := JWTConfig{Issuer: "https://idp.example", Audiences: []string{"api"}, Leeway: 30e9}

	tests := []struct {
		name    string
		cfg     *JWTConfig // nil: defaults
		header  string     // Authorization header; "" sends none
		status  int
		code    string // gateway error code
		desc    string // error_description in WWW-Authenticate
		consume string // consumer on success
	}{
		{name: "valid HS256", header: "Bearer " + hs(base), status: 200, consume: "alice"},
		{name: "valid RS256", header: "Bearer " + sign(t, jwt.SigningMethodRS256, k.rsa, "bob-kid", base), status: 200, consume: "bob"},
		{name: "valid ES256", header: "Bearer " + sign(t, jwt.SigningMethodES256, k.ec256, "carol-kid", base), status: 200, consume: "carol"},
		{name: "valid EdDSA by iss", header: "Bearer " + sign(t, jwt.SigningMethodEdDSA, k.ed, "", with(base, "iss", "https://carol.example")),
			cfg: &JWTConfig{Audiences: []string{"api"}}, status: 200, consume: "carol"},
		{name: "lower-case scheme", header: "bearer " + hs(base), status: 200, consume: "alice"},
		{name: "expired within leeway", header: "Bearer " + hs(with(base, "exp", now.Add(-10*time.Second).Unix())), status: 200, consume: "alice"},

		{name: "missing token", status: 401, code: "missing_token"},
		{name: "basic scheme", header: "Basic YWxpY2U6cHc=", status: 401, code: "missing_token"},
		{name: "empty bearer", header: "Bearer ", status: 401, code: "missing_token"},
		{name: "malformed", header: "Bearer abc.def", status: 401, code: "invalid_token", desc: "malformed token"},
		{name: "expired", header: "Bearer " + hs(with(base, "exp", now.Add(-time.Minute).Unix())), status: 401, code: "invalid_token", desc: "token expired"},
		{name: "not yet valid", header: "Bearer " + hs(with(base, "nbf", now.Add(time.Minute).Unix())), status: 401, code: "invalid_token", desc: "token not valid yet"},
		{name: "no exp", header: "Bearer " + hs(with(base, "exp", nil)), status: 401, code: "invalid_token", desc: "missing required claim"},
		{name: "wrong issuer", header: "Bearer " + hs(with(base, "iss", "https://evil.example")), status: 401, code: "invalid_token", desc: "invalid issuer"},
		{name: "wrong audience", header: "Bearer " + hs(with(base, "aud", "other")), status: 401, code: "invalid_token", desc: "invalid audience"},
		{name: "no audience", header: "Bearer " + hs(with(base, "aud", nil)), status: 401, code: "invalid_token", desc: "missing required claim"},
		{name: "bad signature", header: "Bearer " + sign(t, jwt.SigningMethodHS256, []byte("another-secret-another-secret-12"), "alice-kid", base),
			status: 401, code: "invalid_token", desc: "invalid signature"},
		{name: "tampered claims", header: "Bearer " + tampered(), status: 401, code: "invalid_token", desc: "invalid signature"},
		{name: "alg none", header: "Bearer " + unsignedToken(t, "alice-kid", base), status: 401, code: "invalid_token", desc: "algorithm not allowed"},
		{name: "alg confusion: HS256 signed with the RSA public key PEM", header: "Bearer " + sign(t, jwt.SigningMethodHS256, []byte(rsaPEM), "bob-kid", base),
			status: 401, code: "invalid_token", desc: "algorithm not allowed"},
		{name: "PS256 token for an RS256 key", header: "Bearer " + sign(t, jwt.SigningMethodPS256, k.rsa, "bob-kid", base),
			status: 401, code: "invalid_token", desc: "algorithm not allowed"},
		{name: "RS256 token for an HS256 key", header: "Bearer " + sign(t, jwt.SigningMethodRS256, k.rsa, "alice-kid", base),
			status: 401, code: "invalid_token", desc: "algorithm not allowed"},
		{name: "algorithm outside the policy's list", cfg: &JWTConfig{Algorithms: []string{"RS256"}, Audiences: []string{"api"}},
			header: "Bearer " + hs(base), status: 401, code: "invalid_token", desc: "algorithm not allowed"},
		{name: "unknown kid", header: "Bearer " + sign(t, jwt.SigningMethodHS256, k.hs, "nobody", with(base, "iss", "nobody")),
			status: 401, code: "invalid_token", desc: "unknown signing key"},
		{name: "sub not a header value", header: "Bearer " + hs(with(base, "sub", "x\r\nX-Admin: 1")), status: 401, code: "invalid_token",
			desc: "claims are not valid header values"},
		{name: "two authorization headers", header: "Bearer " + hs(base) + "\x00dup", status: 401, code: "invalid_token", desc: "more than one authorization header"},
		{name: "missing scope", cfg: &JWTConfig{RequiredScopes: []string{"read", "admin"}}, header: "Bearer " + hs(base),
			status: 403, code: "insufficient_scope"},
		{name: "scope from scp list", cfg: &JWTConfig{RequiredScopes: []string{"admin"}},
			header: "Bearer " + hs(with(base, "scope", nil, "scp", []string{"admin", "read"})), status: 200, consume: "alice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := defaults
			if tt.cfg != nil {
				cfg = *tt.cfg
			}
			p := newTestJWT(t, clock, cfg)
			req := bearerRequest("")
			for _, v := range strings.Split(tt.header, "\x00") {
				if v == "dup" {
					req.Header.Add("Authorization", "Bearer x")
				} else if v != "" {
					req.Header.Set("Authorization", v)
				}
			}
			rec, s := serve(p, req)
			if rec.Code != tt.status {
				t.Fatalf("status = %d, want %d (body %s, challenge %q)", rec.Code, tt.status, rec.Body, rec.Header().Get("WWW-Authenticate"))
			}
			if tt.status == 200 {
				if !s.called || s.consumer != tt.consume {
					t.Fatalf("next called=%v consumer=%q, want %q", s.called, s.consumer, tt.consume)
				}
				return
			}
			if s.called {
				t.Fatal("next ran for a refused request")
			}
			code, _ := errorBody(t, rec)
			if code != tt.code {
				t.Fatalf("error code = %q, want %q", code, tt.code)
			}
			checkChallenge(t, rec.Header().Get("WWW-Authenticate"), tt.code, tt.desc)
		})
	}
}

// checkChallenge checks an RFC 6750 WWW-Authenticate value.
func checkChallenge(t *testing.T, got, code, desc string) {
	t.Helper()
	switch code {
	case "missing_token":
		if got != `Bearer realm="tollgate"` {
			t.Fatalf("challenge = %q, want a bare realm", got)
		}
	case "insufficient_scope":
		want := `Bearer realm="tollgate", error="insufficient_scope", error_description="token lacks a required scope", scope="read admin"`
		if got != want {
			t.Fatalf("challenge = %q, want %q", got, want)
		}
	default:
		want := `Bearer realm="tollgate", error="invalid_token", error_description="` + desc + `"`
		if got != want {
			t.Fatalf("challenge = %q, want %q", got, want)
		}
	}
}

func TestJWTStampsIdentityAndRemovesForgedHeaders(t *testing.T) {
	k := keys(t)
	clock := newClock()
	cfg := JWTConfig{ClaimsToHeaders: map[string]string{"tenant": "x-tenant", "roles": "X-Roles"}}
	p := newTestJWT(t, clock, cfg)
	forge := func(req *http.Request) *http.Request {
		for _, h := range []string{"X-User-Id", "X-User-Scopes", "X-Consumer", "X-Tenant", "X-Roles"} {
			req.Header.Set(h, "forged")
		}
		return req
	}

	tok := sign(t, jwt.SigningMethodHS256, k.hs, "alice-kid", with(baseClaims(clock), "tenant", "acme", "roles", []string{"a", "b"}))
	rec, s := serve(p, forge(bearerRequest(tok)))
	if rec.Code != 200 {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	want := map[string]string{"X-User-Id": "user-1", "X-User-Scopes": "read write", "X-Consumer": "alice",
		"X-Tenant": "acme", "X-Roles": "a,b", "Authorization": ""}
	for h, v := range want {
		if got := s.header.Values(h); (v == "" && len(got) != 0) || (v != "" && (len(got) != 1 || got[0] != v)) {
			t.Errorf("%s = %q, want %q", h, got, v)
		}
	}

	// A token without sub, scopes or claims: the forged values are gone,
	// nothing replaces them.
	bare := sign(t, jwt.SigningMethodHS256, k.hs, "alice-kid", with(baseClaims(clock), "sub", nil, "scope", nil))
	_, s = serve(p, forge(bearerRequest(bare)))
	for _, h := range []string{"X-User-Id", "X-User-Scopes", "X-Tenant", "X-Roles"} {
		if v := s.header.Values(h); len(v) != 0 {
			t.Errorf("%s = %q after a token without it, want none", h, v)
		}
	}
	// A cached second request behaves the same.
	_, s = serve(p, forge(bearerRequest(tok)))
	if got := s.header.Get("X-User-Id"); got != "user-1" {
		t.Fatalf("cached: X-User-Id = %q", got)
	}
}

func TestJWTKeepAuthorization(t *testing.T) {
	k := keys(t)
	clock := newClock()
	p := newTestJWT(t, clock, JWTConfig{KeepAuthorization: true})
	tok := sign(t, jwt.SigningMethodHS256, k.hs, "alice-kid", baseClaims(clock))
	_, s := serve(p, bearerRequest(tok))
	if got := s.header.Get("Authorization"); got != "Bearer "+tok {
		t.Fatalf("Authorization = %q, want it kept", got)
	}
}

func TestJWTCacheServesUntilExpiry(t *testing.T) {
	k := keys(t)
	clock := newClock()
	p := newTestJWT(t, clock, JWTConfig{Leeway: 30e9})
	tok := sign(t, jwt.SigningMethodHS256, k.hs, "alice-kid", with(baseClaims(clock), "exp", clock.Now().Add(time.Minute).Unix()))
	for range 3 {
		if rec, _ := serve(p, bearerRequest(tok)); rec.Code != 200 {
			t.Fatalf("status %d", rec.Code)
		}
	}
	if n := p.verifications.Load(); n != 1 {
		t.Fatalf("verified %d times, want once (then cached)", n)
	}
	clock.Advance(time.Minute + 29*time.Second) // within leeway
	if rec, _ := serve(p, bearerRequest(tok)); rec.Code != 200 {
		t.Fatalf("within leeway: status %d", rec.Code)
	}
	clock.Advance(2 * time.Second)
	rec, _ := serve(p, bearerRequest(tok))
	if rec.Code != 401 || !strings.Contains(rec.Header().Get("WWW-Authenticate"), "token expired") {
		t.Fatalf("after expiry: status %d, challenge %q", rec.Code, rec.Header().Get("WWW-Authenticate"))
	}
}

func TestJWTCachesInsufficientScope(t *testing.T) {
	k := keys(t)
	clock := newClock()
	p := newTestJWT(t, clock, JWTConfig{RequiredScopes: []string{"admin"}})
	tok := sign(t, jwt.SigningMethodHS256, k.hs, "alice-kid", baseClaims(clock))
	for range 2 {
		if rec, _ := serve(p, bearerRequest(tok)); rec.Code != 403 {
			t.Fatalf("status %d, want 403", rec.Code)
		}
	}
	if n := p.verifications.Load(); n != 1 {
		t.Fatalf("verified %d times, want 1", n)
	}
}

func TestNewJWTRejectsBadConfig(t *testing.T) {
	for _, tt := range []struct {
		name string
		cfg  JWTConfig
		want string
	}{
		{"none algorithm", JWTConfig{Algorithms: []string{"HS256", "none"}}, `algorithms[1]: unsupported "none"`},
		{"reserved claim header", JWTConfig{ClaimsToHeaders: map[string]string{"sub": "X-User-Id"}}, `claims_to_headers.sub: header "X-User-Id" is reserved`},
		{"bad jwks url", JWTConfig{JWKSURL: "ftp://idp"}, `jwks_url: scheme must be http or https`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewJWT(tt.cfg, nil, Options{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("NewJWT error = %v, want %q", err, tt.want)
			}
		})
	}
}
