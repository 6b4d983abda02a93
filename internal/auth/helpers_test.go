package auth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tollgate/tollgate/dataplane"
	"github.com/tollgate/tollgate/internal/fakeclock"
	"github.com/tollgate/tollgate/store"
)

// fakeClock is an injected clock that tests move by hand.
type fakeClock = fakeclock.Clock

func newClock() *fakeClock { return fakeclock.New() }

// testKeys are signing keys, generated once per test binary (RSA
// generation is slow under the race detector).
type testKeys struct {
	rsa, rsa2 *rsa.PrivateKey
	ec256     *ecdsa.PrivateKey
	ed        ed25519.PrivateKey
	hs        []byte
}

var sharedKeys = sync.OnceValue(func() *testKeys {
	must := func(err error) {
		if err != nil {
			panic(err)
		}
	}
	k := &testKeys{hs: []byte("0123456789abcdef0123456789abcdef-alice")}
	var err error
	k.rsa, err = rsa.GenerateKey(rand.Reader, 2048)
	must(err)
	k.rsa2, err = rsa.GenerateKey(rand.Reader, 2048)
	must(err)
	k.ec256, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(err)
	_, k.ed, err = ed25519.GenerateKey(rand.Reader)
	must(err)
	return k
})

func keys(t testing.TB) *testKeys {
	t.Helper()
	return sharedKeys()
}

// publicPEM encodes a public key as a PKIX PEM block.
func publicPEM(t testing.TB, pub any) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// sign returns a compact JWT; kid is omitted when empty.
func sign(t testing.TB, m jwt.SigningMethod, key any, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("sign %s: %v", m.Alg(), err)
	}
	return s
}

// unsignedToken is an "alg: none" token.
func unsignedToken(t testing.TB, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodNone, claims)
	tok.Header["kid"] = kid
	s, err := tok.SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// seen is what the next handler saw when a policy let a request through.
type seen struct {
	called   bool
	header   http.Header
	url      *url.URL
	consumer string
}

// serve runs req through pol, with a next handler that records what it
// saw and answers 200.
func serve(pol dataplane.Policy, req *http.Request) (*httptest.ResponseRecorder, *seen) {
	rec := httptest.NewRecorder()
	s := &seen{}
	h := pol.Wrap(func(rc *dataplane.RequestContext) {
		s.called, s.header, s.url, s.consumer = true, rc.Request.Header.Clone(), rc.Request.URL, rc.Consumer
		rc.Writer.WriteHeader(http.StatusOK)
	})
	h(&dataplane.RequestContext{Request: req, Writer: rec, RequestID: "t"})
	return rec, s
}

// chain runs req through policies in order.
func chain(req *http.Request, pols ...dataplane.Policy) (*httptest.ResponseRecorder, *seen) {
	return serve(chained(pols), req)
}

type chained []dataplane.Policy

func (c chained) Wrap(next dataplane.Handler) dataplane.Handler {
	for i := len(c) - 1; i >= 0; i-- {
		next = c[i].Wrap(next)
	}
	return next
}

func bearerRequest(token string) *http.Request {
	req := httptest.NewRequest(http.MethodGet, "http://gw/orders", nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return req
}

// errorBody decodes a gateway error answer.
func errorBody(t testing.TB, rec *httptest.ResponseRecorder) (code, message string) {
	t.Helper()
	var body struct {
		Error struct {
			Code, Message string
			RequestID     string `json:"request_id"`
		} `json:"error"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("gateway error body %q: %v", rec.Body.String(), err)
	}
	if body.Error.RequestID != "t" {
		t.Fatalf("request_id = %q, want t", body.Error.RequestID)
	}
	return body.Error.Code, body.Error.Message
}

// jwksServer serves a JWKS that tests change, and counts fetches.
type jwksServer struct {
	srv     *httptest.Server
	mu      sync.Mutex
	keys    []map[string]string
	down    bool
	fetches int
}

func newJWKSServer(t testing.TB, keys ...map[string]string) *jwksServer {
	t.Helper()
	s := &jwksServer{keys: keys}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.fetches++
		if s.down {
			http.Error(w, "identity provider down", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": s.keys})
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *jwksServer) set(keys ...map[string]string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys = keys
}

func (s *jwksServer) setDown(down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = down
}

func (s *jwksServer) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fetches
}

func b64u(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func rsaJWK(kid, alg string, pub *rsa.PublicKey) map[string]string {
	m := map[string]string{"kty": "RSA", "kid": kid, "use": "sig",
		"n": b64u(pub.N.Bytes()), "e": b64u(big.NewInt(int64(pub.E)).Bytes())}
	if alg != "" {
		m["alg"] = alg
	}
	return m
}

func ecJWK(kid string, pub *ecdsa.PublicKey) map[string]string {
	b, err := pub.Bytes()
	if err != nil {
		panic(err)
	}
	size := (len(b) - 1) / 2
	return map[string]string{"kty": "EC", "kid": kid, "crv": "P-256",
		"x": b64u(b[1 : 1+size]), "y": b64u(b[1+size:])}
}

func edJWK(kid string, pub ed25519.PublicKey) map[string]string {
	return map[string]string{"kty": "OKP", "kid": kid, "crv": "Ed25519", "x": b64u(pub)}
}

// wait blocks until the fetch in flight, if any, has ended.
func (s *jwksSource) wait() {
	s.mu.Lock()
	ch := s.inflight
	s.mu.Unlock()
	if ch != nil {
		<-ch
	}
}

// testConsumers have one credential of each kind.
func testConsumers(t testing.TB) []store.Consumer {
	k := keys(t)
	return []store.Consumer{
		{Username: "alice", Groups: []string{"admins"}, Credentials: store.ConsumerCredentials{
			JWT:     []store.JWTCredential{{Key: "alice-kid", Algorithm: "HS256", Secret: string(k.hs)}},
			KeyAuth: []store.KeyAuthCredential{{KeyID: "main", KeyHash: store.HashAPIKey("alice-api-key")}},
		}},
		{Username: "bob", Groups: []string{"users"}, Credentials: store.ConsumerCredentials{
			JWT:     []store.JWTCredential{{Key: "bob-kid", Algorithm: "RS256", PublicKey: publicPEM(t, &k.rsa.PublicKey)}},
			KeyAuth: []store.KeyAuthCredential{{KeyID: "k1", KeyHash: store.HashAPIKey("bob-api-key")}},
		}},
		{Username: "carol", Groups: []string{"users", "suspended"}, Credentials: store.ConsumerCredentials{
			JWT: []store.JWTCredential{
				{Key: "carol-kid", Algorithm: "ES256", PublicKey: publicPEM(t, &k.ec256.PublicKey)},
				{Key: "https://carol.example", Algorithm: "EdDSA", PublicKey: publicPEM(t, k.ed.Public())},
			},
		}},
	}
}

type ed25519PublicKey = ed25519.PublicKey

// minRefresh is the default least time between
// fetches of one kind.
const minRefresh = time.Duration(store.DefaultJWKSMinRefreshInterval)

func with2(m map[string]string, k, v string) map[string]string {
	out := map[string]string{}
	for a, b := range m {
		out[a] = b
	}
	out[k] = v
	return out
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// consumerSetter stands in for an authentication policy.
type consumerSetter struct {
	consumer string
	next     dataplane.Policy
}

func setConsumer(consumer string, next dataplane.Policy) dataplane.Policy {
	return consumerSetter{consumer, next}
}

func (c consumerSetter) Wrap(next dataplane.Handler) dataplane.Handler {
	inner := c.next.Wrap(next)
	return func(rc *dataplane.RequestContext) {
		rc.Consumer = c.consumer
		inner(rc)
	}
}
