package store

import (
	"crypto/x509"
	"fmt"
	"maps"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Limits of the data-plane fields, shared by validation and the docs.
const (
	MaxTargetWeight     = 1000
	DefaultTargetWeight = 100
	MaxRetryAttempts    = 10
	MaxRoutePriority    = 10000
	minCheckInterval    = 10 * time.Millisecond
	maxThreshold        = 1000
)

// Balancer names (Service.Balancer).
const (
	BalancerRoundRobin       = "round-robin"
	BalancerLeastConnections = "least-connections"
	BalancerConsistentHash   = "consistent-hash"
)

// Service protocols (Service.Protocol).
const (
	ProtocolHTTP  = "http"
	ProtocolHTTPS = "https"
	ProtocolH2C   = "h2c"
)

func (v *validator) services(svcs []Service) map[string]bool {
	seen := map[string]bool{}
	for i := range svcs {
		s := &svcs[i]
		p := fmt.Sprintf("services[%d]", i)
		v.uniqueName(p, "name", s.Name, seen)
		v.serviceEndpoint(p, s)
		v.balancer(p, s)
		v.nonNegative(p+".connect_timeout", s.ConnectTimeout)
		v.nonNegative(p+".read_timeout", s.ReadTimeout)
		v.nonNegative(p+".timeout", s.Timeout)
		v.retry(p+".retry", s.Retry)
		if s.MaxConcurrentRequests < 0 {
			v.addf(p+".max_concurrent_requests", "must not be negative")
		}
		v.healthChecks(p+".health_checks", s.HealthChecks)
		v.upstreamTLS(p+".tls", s)
	}
	return seen
}

func (v *validator) nonNegative(path string, d Duration) {
	if d < 0 {
		v.addf(path, "must not be negative")
	}
}

// serviceEndpoint checks url, protocol, path and targets.
func (v *validator) serviceEndpoint(p string, s *Service) {
	switch s.Protocol {
	case "", ProtocolHTTP, ProtocolHTTPS, ProtocolH2C:
	default:
		v.addf(p+".protocol", "must be http, https or h2c, not %q", s.Protocol)
	}
	switch {
	case s.URL != "" && len(s.Targets) > 0:
		v.addf(p+".targets", "url and targets are mutually exclusive")
	case s.URL == "" && len(s.Targets) == 0:
		v.addf(p+".url", "is required (or targets)")
	case s.URL != "":
		v.upstreamURL(p, s)
	default:
		v.targets(p, s)
	}
	if s.Path != "" && (!strings.HasPrefix(s.Path, "/") || strings.ContainsAny(s.Path, "?# ")) {
		v.addf(p+".path", "must start with / and hold no query")
	}
}

func (v *validator) upstreamURL(p string, s *Service) {
	path := p + ".url"
	u, err := url.Parse(s.URL)
	if err != nil {
		v.addf(path, "invalid URL: %v", err)
		return
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		v.addf(path, "scheme must be http or https, not %q", u.Scheme)
	}
	if u.Host == "" {
		v.addf(path, "must include a host")
	}
	if s.Protocol != "" && s.Protocol != u.Scheme && (s.Protocol != ProtocolH2C || u.Scheme != "http") {
		v.addf(p+".protocol", "%q does not go with a %s URL", s.Protocol, u.Scheme)
	}
	if s.Path != "" {
		v.addf(p+".path", "not allowed with url (put the path in the url)")
	}
}

func (v *validator) targets(p string, s *Service) {
	seen := map[string]bool{}
	positive := false
	for j, t := range s.Targets {
		tp := fmt.Sprintf("%s.targets[%d]", p, j)
		hostPort, err := TargetAddress(t.Target, s.Protocol)
		switch {
		case err != nil:
			v.addf(tp+".target", "%v", err)
		case seen[hostPort]:
			v.addf(tp+".target", "duplicate target %q", hostPort)
		}
		seen[hostPort] = true
		w := t.EffectiveWeight()
		if w < 0 || w > MaxTargetWeight {
			v.addf(tp+".weight", "must be between 0 and %d", MaxTargetWeight)
		}
		positive = positive || w > 0
	}
	if !positive {
		v.addf(p+".targets", "at least one target needs a positive weight")
	}
}

// EffectiveWeight returns the target's weight with the default applied.
func (t Target) EffectiveWeight() int {
	if t.Weight == nil {
		return DefaultTargetWeight
	}
	return *t.Weight
}

// EffectiveProtocol returns the protocol the service speaks: Protocol, or
// the URL's scheme, or http.
func (s *Service) EffectiveProtocol() string {
	if s.Protocol != "" {
		return s.Protocol
	}
	if scheme, _, ok := strings.Cut(s.URL, "://"); ok && s.URL != "" {
		return strings.ToLower(scheme)
	}
	return ProtocolHTTP
}

// TargetAddress returns the host:port a target entry dials, with the
// protocol's default port added. protocol "" means http.
func TargetAddress(target, protocol string) (string, error) {
	if target == "" {
		return "", fmt.Errorf("is required")
	}
	hostPort := target
	if scheme, rest, ok := strings.Cut(target, "://"); ok {
		u, err := url.Parse(target)
		if err != nil {
			return "", fmt.Errorf("invalid URL: %w", err)
		}
		want := "http"
		if protocol == ProtocolHTTPS {
			want = "https"
		}
		if scheme != want {
			return "", fmt.Errorf("scheme %q does not go with protocol %q", scheme, orHTTP(protocol))
		}
		if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
			return "", fmt.Errorf("a target URL holds only a scheme and host:port (set the service's path)")
		}
		hostPort = strings.TrimSuffix(rest, "/")
	}
	return checkHostPort(hostPort, protocol)
}

func orHTTP(p string) string {
	if p == "" {
		return ProtocolHTTP
	}
	return p
}

// checkHostPort validates host[:port] and adds the default port.
func checkHostPort(hostPort, protocol string) (string, error) {
	host, port, err := net.SplitHostPort(hostPort)
	if err != nil {
		host, port = hostPort, "80"
		if protocol == ProtocolHTTPS {
			port = "443"
		}
		if strings.Contains(host, ":") && !strings.HasPrefix(host, "[") {
			return "", fmt.Errorf("invalid host:port %q", hostPort)
		}
		host = strings.Trim(host, "[]")
	}
	if host == "" || strings.ContainsAny(host, "/ ?#@") {
		return "", fmt.Errorf("invalid host in %q", hostPort)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("invalid port in %q", hostPort)
	}
	return net.JoinHostPort(host, port), nil
}

func (v *validator) balancer(p string, s *Service) {
	switch s.Balancer {
	case "", BalancerRoundRobin, BalancerLeastConnections, BalancerConsistentHash:
	default:
		v.addf(p+".balancer", "must be round-robin, least-connections or consistent-hash, not %q", s.Balancer)
	}
	hashed := s.Balancer == BalancerConsistentHash
	switch s.HashOn {
	case "", "ip", "consumer":
	case "header":
		if s.HashOnHeader == "" || !validHeaderName(s.HashOnHeader) {
			v.addf(p+".hash_on_header", "must name a header when hash_on is header")
		}
	case "cookie":
		if s.HashOnCookie == "" || strings.ContainsAny(s.HashOnCookie, "=; ") {
			v.addf(p+".hash_on_cookie", "must name a cookie when hash_on is cookie")
		}
	default:
		v.addf(p+".hash_on", "must be ip, header, cookie or consumer, not %q", s.HashOn)
	}
	if !hashed && (s.HashOn != "" || s.HashOnHeader != "" || s.HashOnCookie != "") {
		v.addf(p+".hash_on", "only the consistent-hash balancer uses it")
	}
}

func (v *validator) retry(p string, r *Retry) {
	if r == nil {
		return
	}
	if r.MaxAttempts < 0 || r.MaxAttempts > MaxRetryAttempts {
		v.addf(p+".max_attempts", "must be between 1 and %d", MaxRetryAttempts)
	}
	v.nonNegative(p+".backoff", r.Backoff)
	v.nonNegative(p+".max_backoff", r.MaxBackoff)
}

func (v *validator) healthChecks(p string, h *HealthChecks) {
	if h == nil {
		return
	}
	if a := h.Active; a != nil {
		ap := p + ".active"
		if !strings.HasPrefix(a.Path, "/") {
			v.addf(ap+".path", "is required and must start with /")
		}
		if a.Interval != 0 && a.Interval.Std() < minCheckInterval {
			v.addf(ap+".interval", "must be at least %v", minCheckInterval)
		}
		v.nonNegative(ap+".timeout", a.Timeout)
		if a.Timeout > 0 && a.Interval > 0 && a.Timeout > a.Interval {
			v.addf(ap+".timeout", "must not exceed the interval")
		}
		v.threshold(ap+".healthy_threshold", a.HealthyThreshold)
		v.threshold(ap+".unhealthy_threshold", a.UnhealthyThreshold)
	}
	if ps := h.Passive; ps != nil {
		pp := p + ".passive"
		v.threshold(pp+".consecutive_failures", ps.ConsecutiveFailures)
		v.nonNegative(pp+".ejection_time", ps.EjectionTime)
		for j, code := range ps.FailureStatuses {
			if code < 100 || code > 599 {
				v.addf(fmt.Sprintf("%s.failure_statuses[%d]", pp, j), "must be an HTTP status (100 to 599)")
			}
		}
	}
}

func (v *validator) threshold(path string, n int) {
	if n < 0 || n > maxThreshold {
		v.addf(path, "must be between 1 and %d", maxThreshold)
	}
}

func (v *validator) upstreamTLS(p string, s *Service) {
	if s.TLS == nil {
		return
	}
	if s.EffectiveProtocol() != ProtocolHTTPS {
		v.addf(p, "only an https service uses tls")
	}
	if s.TLS.CABundle != "" && !x509.NewCertPool().AppendCertsFromPEM([]byte(s.TLS.CABundle)) {
		v.addf(p+".ca_bundle", "holds no PEM certificate")
	}
}

// validHeaderName reports whether n is an HTTP token.
func validHeaderName(n string) bool {
	if n == "" {
		return false
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

// certificateSNIs checks that every SNI is a host name or "*." wildcard
// and that no two certificates claim the same one.
func (v *validator) certificateSNIs(certs []Certificate) {
	seen := map[string]bool{}
	for i, c := range certs {
		for j, sni := range c.SNIs {
			path := fmt.Sprintf("certificates[%d].snis[%d]", i, j)
			name := strings.ToLower(sni)
			switch {
			case !validHostPattern(name):
				v.addf(path, "invalid SNI %q", sni)
			case seen[name]:
				v.addf(path, "duplicate SNI %q", sni)
			}
			seen[name] = true
		}
	}
}

// validHostPattern accepts a host name, optionally with a leading "*.".
func validHostPattern(h string) bool {
	return h != "" && !strings.ContainsAny(h, "/ ") && !strings.Contains(h[1:], "*") &&
		(h[0] != '*' || strings.HasPrefix(h, "*."))
}

var httpMethods = map[string]bool{
	"GET": true, "HEAD": true, "POST": true, "PUT": true, "PATCH": true,
	"DELETE": true, "OPTIONS": true, "CONNECT": true, "TRACE": true,
}

func (v *validator) routes(routes []Route, services map[string]bool) {
	seen := map[string]bool{}
	for i := range routes {
		r := &routes[i]
		p := fmt.Sprintf("routes[%d]", i)
		v.uniqueName(p, "name", r.Name, seen)
		switch {
		case r.Service == "" && r.Aggregate == nil:
			v.addf(p+".service", "is required")
		case r.Service != "" && !services[r.Service]:
			v.addf(p+".service", "unknown service %q", r.Service)
		}
		for j, h := range r.Hosts {
			if !validHostPattern(h) {
				v.addf(fmt.Sprintf("%s.hosts[%d]", p, j), "invalid host %q", h)
			}
		}
		captures := v.routePaths(p, r.Paths)
		for j, m := range r.Methods {
			if !httpMethods[m] {
				v.addf(fmt.Sprintf("%s.methods[%d]", p, j), "unknown method %q (methods are upper case)", m)
			}
		}
		v.matchers(p, r)
		v.rewrite(p, r, captures)
		v.headerTransform(p+".request_headers", r.RequestHeaders, captures)
		v.headerTransform(p+".response_headers", r.ResponseHeaders, captures)
		v.mirror(p+".mirror", r.Mirror, services)
		v.aggregate(p, r, services, captures)
		if r.MaxBodyBytes < 0 {
			v.addf(p+".max_body_bytes", "must not be negative")
		}
	}
}

// routePaths checks the paths and returns the captures every path defines.
func (v *validator) routePaths(p string, paths []string) []string {
	var common []string
	for j, path := range paths {
		rp, err := ParseRoutePath(path)
		if err != nil {
			v.addf(fmt.Sprintf("%s.paths[%d]", p, j), "%v", err)
			common = nil
			continue
		}
		if j == 0 {
			common = rp.Captures
			continue
		}
		common = slices.DeleteFunc(slices.Clone(common), func(c string) bool { return !slices.Contains(rp.Captures, c) })
	}
	return common
}

func (v *validator) matchers(p string, r *Route) {
	for _, name := range slices.Sorted(maps.Keys(r.Headers)) {
		if !validHeaderName(name) {
			v.addf(p+".headers", "invalid header name %q", name)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(r.Query)) {
		if name == "" {
			v.addf(p+".query", "empty parameter name")
		}
	}
	if r.Priority < -MaxRoutePriority || r.Priority > MaxRoutePriority {
		v.addf(p+".priority", "must be between %d and %d", -MaxRoutePriority, MaxRoutePriority)
	}
}

func (v *validator) rewrite(p string, r *Route, captures []string) {
	if r.Rewrite == "" {
		return
	}
	if r.StripPath {
		v.addf(p+".strip_path", "not allowed with rewrite")
	}
	if !strings.HasPrefix(r.Rewrite, "/") || strings.ContainsAny(r.Rewrite, "# \r\n") {
		v.addf(p+".rewrite", "must start with / and hold no spaces or fragment")
	}
	v.template(p+".rewrite", r.Rewrite, captures)
}

// template checks that a template parses and uses only known names.
func (v *validator) template(path, tmpl string, captures []string) {
	parts, err := ParseTemplate(tmpl)
	if err != nil {
		v.addf(path, "%v", err)
		return
	}
	for _, part := range parts {
		if part.Var != "" && !IsVariable(part.Var) && !slices.Contains(captures, part.Var) {
			v.addf(path, "unknown variable {%s} (not a variable, nor a capture of every path)", part.Var)
		}
	}
}

func (v *validator) headerTransform(p string, t *HeaderTransform, captures []string) {
	if t == nil {
		return
	}
	for j, name := range t.Remove {
		if !validHeaderName(name) {
			v.addf(fmt.Sprintf("%s.remove[%d]", p, j), "invalid header name %q", name)
		}
	}
	for _, from := range slices.Sorted(maps.Keys(t.Rename)) {
		to := t.Rename[from]
		if !validHeaderName(from) || !validHeaderName(to) {
			v.addf(p+".rename", "invalid header name in %q: %q", from, to)
		}
	}
	for _, op := range [...]struct {
		name string
		m    map[string]string
	}{{"set", t.Set}, {"add", t.Add}} {
		for _, name := range slices.Sorted(maps.Keys(op.m)) {
			val := op.m[name]
			if !validHeaderName(name) {
				v.addf(p+"."+op.name, "invalid header name %q", name)
			}
			if strings.ContainsAny(val, "\r\n\x00") {
				v.addf(p+"."+op.name+"."+name, "value must not hold CR, LF or NUL")
			}
			v.template(p+"."+op.name+"."+name, val, captures)
		}
	}
}

func (v *validator) mirror(p string, m *Mirror, services map[string]bool) {
	if m == nil {
		return
	}
	switch {
	case m.Service == "":
		v.addf(p+".service", "is required")
	case !services[m.Service]:
		v.addf(p+".service", "unknown service %q", m.Service)
	}
	if m.Percentage < 0 || m.Percentage > 100 {
		v.addf(p+".percentage", "must be between 0 and 100")
	}
	if m.MaxInFlight < 0 || m.MaxInFlight > 10000 {
		v.addf(p+".max_in_flight", "must be between 1 and 10000")
	}
}
