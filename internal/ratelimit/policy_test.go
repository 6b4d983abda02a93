package ratelimit

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/tollgate/tollgate/dataplane"
	"github.com/tollgate/tollgate/limiter"
	"github.com/tollgate/tollgate/store"
)

// fixedClock is a manual clock for the limiter.
type fixedClock struct{ t time.Time }

func (c *fixedClock) now() time.Time { return c.t }

func newLimiter(t *testing.T, clock *fixedClock) *limiter.Limiter {
	t.Helper()
	l, err := limiter.New(limiter.Options{NodeID: "n1", Now: clock.now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	return l
}

func newPolicy(t *testing.T, raw string, d Decider) *Policy {
	t.Helper()
	cfg, errs := store.ParseRateLimitConfig(json.RawMessage(raw))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	p, err := New(cfg, "route:r", d)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// do runs one request through the policy and reports whether next ran.
func do(p *Policy, remote, consumer string, header map[string]string) (*httptest.ResponseRecorder, bool) {
	req := httptest.NewRequest(http.MethodGet, "http://gw/x", nil)
	req.RemoteAddr = remote
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	passed := false
	h := p.Wrap(func(rc *dataplane.RequestContext) { passed = true; rc.Writer.WriteHeader(200) })
	h(&dataplane.RequestContext{Request: req, Writer: rec, RequestID: "rid", Consumer: consumer})
	return rec, passed
}

func TestLimitThen429WithHeaders(t *testing.T) {
	clock := &fixedClock{t: time.Unix(1_000_000, 0)}
	p := newPolicy(t, `{"limit":3,"window":"minute"}`, newLimiter(t, clock))
	for i := 0; i < 3; i++ {
		rec, passed := do(p, "10.0.0.1:5000", "", nil)
		if !passed || rec.Code != 200 {
			t.Fatalf("request %d: passed=%v code=%d", i, passed, rec.Code)
		}
		if got := rec.Header().Get("RateLimit-Remaining"); got != strconv.Itoa(2-i) {
			t.Fatalf("request %d: RateLimit-Remaining = %q", i, got)
		}
		if rec.Header().Get("X-RateLimit-Limit") != "3" || rec.Header().Get("RateLimit-Limit") != "3" {
			t.Fatalf("limit headers: %v", rec.Header())
		}
	}
	rec, passed := do(p, "10.0.0.1:5001", "", nil)
	if passed || rec.Code != http.StatusTooManyRequests {
		t.Fatalf("4th request: passed=%v code=%d", passed, rec.Code)
	}
	ra, err := strconv.Atoi(rec.Header().Get("Retry-After"))
	if err != nil || ra < 1 || ra > 120 {
		t.Fatalf("Retry-After = %q", rec.Header().Get("Retry-After"))
	}
	if rec.Header().Get("X-Tollgate-Error") != "rate_limited" {
		t.Fatalf("429 is not gateway-branded: %v", rec.Header())
	}
	var body struct {
		Error struct{ Code, RequestID string }
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.Error.Code != "rate_limited" {
		t.Fatalf("body = %s", rec.Body)
	}
	// Another client IP has its own budget.
	if _, passed := do(p, "10.0.0.2:5000", "", nil); !passed {
		t.Fatal("a different IP was limited")
	}
}

func TestKeyParts(t *testing.T) {
	clock := &fixedClock{t: time.Unix(1_000_000, 0)}
	lim := newLimiter(t, clock)
	byConsumer := newPolicy(t, `{"limit":1,"window":"hour","key":["consumer"]}`, lim)
	do(byConsumer, "10.0.0.1:1", "alice", nil)
	if _, passed := do(byConsumer, "10.0.0.9:1", "alice", nil); passed {
		t.Fatal("alice from another IP was not limited by consumer key")
	}
	if _, passed := do(byConsumer, "10.0.0.1:1", "bob", nil); !passed {
		t.Fatal("bob limited by alice's budget")
	}
	byHeader := newPolicy(t, `{"limit":1,"window":"hour","key":["header:X-Api-Key","ip"]}`, lim)
	do(byHeader, "10.0.0.1:1", "", map[string]string{"X-Api-Key": "k1"})
	if _, passed := do(byHeader, "10.0.0.1:1", "", map[string]string{"X-Api-Key": "k1"}); passed {
		t.Fatal("same header and IP not limited")
	}
	if _, passed := do(byHeader, "10.0.0.1:1", "", map[string]string{"X-Api-Key": "k2"}); !passed {
		t.Fatal("another header value limited")
	}
}

func TestPolicyIDStableAcrossBuilds(t *testing.T) {
	cfg := store.RateLimitConfig{Limit: 5, Window: "minute"}
	if policyID("route:a", cfg) != policyID("route:a", cfg) {
		t.Fatal("policy id not deterministic")
	}
	if policyID("route:a", cfg) == policyID("route:b", cfg) {
		t.Fatal("different scopes share a policy id")
	}
}

func BenchmarkPolicyAllowed(b *testing.B) {
	l, err := limiter.New(limiter.Options{NodeID: "n1"})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	cfg := store.RateLimitConfig{Limit: 1 << 40, Window: "minute", Key: []string{"consumer", "ip"}}
	p, err := New(cfg, "route:r", l)
	if err != nil {
		b.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodGet, "http://gw/x", nil)
	req.RemoteAddr = "10.1.2.3:4567"
	w := httptest.NewRecorder()
	rc := &dataplane.RequestContext{Request: req, Writer: w, RequestID: "rid", Consumer: "alice"}
	h := p.Wrap(func(*dataplane.RequestContext) {})
	b.ReportAllocs()
	for b.Loop() {
		h(rc)
	}
}
