// Package ratelimit is the rate-limit plugin: a dataplane.Policy that
// builds each request's key from its consumer, client IP, route, service
// or headers, asks the cluster-wide limiter for a decision, answers 429
// with Retry-After when over the limit, and sets the IETF RateLimit-* and
// classic X-RateLimit-* headers on every limited response.
package ratelimit

import (
	"fmt"
	"hash/fnv"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/tollgate/tollgate/dataplane"
	"github.com/tollgate/tollgate/limiter"
	"github.com/tollgate/tollgate/store"
)

// Decider makes one rate-limit decision; *limiter.Limiter implements it.
type Decider interface {
	Allow(p *limiter.Policy, key string) limiter.Decision
}

// keyPart says where one part of a request's key comes from.
type keyPart struct {
	kind   string // consumer, ip, route, service, header
	header string // canonical header name for kind "header"
}

// Policy is one configured rate limit.
type Policy struct {
	decider Decider
	policy  limiter.Policy
	parts   []keyPart
	limit   string // Limit formatted once, for headers
	bufs    sync.Pool
}

var _ dataplane.Policy = (*Policy)(nil)

// New builds the policy for cfg. scope names where the plugin is attached
// (for example "route:orders"); with the config it gives the limiter a
// policy id that is the same on every node and across config versions
// while the limit is unchanged.
func New(cfg store.RateLimitConfig, scope string, d Decider) (*Policy, error) {
	window, err := cfg.WindowDuration()
	if err != nil {
		return nil, fmt.Errorf("rate-limit window: %w", err)
	}
	p := &Policy{
		decider: d,
		policy:  limiter.Policy{ID: policyID(scope, cfg), Limit: cfg.Limit, Window: window},
		limit:   strconv.FormatInt(cfg.Limit, 10),
	}
	if err := p.policy.Validate(); err != nil {
		return nil, fmt.Errorf("rate-limit policy: %w", err)
	}
	for _, k := range cfg.KeyParts() {
		part := keyPart{kind: k}
		if name, ok := strings.CutPrefix(k, "header:"); ok {
			part = keyPart{kind: "header", header: http.CanonicalHeaderKey(name)}
		}
		p.parts = append(p.parts, part)
	}
	p.bufs.New = func() any { b := make([]byte, 0, 128); return &b }
	return p, nil
}

// policyID hashes the scope and the limit's definition.
func policyID(scope string, cfg store.RateLimitConfig) uint32 {
	h := fnv.New32a()
	fmt.Fprintf(h, "%s|%d|%s|%s", scope, cfg.Limit, cfg.Window, strings.Join(cfg.KeyParts(), ","))
	return h.Sum32()
}

// Name names the policy in recorded spans (dataplane.Named).
func (p *Policy) Name() string { return "rate-limit" }

// Wrap decides each request before next runs.
func (p *Policy) Wrap(next dataplane.Handler) dataplane.Handler {
	return func(rc *dataplane.RequestContext) {
		if p.Before(rc) {
			next(rc)
		}
	}
}

// Before counts the request against the limit, sets the RateLimit
// headers and reports whether it goes on; one over the limit is answered
// 429 with Retry-After. Deciding is local (no network round trip), so
// the policy is a dataplane.InlinePolicy.
func (p *Policy) Before(rc *dataplane.RequestContext) bool {
	bp := p.bufs.Get().(*[]byte)
	key := p.appendKey((*bp)[:0], rc)
	// The limiter copies the key when it first stores it, so a string
	// over the pooled buffer is safe for the duration of the call.
	d := p.decider.Allow(&p.policy, unsafe.String(unsafe.SliceData(key), len(key)))
	*bp = key
	p.bufs.Put(bp)
	p.setHeaders(rc.Writer.Header(), d)
	if !d.Allowed {
		retry := ceilSeconds(d.RetryAfter)
		rc.Writer.Header().Set("Retry-After", strconv.FormatInt(retry, 10))
		rc.Reject(http.StatusTooManyRequests, "rate_limited",
			fmt.Sprintf("rate limit of %s per %s exceeded; retry in %ds", p.limit, p.policy.Window, retry))
		return false
	}
	return true
}

// appendKey appends the request's key parts, separated by a byte that
// cannot occur in header values, IPs or names.
func (p *Policy) appendKey(b []byte, rc *dataplane.RequestContext) []byte {
	for i, part := range p.parts {
		if i > 0 {
			b = append(b, 0)
		}
		switch part.kind {
		case "consumer":
			b = append(b, rc.Consumer...)
		case "ip":
			b = append(b, clientIP(rc.Request.RemoteAddr)...)
		case "route":
			b = append(b, rc.Route()...)
		case "service":
			b = append(b, rc.Service()...)
		case "header":
			if v := rc.Request.Header[part.header]; len(v) > 0 {
				b = append(b, v[0]...)
			}
		}
	}
	return b
}

// clientIP is the host part of a RemoteAddr, without allocating.
func clientIP(remote string) string {
	if host, _, err := net.SplitHostPort(remote); err == nil {
		return host
	}
	return remote
}

// setHeaders sets the IETF RateLimit-* fields and the classic
// X-RateLimit-* ones, sharing one backing array for the six values.
func (p *Policy) setHeaders(h http.Header, d limiter.Decision) {
	remaining := strconv.FormatInt(d.Remaining, 10)
	reset := strconv.FormatInt(ceilSeconds(d.Reset), 10)
	v := []string{p.limit, remaining, reset, p.limit, remaining, reset}
	h["Ratelimit-Limit"] = v[0:1:1]
	h["Ratelimit-Remaining"] = v[1:2:2]
	h["Ratelimit-Reset"] = v[2:3:3]
	h["X-Ratelimit-Limit"] = v[3:4:4]
	h["X-Ratelimit-Remaining"] = v[4:5:5]
	h["X-Ratelimit-Reset"] = v[5:6:6]
}

// ceilSeconds rounds d up to whole seconds, at least 1.
func ceilSeconds(d time.Duration) int64 {
	return max(int64((d+time.Second-1)/time.Second), 1)
}
