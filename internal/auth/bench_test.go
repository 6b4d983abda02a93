package auth

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tollgate/tollgate/dataplane"
)

// benchJWT returns a jwt policy and a token it has already verified.
func benchJWT(b *testing.B) (*JWT, string) {
	b.Helper()
	k := keys(b)
	clock := newClock()
	p, err := NewJWT(JWTConfig{Issuer: "https://idp.example", Audiences: []string{"api"}, RequiredScopes: []string{"read"}},
		testConsumers(b), Options{Now: clock.Now})
	if err != nil {
		b.Fatal(err)
	}
	tok := sign(b, jwt.SigningMethodRS256, k.rsa, "bob-kid", baseClaims(clock))
	if _, err := p.verify(context.Background(), tok); err != nil {
		b.Fatal(err)
	}
	return p, tok
}

// BenchmarkJWTCachedVerify is the verification step alone: one cached
// token looked up and its expiry checked.
func BenchmarkJWTCachedVerify(b *testing.B) {
	p, tok := benchJWT(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.verify(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkJWTCachedVerifyParallel is the same from every core at once.
func BenchmarkJWTCachedVerifyParallel(b *testing.B) {
	p, tok := benchJWT(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			if _, err := p.verify(ctx, tok); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkJWTCachedRequest is the whole policy step for a request with a
// cached token: forged headers removed, token read, verified from the
// cache, scopes checked, Authorization removed, identity headers stamped.
func BenchmarkJWTCachedRequest(b *testing.B) {
	p, tok := benchJWT(b)
	auth := []string{"Bearer " + tok}
	h := p.Wrap(func(*dataplane.RequestContext) {})
	req := httptest.NewRequest(http.MethodGet, "http://gw/orders", nil)
	rc := &dataplane.RequestContext{Request: req, Writer: httptest.NewRecorder(), RequestID: "t"}
	b.ReportAllocs()
	for b.Loop() {
		req.Header["Authorization"] = auth
		h(rc)
		if rc.Consumer != "bob" {
			b.Fatal("not authenticated")
		}
	}
}

// BenchmarkJWTUncachedRS256 is a cache miss: parse and RSA verification.
func BenchmarkJWTUncachedRS256(b *testing.B) {
	p, tok := benchJWT(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.verifySlow(ctx, tok, p.now()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkKeyAuthRequest is one key-auth request with the key in a
// header.
func BenchmarkKeyAuthRequest(b *testing.B) {
	p, err := NewKeyAuth(KeyAuthConfig{}, testConsumers(b), Options{})
	if err != nil {
		b.Fatal(err)
	}
	h := p.Wrap(func(*dataplane.RequestContext) {})
	req := httptest.NewRequest(http.MethodGet, "http://gw/orders", nil)
	req.Header.Set("Apikey", "alice-api-key")
	rc := &dataplane.RequestContext{Request: req, Writer: httptest.NewRecorder(), RequestID: "t"}
	b.ReportAllocs()
	for b.Loop() {
		h(rc)
	}
}

// BenchmarkACLRequest is one acl decision.
func BenchmarkACLRequest(b *testing.B) {
	p, err := NewACL(ACLConfig{Allow: []string{"admins"}}, testConsumers(b), Options{})
	if err != nil {
		b.Fatal(err)
	}
	h := p.Wrap(func(*dataplane.RequestContext) {})
	rc := &dataplane.RequestContext{Request: httptest.NewRequest(http.MethodGet, "http://gw/", nil),
		Writer: httptest.NewRecorder(), RequestID: "t", Consumer: "alice"}
	b.ReportAllocs()
	for b.Loop() {
		h(rc)
	}
}
