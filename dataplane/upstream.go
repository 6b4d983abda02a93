package dataplane

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tollgate/tollgate/store"
)

// Defaults for a service's fields when the config leaves them zero.
const (
	defaultConnectTimeout = 5 * time.Second
	defaultReadTimeout    = 60 * time.Second
	defaultTimeout        = 60 * time.Second
)

// upstream is a compiled service: its targets and balancer, where and how
// long to wait, its retry policy, circuit breaker and health state.
//
// An upstream outlives the config version that created it while the
// service's definition stays the same, so health state, least-connection
// counts and the breaker carry over across Updates; its health-check
// goroutines run from start until stop.
type upstream struct {
	name        string
	fingerprint string // the service definition, to tell changed from unchanged
	scheme      string // "http" or "https"; h2c speaks http
	h2c         bool
	path        string // base path, decoded and escaped; "" if none
	rawPath     string
	rawQuery    string // the URL's query, added before the request's

	targets  []*target
	resolver *net.Resolver // looks up the targets' names; nil: net.DefaultResolver
	balancer balancer
	hash     hashSpec
	hashed   bool // the balancer uses hash

	connectTimeout time.Duration
	readTimeout    time.Duration // per attempt: response headers, then each body read
	timeout        time.Duration // all attempts, up to the response headers
	retry          retryPolicy
	maxConcurrent  int64 // 0: no breaker
	inflight       atomic.Int64
	passive        *passiveCheck
	active         *activeCheck
	tlsConfig      *tls.Config // nil unless https
	tlsKey         string      // tlsConfig's settings, for transportKey

	// transport is the shared connection pool; the gateway sets it after
	// compile and before publishing the router.
	transport http.RoundTripper
	// onEject is told of every target the passive health check ejects,
	// whatever traffic caused it; the gateway sets it before publishing.
	onEject func(service, target string)

	log      *slog.Logger // discards until start
	stopMu   sync.Mutex
	started  bool
	stopped  bool
	cancel   context.CancelFunc // ends the health checks
	wg       sync.WaitGroup
	checking atomic.Int32 // health-check goroutines not yet returned
}

// newUpstream compiles a service. Errors wrap ErrInvalidConfig.
func newUpstream(s *store.Service) (*upstream, error) {
	fp, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("%w: service %q: %w", ErrInvalidConfig, s.Name, err)
	}
	up := &upstream{
		name: s.Name, fingerprint: string(fp),
		connectTimeout: orDefault(s.ConnectTimeout.Std(), defaultConnectTimeout),
		readTimeout:    orDefault(s.ReadTimeout.Std(), defaultReadTimeout),
		timeout:        orDefault(s.Timeout.Std(), defaultTimeout),
		retry:          newRetryPolicy(s.Retry),
		maxConcurrent:  int64(s.MaxConcurrentRequests),
		log:            slog.New(slog.DiscardHandler),
	}
	if err := up.endpoint(s); err != nil {
		return nil, fmt.Errorf("%w: service %q: %w", ErrInvalidConfig, s.Name, err)
	}
	if up.balancer, err = newBalancer(s, up.targets); err != nil {
		return nil, fmt.Errorf("%w: service %q: %w", ErrInvalidConfig, s.Name, err)
	}
	up.hash, up.hashed = newHashSpec(s), s.Balancer == store.BalancerConsistentHash
	if hc := s.HealthChecks; hc != nil {
		up.passive = newPassiveCheck(hc.Passive)
		up.active = newActiveCheck(hc.Active)
	}
	if up.scheme == "https" {
		if up.tlsConfig, err = upstreamTLSConfig(s.TLS); err != nil {
			return nil, fmt.Errorf("%w: service %q: %w", ErrInvalidConfig, s.Name, err)
		}
		if s.TLS != nil {
			up.tlsKey = fmt.Sprintf("%q %q %v", s.TLS.CABundle, s.TLS.ServerName, s.TLS.InsecureSkipVerify)
		}
	}
	return up, nil
}

// endpoint reads the protocol, base path and targets of s.
func (up *upstream) endpoint(s *store.Service) error {
	proto := s.EffectiveProtocol()
	switch proto {
	case store.ProtocolHTTP, store.ProtocolHTTPS:
		up.scheme = proto
	case store.ProtocolH2C:
		up.scheme, up.h2c = "http", true
	default:
		return fmt.Errorf("unknown protocol %q", proto)
	}
	path := s.Path
	targets := s.Targets
	if s.URL != "" {
		u, err := url.Parse(s.URL)
		if err != nil {
			return err
		}
		if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
			return fmt.Errorf("url %q needs an http or https scheme and a host", s.URL)
		}
		up.rawQuery = u.RawQuery
		path = u.Path
		if u.RawPath != "" {
			path = u.EscapedPath()
		}
		targets = []store.Target{{Target: u.Host}}
	}
	if path != "" && path != "/" {
		if err := up.setBasePath(path); err != nil {
			return err
		}
	}
	return up.compileTargets(targets, proto)
}

// setBasePath keeps a base path in decoded and escaped form.
func (up *upstream) setBasePath(escaped string) error {
	u, err := url.Parse(escaped)
	if err != nil {
		return fmt.Errorf("path %q: %w", escaped, err)
	}
	up.path, up.rawPath = u.Path, u.EscapedPath()
	return nil
}

func (up *upstream) compileTargets(targets []store.Target, proto string) error {
	for i, t := range targets {
		addr, err := store.TargetAddress(t.Target, proto)
		if err != nil {
			return fmt.Errorf("target %q: %w", t.Target, err)
		}
		w := t.EffectiveWeight()
		if w < 0 || w > store.MaxTargetWeight {
			return fmt.Errorf("target %q: weight %d out of range", t.Target, w)
		}
		tg := &target{addr: addr, weight: w, index: i}
		if !tg.named() {
			tg.resolved.Store(&addr)
		}
		up.targets = append(up.targets, tg)
	}
	if len(up.targets) == 0 {
		return fmt.Errorf("no targets")
	}
	return nil
}

// hasNamedTargets reports whether a target in rotation is given by name.
func (up *upstream) hasNamedTargets() bool {
	for _, t := range up.targets {
		if t.weight > 0 && t.named() {
			return true
		}
	}
	return false
}

// upstreamTLSConfig builds the client TLS settings of an https service.
func upstreamTLSConfig(t *store.UpstreamTLS) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, NextProtos: []string{"h2", "http/1.1"}}
	if t == nil {
		return cfg, nil
	}
	cfg.ServerName = t.ServerName
	cfg.InsecureSkipVerify = t.InsecureSkipVerify
	if t.CABundle != "" {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM([]byte(t.CABundle)) {
			return nil, fmt.Errorf("ca_bundle holds no PEM certificate")
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// acquire takes a slot of the circuit breaker; false means the service is
// at its limit of concurrent requests.
func (up *upstream) acquire() bool {
	if up.maxConcurrent <= 0 {
		return true
	}
	if up.inflight.Add(1) > up.maxConcurrent {
		up.inflight.Add(-1)
		return false
	}
	return true
}

// release gives back a slot taken by acquire.
func (up *upstream) release() {
	if up.maxConcurrent > 0 {
		up.inflight.Add(-1)
	}
}

// fillTarget sets out to the upstream URL (without host) for a request
// URL that matched prefix. With strip set the prefix is removed first; a
// base path of the service is put in front.
func (up *upstream) fillTarget(out, in *url.URL, prefix string, strip bool) {
	p, raw := in.Path, in.RawPath
	if strip {
		p = stripPrefix(p, prefix)
		if raw != "" {
			raw = stripPrefix(raw, prefix)
		}
	}
	up.fillTargetPath(out, p, raw, in.RawQuery)
}

// targetPath builds the upstream URL from a decoded path, its escaped
// form ("" when the default encoding will do) and a query.
func (up *upstream) targetPath(p, raw, query string) *url.URL {
	out := new(url.URL)
	up.fillTargetPath(out, p, raw, query)
	return out
}

// fillTargetPath is targetPath into out.
func (up *upstream) fillTargetPath(out *url.URL, p, raw, query string) {
	*out = url.URL{Scheme: up.scheme, Path: joinPath(up.path, p), RawQuery: up.query(query)}
	if raw != "" || up.rawPath != up.path {
		// url.URL ignores RawPath when it does not encode Path.
		if raw == "" {
			raw = (&url.URL{Path: p}).EscapedPath()
		}
		out.RawPath = joinPath(up.rawPath, raw)
	}
}

// query joins the service URL's query and the request's.
func (up *upstream) query(q string) string {
	switch {
	case up.rawQuery == "":
		return q
	case q == "":
		return up.rawQuery
	}
	return up.rawQuery + "&" + q
}

// stripPrefix removes a matched path prefix and keeps the result rooted: a
// prefix ending in '/' keeps that slash. The whole path stripped gives "".
func stripPrefix(path, prefix string) string {
	if prefix == "" || !strings.HasPrefix(path, prefix) {
		return path
	}
	if strings.HasSuffix(prefix, "/") {
		return path[len(prefix)-1:]
	}
	return path[len(prefix):]
}

// joinPath puts base (no trailing slash needed) in front of p, which is ""
// or starts with '/'.
func joinPath(base, p string) string {
	switch {
	case p == "" && base == "":
		return "/"
	case p == "":
		return base
	case base == "":
		return p
	}
	return strings.TrimSuffix(base, "/") + p
}
