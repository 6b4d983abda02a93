// Package store owns tollgate's configuration model: the document types,
// their validation, the version history, the Raft FSM that applies changes,
// and the bbolt file that keeps the last applied config across restarts.
//
// A *Config handed out by the store is immutable: readers may keep it for as
// long as they like and must never modify it.
package store

import (
	"encoding/json"
	"fmt"
	"math"
	"time"
)

// Config is the replicated configuration document. Version is assigned by
// the cluster when the document is applied; it is read-only for clients.
type Config struct {
	Version      uint64        `json:"version"`
	Services     []Service     `json:"services,omitempty"`
	Routes       []Route       `json:"routes,omitempty"`
	Consumers    []Consumer    `json:"consumers,omitempty"`
	Plugins      []Plugin      `json:"plugins,omitempty"`
	Certificates []Certificate `json:"certificates,omitempty"`
	// Tracing exports the gateway's spans over OTLP; nil exports none.
	Tracing *Tracing `json:"tracing,omitempty"`
	// AdminTokens are the admin API's bearer tokens, kept hashed. They
	// are managed through the admin API's /v1/tokens endpoints, never
	// shown back, and carried over unchanged by other writes.
	AdminTokens []AdminToken `json:"admin_tokens,omitempty"`
}

// Service is a named upstream: a set of targets that routes send traffic
// to, how to balance between them, how long to wait for them, when to retry
// and how to tell whether they are healthy.
//
// Give either URL (one target) or Targets (several, with weights).
type Service struct {
	Name string `json:"name"`
	// URL is the single-target shorthand, for example http://127.0.0.1:9001
	// or https://10.0.0.5:9443/base: its scheme sets Protocol, its host the
	// one target (weight 100) and its path the base Path. A query in the
	// URL is put in front of the request's. Mutually exclusive with Targets
	// and Path.
	URL string `json:"url,omitempty"`
	// Protocol speaks to the targets: "http" (the default; the URL's scheme
	// when URL is set), "https", or "h2c" (HTTP/2 without TLS, for gRPC).
	// With URL, only "h2c" may be combined with an http URL.
	Protocol string `json:"protocol,omitempty"`
	// Path is a base path put in front of every request path when Targets
	// are used (with URL, put the path in the URL). Default: none.
	Path string `json:"path,omitempty"`
	// Targets are the upstream instances; at least one needs a positive
	// weight. Mutually exclusive with URL.
	Targets []Target `json:"targets,omitempty"`
	// Balancer picks a target per request: "round-robin" (the default,
	// smooth weighted as in nginx), "least-connections" (fewest requests
	// in flight relative to weight) or "consistent-hash" (see HashOn).
	Balancer string `json:"balancer,omitempty"`
	// HashOn is the key of the consistent-hash balancer: "ip" (the client
	// address, the default), "header" (HashOnHeader), "cookie"
	// (HashOnCookie) or "consumer". A request without the header, cookie
	// or consumer falls back to the client address.
	HashOn string `json:"hash_on,omitempty"`
	// HashOnHeader names the header hashed when HashOn is "header".
	HashOnHeader string `json:"hash_on_header,omitempty"`
	// HashOnCookie names the cookie hashed when HashOn is "cookie".
	HashOnCookie string `json:"hash_on_cookie,omitempty"`
	// ConnectTimeout bounds dialing a target, TLS handshake included
	// (default 5s).
	ConnectTimeout Duration `json:"connect_timeout,omitempty"`
	// ReadTimeout bounds, per attempt, the wait for the response headers
	// once the request is written, and then every gap between two reads of
	// the response body (default 60s). Upgraded (WebSocket) connections are
	// not bound by it. Exceeding it answers 504 (or cuts the body off).
	ReadTimeout Duration `json:"read_timeout,omitempty"`
	// Timeout bounds the whole upstream exchange up to the response
	// headers, every retry and backoff included (default 60s). Exceeding it
	// answers 504.
	Timeout Duration `json:"timeout,omitempty"`
	// Retry retries failed attempts on another target. Default: no retries.
	Retry *Retry `json:"retry,omitempty"`
	// MaxConcurrentRequests is the circuit breaker: requests in flight to
	// the service beyond it are answered 503 by the gateway at once.
	// Default 0: unlimited.
	MaxConcurrentRequests int `json:"max_concurrent_requests,omitempty"`
	// HealthChecks decide which targets get traffic. Default: none, every
	// target with a positive weight is used.
	HealthChecks *HealthChecks `json:"health_checks,omitempty"`
	// TLS configures connections to https targets. Default: verify against
	// the system roots, SNI the target's host.
	TLS *UpstreamTLS `json:"tls,omitempty"`
}

// Target is one upstream instance of a service.
type Target struct {
	// Target is host:port, or a URL with only a scheme and host:port
	// (http://10.0.0.1:9001), whose scheme must agree with the service's
	// protocol. Without a port, 80 (http, h2c) or 443 (https) is used.
	Target string `json:"target"`
	// Weight is the target's share of the traffic, 0 to 1000 (default
	// 100). Weight 0 takes the target out of rotation.
	Weight *int `json:"weight,omitempty"`
}

// Retry is a service's retry policy. A failed attempt is retried, on
// another target when there is one, only when that cannot duplicate work:
// the connection to the target was never made (any method), or the method
// is idempotent (GET, HEAD, OPTIONS, TRACE, PUT, DELETE) and the request
// has no body. Answers from a target, whatever their status, are never
// retried.
type Retry struct {
	// MaxAttempts is the number of tries including the first, 1 to 10
	// (default 1: no retries).
	MaxAttempts int `json:"max_attempts,omitempty"`
	// Backoff is the wait before the first retry (default 25ms); each
	// further retry doubles it, up to MaxBackoff. Waits are jittered
	// between half and all of that.
	Backoff Duration `json:"backoff,omitempty"`
	// MaxBackoff caps the wait between two attempts (default 1s).
	MaxBackoff Duration `json:"max_backoff,omitempty"`
}

// HealthChecks configure active probing and passive outlier ejection. A
// target gets traffic while it is healthy by both (targets start healthy).
// When no target of a service is healthy, the gateway answers 503.
type HealthChecks struct {
	// Active probes every target in the background.
	Active *ActiveHealthCheck `json:"active,omitempty"`
	// Passive ejects a target after consecutive failed requests.
	Passive *PassiveHealthCheck `json:"passive,omitempty"`
}

// ActiveHealthCheck probes each target with GET Path. A probe succeeds
// when it answers 2xx or 3xx within Timeout.
type ActiveHealthCheck struct {
	// Path is the probed path, for example /healthz (required).
	Path string `json:"path"`
	// Interval is the time between two probes of a target (default 5s).
	Interval Duration `json:"interval,omitempty"`
	// Timeout bounds one probe (default 1s; at most Interval).
	Timeout Duration `json:"timeout,omitempty"`
	// HealthyThreshold is the number of consecutive successes that make
	// an unhealthy target healthy again (default 2).
	HealthyThreshold int `json:"healthy_threshold,omitempty"`
	// UnhealthyThreshold is the number of consecutive failures that make
	// a healthy target unhealthy (default 3).
	UnhealthyThreshold int `json:"unhealthy_threshold,omitempty"`
}

// PassiveHealthCheck ejects a target that failed ConsecutiveFailures
// requests in a row (a connection error, a timeout, or an answer with one
// of FailureStatuses) for EjectionTime; after that it gets traffic again.
type PassiveHealthCheck struct {
	// ConsecutiveFailures ejects a target (default 5).
	ConsecutiveFailures int `json:"consecutive_failures,omitempty"`
	// EjectionTime is how long an ejected target gets no traffic
	// (default 30s).
	EjectionTime Duration `json:"ejection_time,omitempty"`
	// FailureStatuses are the answers counted as failures (default 500,
	// 502, 503, 504).
	FailureStatuses []int `json:"failure_statuses,omitempty"`
}

// UpstreamTLS configures TLS to a service's https targets.
type UpstreamTLS struct {
	// CABundle is a PEM bundle of the CAs that may sign the targets'
	// certificates. Default: the system roots.
	CABundle string `json:"ca_bundle,omitempty"`
	// ServerName is the name sent in SNI and verified in the target's
	// certificate. Default: the target's host.
	ServerName string `json:"server_name,omitempty"`
	// InsecureSkipVerify turns verification of the target's certificate
	// off. For tests only.
	InsecureSkipVerify bool `json:"insecure_skip_verify,omitempty"`
}

// Route matches requests and sends them to a service. A request matches a
// route when every non-empty matcher (hosts, paths, methods, headers,
// query) has an entry that matches.
//
// When several routes match, the highest Priority wins; among equal
// priorities the most specific: an exact host over a wildcard host over
// none, then an exact path over a regex over the longest prefix, then the
// route with more method, header and query matchers, then config order.
type Route struct {
	Name string `json:"name"`
	// Service receives the route's requests. Required, except on an
	// aggregate route, where it only scopes service plugins.
	Service string `json:"service"`
	// Hosts are exact host names; a leading "*." matches any subdomain.
	Hosts []string `json:"hosts,omitempty"`
	// Paths match the request path, in one of four forms:
	//   /api/v1              a prefix, matched at a segment boundary
	//                        (/api/v1 and /api/v1/x, not /api/v1x)
	//   =/api/v1/health      the exact path
	//   /v1/products/{id}    the exact path, where each {name} matches one
	//                        non-empty segment and captures it
	//   ~/v1/(?<id>[0-9]+)   a regular expression (RE2) anchored at the
	//                        start of the path; named groups are captures
	// Captures can be used in Rewrite and in header transforms as {name}.
	Paths []string `json:"paths,omitempty"`
	// Methods are upper-case HTTP methods.
	Methods []string `json:"methods,omitempty"`
	// Headers maps a header name to the values it may have (any one, exact
	// match); an empty list only requires the header to be present.
	Headers map[string][]string `json:"headers,omitempty"`
	// Query maps a query parameter to the values it may have (any one,
	// exact match); an empty list only requires the parameter.
	Query map[string][]string `json:"query,omitempty"`
	// Priority orders matching routes, higher first, before specificity
	// is considered (default 0; -10000 to 10000).
	Priority int `json:"priority,omitempty"`
	// StripPath removes the matched part of the path before proxying: the
	// prefix, the exact path, or what the regex matched.
	StripPath bool `json:"strip_path,omitempty"`
	// Rewrite replaces the request path (and adds a query) with a
	// template, for example /api/catalog/product?id={id}. The template may
	// use the route's captures and the variables of header transforms. The
	// request's own query is appended after the template's. Rewrite and
	// StripPath are mutually exclusive.
	Rewrite string `json:"rewrite,omitempty"`
	// RequestHeaders transforms the headers sent to the service.
	RequestHeaders *HeaderTransform `json:"request_headers,omitempty"`
	// ResponseHeaders transforms the headers sent back to the client,
	// gateway errors included.
	ResponseHeaders *HeaderTransform `json:"response_headers,omitempty"`
	// Mirror sends a copy of a share of the route's requests to a shadow
	// service and ignores its answers.
	Mirror *Mirror `json:"mirror,omitempty"`
	// MaxBodyBytes limits the request body; a larger body is answered 413
	// by the gateway. Default 0: the gateway's limit (unlimited unless set
	// on the node).
	MaxBodyBytes int64 `json:"max_body_bytes,omitempty"`
	// Aggregate answers the route's requests with the merged JSON of
	// parallel calls to services instead of proxying them.
	Aggregate *Aggregate `json:"aggregate,omitempty"`
}

// HeaderTransform changes headers. The steps run in the order remove,
// rename, set, add. Values are templates: {request_id}, {consumer},
// {client_ip}, {host}, {method}, {path}, {route}, {service} and the route's
// path captures by name expand to their values; {{ is a literal {.
type HeaderTransform struct {
	// Remove deletes these headers.
	Remove []string `json:"remove,omitempty"`
	// Rename moves a header's values to a new name (old name → new name).
	Rename map[string]string `json:"rename,omitempty"`
	// Set replaces a header's values with one value.
	Set map[string]string `json:"set,omitempty"`
	// Add appends a value to a header.
	Add map[string]string `json:"add,omitempty"`
}

// Mirror copies requests to a shadow service, fire-and-forget: the copy's
// answer, errors and latency never reach the client. Copies beyond
// MaxInFlight are dropped, and so is a copy whose body cannot keep up.
type Mirror struct {
	// Service is the shadow service (required).
	Service string `json:"service"`
	// Percentage of the route's requests to copy, above 0 up to 100
	// (default 100).
	Percentage float64 `json:"percentage,omitempty"`
	// MaxInFlight bounds the copies in flight for this route (default 16).
	MaxInFlight int `json:"max_in_flight,omitempty"`
}

// Consumer is an identity that authentication plugins resolve requests to.
type Consumer struct {
	Username string   `json:"username"`
	Groups   []string `json:"groups,omitempty"`
	// Credentials are the consumer's API keys and JWT keys.
	Credentials ConsumerCredentials `json:"credentials,omitzero"`
}

// Plugin attaches a policy to a route, a service, or (with neither set)
// every request. Config is interpreted by the plugin named by Name.
type Plugin struct {
	Name    string          `json:"name"`
	Route   string          `json:"route,omitempty"`
	Service string          `json:"service,omitempty"`
	Config  json.RawMessage `json:"config,omitempty"`
}

// Certificate is a PEM certificate chain and key served for the given SNIs.
type Certificate struct {
	Name string   `json:"name"`
	Cert string   `json:"cert"`
	Key  string   `json:"key"`
	SNIs []string `json:"snis,omitempty"`
}

// Duration is a time.Duration written as a Go duration string ("250ms",
// "5s") in config documents. A bare JSON number is read as milliseconds.
type Duration time.Duration

// Std returns d as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// MarshalJSON writes d as a duration string.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON reads a duration string or a number of milliseconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var ms float64
	if err := json.Unmarshal(b, &ms); err == nil {
		ns := ms * float64(time.Millisecond)
		if math.Abs(ns) >= math.MaxInt64 {
			return fmt.Errorf("duration of %v milliseconds is out of range", ms)
		}
		*d = Duration(ns)
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string like \"5s\" or a number of milliseconds")
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("invalid duration %q: %w", s, err)
	}
	*d = Duration(v)
	return nil
}

// Service returns the service with the given name, or nil.
func (c *Config) Service(name string) *Service {
	for i := range c.Services {
		if c.Services[i].Name == name {
			return &c.Services[i]
		}
	}
	return nil
}
