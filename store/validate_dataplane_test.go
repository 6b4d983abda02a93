package store

import (
	"strings"
	"testing"
	"time"
)

func intp(n int) *int { return &n }

// dataplaneConfig is a valid config using the data-plane fields.
func dataplaneConfig() *Config {
	return &Config{
		Services: []Service{
			{
				Name: "catalog", Protocol: "http", Path: "/base",
				Targets: []Target{
					{Target: "10.0.0.1:9001", Weight: intp(95)},
					{Target: "http://10.0.0.2:9001", Weight: intp(5)},
					{Target: "backup.internal", Weight: intp(0)},
				},
				Balancer: "consistent-hash", HashOn: "header", HashOnHeader: "X-User",
				ReadTimeout: Duration(time.Second),
				Retry:       &Retry{MaxAttempts: 3, Backoff: Duration(10 * time.Millisecond)},
				HealthChecks: &HealthChecks{
					Active:  &ActiveHealthCheck{Path: "/healthz", Interval: Duration(time.Second), Timeout: Duration(time.Second)},
					Passive: &PassiveHealthCheck{ConsecutiveFailures: 3, FailureStatuses: []int{500}},
				},
				MaxConcurrentRequests: 100,
			},
			{Name: "grpc", URL: "http://10.0.0.3:50051", Protocol: "h2c"},
			{Name: "secure", URL: "https://10.0.0.4", TLS: &UpstreamTLS{ServerName: "secure.internal"}},
		},
		Routes: []Route{
			{
				Name: "products", Service: "catalog",
				Paths:    []string{"/v1/products/{id}", "~/v1/items/(?<id>[0-9]+)$"},
				Headers:  map[string][]string{"X-Version": {"2"}},
				Query:    map[string][]string{"debug": nil},
				Priority: 10, Rewrite: "/api/catalog/product?id={id}",
				RequestHeaders:  &HeaderTransform{Set: map[string]string{"X-Req": "{request_id}/{id}"}, Remove: []string{"Cookie"}},
				ResponseHeaders: &HeaderTransform{Set: map[string]string{"Deprecation": "true"}, Rename: map[string]string{"X-A": "X-B"}},
				Mirror:          &Mirror{Service: "grpc", Percentage: 10},
				MaxBodyBytes:    1 << 20,
			},
			{Name: "exact", Service: "grpc", Paths: []string{"=/health"}},
		},
	}
}

func TestValidateDataplaneValid(t *testing.T) {
	if err := dataplaneConfig().Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestValidateDataplaneRules(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		path   string
		msg    string
	}{
		{"url and targets", func(c *Config) { c.Services[0].URL = "http://x" }, "services[0].targets", "mutually exclusive"},
		{"neither url nor targets", func(c *Config) { c.Services[0].Targets = nil }, "services[0].url", "is required"},
		{"weight too high", func(c *Config) { c.Services[0].Targets[1].Weight = intp(1001) }, "services[0].targets[1].weight", "must be between 0 and 1000"},
		{"weight negative", func(c *Config) { c.Services[0].Targets[0].Weight = intp(-1) }, "services[0].targets[0].weight", "between 0 and 1000"},
		{"all weights zero", func(c *Config) {
			c.Services[0].Targets = []Target{{Target: "a:1", Weight: intp(0)}}
		}, "services[0].targets", "positive weight"},
		{"target empty", func(c *Config) { c.Services[0].Targets[0].Target = "" }, "services[0].targets[0].target", "is required"},
		{"target bad port", func(c *Config) { c.Services[0].Targets[0].Target = "a:99999" }, "services[0].targets[0].target", "invalid port"},
		{"target url with path", func(c *Config) { c.Services[0].Targets[0].Target = "http://a:1/x" }, "services[0].targets[0].target", "only a scheme"},
		{"target scheme mismatch", func(c *Config) { c.Services[0].Targets[0].Target = "https://a:1" }, "services[0].targets[0].target", "does not go with"},
		{"target duplicate", func(c *Config) { c.Services[0].Targets[1].Target = "10.0.0.1:9001" }, "services[0].targets[1].target", "duplicate"},
		{"protocol unknown", func(c *Config) { c.Services[0].Protocol = "ftp" }, "services[0].protocol", "must be http, https or h2c"},
		{"protocol vs url", func(c *Config) { c.Services[2].Protocol = "h2c" }, "services[2].protocol", "does not go with"},
		{"path with url", func(c *Config) { c.Services[1].Path = "/x" }, "services[1].path", "not allowed with url"},
		{"path relative", func(c *Config) { c.Services[0].Path = "x" }, "services[0].path", "must start with /"},
		{"balancer unknown", func(c *Config) { c.Services[0].Balancer = "random" }, "services[0].balancer", "must be round-robin"},
		{"hash header missing", func(c *Config) { c.Services[0].HashOnHeader = "" }, "services[0].hash_on_header", "must name a header"},
		{"hash_on without hashing", func(c *Config) { c.Services[0].Balancer = "" }, "services[0].hash_on", "only the consistent-hash"},
		{"hash_on unknown", func(c *Config) { c.Services[0].HashOn = "path" }, "services[0].hash_on", "must be ip"},
		{"read timeout negative", func(c *Config) { c.Services[0].ReadTimeout = -1 }, "services[0].read_timeout", "negative"},
		{"retry attempts", func(c *Config) { c.Services[0].Retry.MaxAttempts = 11 }, "services[0].retry.max_attempts", "between 1 and 10"},
		{"retry backoff", func(c *Config) { c.Services[0].Retry.Backoff = -1 }, "services[0].retry.backoff", "negative"},
		{"breaker negative", func(c *Config) { c.Services[0].MaxConcurrentRequests = -1 }, "services[0].max_concurrent_requests", "negative"},
		{"check path", func(c *Config) { c.Services[0].HealthChecks.Active.Path = "" }, "services[0].health_checks.active.path", "required"},
		{"check interval", func(c *Config) {
			c.Services[0].HealthChecks.Active.Interval = Duration(time.Millisecond)
		}, "services[0].health_checks.active.interval", "at least"},
		{"check timeout above interval", func(c *Config) {
			c.Services[0].HealthChecks.Active.Timeout = Duration(2 * time.Second)
		}, "services[0].health_checks.active.timeout", "must not exceed"},
		{"check threshold", func(c *Config) {
			c.Services[0].HealthChecks.Active.UnhealthyThreshold = -2
		}, "services[0].health_checks.active.unhealthy_threshold", "between 1 and"},
		{"passive status", func(c *Config) {
			c.Services[0].HealthChecks.Passive.FailureStatuses = []int{500, 42}
		}, "services[0].health_checks.passive.failure_statuses[1]", "HTTP status"},
		{"tls on http", func(c *Config) { c.Services[1].TLS = &UpstreamTLS{} }, "services[1].tls", "only an https"},
		{"tls bad bundle", func(c *Config) { c.Services[2].TLS.CABundle = "nope" }, "services[2].tls.ca_bundle", "no PEM"},
		{"regex invalid", func(c *Config) { c.Routes[0].Paths[1] = "~/v1/(" }, "routes[0].paths[1]", "invalid regex"},
		{"exact relative", func(c *Config) { c.Routes[1].Paths = []string{"=health"} }, "routes[1].paths[0]", "=/"},
		{"template unclosed", func(c *Config) { c.Routes[0].Paths[0] = "/v1/{id" }, "routes[0].paths[0]", "unclosed"},
		{"capture shadows variable", func(c *Config) {
			c.Routes[1].Paths = []string{"/x/{host}"}
		}, "routes[1].paths[0]", "shadows"},
		{"rewrite unknown capture", func(c *Config) { c.Routes[0].Rewrite = "/p/{sku}" }, "routes[0].rewrite", "unknown variable {sku}"},
		{"rewrite capture not in every path", func(c *Config) {
			c.Routes[0].Paths = append(c.Routes[0].Paths, "/other")
		}, "routes[0].rewrite", "unknown variable {id}"},
		{"rewrite relative", func(c *Config) { c.Routes[0].Rewrite = "p" }, "routes[0].rewrite", "must start with /"},
		{"rewrite and strip", func(c *Config) { c.Routes[0].StripPath = true }, "routes[0].strip_path", "not allowed with rewrite"},
		{"header matcher name", func(c *Config) {
			c.Routes[0].Headers = map[string][]string{"Bad Name": nil}
		}, "routes[0].headers", "invalid header name"},
		{"priority range", func(c *Config) { c.Routes[0].Priority = 20000 }, "routes[0].priority", "between"},
		{"transform bad name", func(c *Config) {
			c.Routes[0].RequestHeaders.Remove = []string{"a:b"}
		}, "routes[0].request_headers.remove[0]", "invalid header name"},
		{"transform CRLF", func(c *Config) {
			c.Routes[0].ResponseHeaders.Set["Sunset"] = "x\r\ny"
		}, "routes[0].response_headers.set.Sunset", "CR, LF"},
		{"transform unknown var", func(c *Config) {
			c.Routes[0].RequestHeaders.Set["X-Req"] = "{nope}"
		}, "routes[0].request_headers.set.X-Req", "unknown variable"},
		{"mirror unknown service", func(c *Config) { c.Routes[0].Mirror.Service = "ghost" }, "routes[0].mirror.service", "unknown service"},
		{"mirror percentage", func(c *Config) { c.Routes[0].Mirror.Percentage = 101 }, "routes[0].mirror.percentage", "between 0 and 100"},
		{"body limit", func(c *Config) { c.Routes[0].MaxBodyBytes = -1 }, "routes[0].max_body_bytes", "negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := dataplaneConfig()
			tt.mutate(cfg)
			ve := asValidationError(t, cfg.Validate())
			for _, fe := range ve.Errors {
				if fe.Path == tt.path && strings.Contains(fe.Message, tt.msg) {
					return
				}
			}
			t.Errorf("errors %v, want %s: ...%s...", ve.Errors, tt.path, tt.msg)
		})
	}
}

func TestParseRoutePath(t *testing.T) {
	tests := []struct {
		in       string
		kind     PathKind
		literal  string
		captures []string
		matches  []string
		misses   []string
	}{
		{"/api", PathPrefix, "", nil, nil, nil},
		{"=/health", PathExact, "", nil, nil, nil},
		{"/v1/products/{id}", PathRegex, "/v1/products/", []string{"id"}, []string{"/v1/products/7"}, []string{"/v1/products/", "/v1/products/7/x", "/v1/products/a/b"}},
		{"/a/{x}/b/{y}", PathRegex, "/a/", []string{"x", "y"}, []string{"/a/1/b/2"}, []string{"/a/1/b/"}},
		{"~/v1/(?<id>[0-9]+)", PathRegex, "/v1/", []string{"id"}, []string{"/v1/42", "/v1/42/more"}, []string{"/x/v1/42", "/v1/abc"}},
		{"~^/x$", PathRegex, "/x", nil, []string{"/x"}, []string{"/xy"}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			rp, err := ParseRoutePath(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if rp.Kind != tt.kind || rp.Literal != tt.literal || strings.Join(rp.Captures, ",") != strings.Join(tt.captures, ",") {
				t.Errorf("got %+v", rp)
			}
			for _, m := range tt.matches {
				if !rp.Regexp.MatchString(m) {
					t.Errorf("%q does not match %q", tt.in, m)
				}
			}
			for _, m := range tt.misses {
				if rp.Regexp.MatchString(m) {
					t.Errorf("%q matches %q", tt.in, m)
				}
			}
		})
	}
}

func TestParseTemplate(t *testing.T) {
	parts, err := ParseTemplate("/p?id={id}&x={{y}&r={request_id}")
	if err != nil {
		t.Fatal(err)
	}
	want := []TemplatePart{{Literal: "/p?id="}, {Var: "id"}, {Literal: "&x={y}&r="}, {Var: "request_id"}}
	if len(parts) != len(want) {
		t.Fatalf("parts %+v", parts)
	}
	for i := range want {
		if parts[i] != want[i] {
			t.Errorf("part %d = %+v, want %+v", i, parts[i], want[i])
		}
	}
	for _, bad := range []string{"{", "{1a}", "{a-b}", "x{}"} {
		if _, err := ParseTemplate(bad); err == nil {
			t.Errorf("ParseTemplate(%q) succeeded", bad)
		}
	}
}

func TestDecodeDataplaneYAML(t *testing.T) {
	doc := `
services:
  - name: catalog
    targets:
      - {target: 10.0.0.1:9001, weight: 95}
      - {target: 10.0.0.2:9001, weight: 5}
    retry: {max_attempts: 2, backoff: 20ms}
    health_checks:
      active: {path: /healthz, interval: 2s}
      passive: {consecutive_failures: 3, ejection_time: 10s}
routes:
  - name: products
    service: catalog
    paths: ["/v1/products/{id}"]
    rewrite: /api/catalog/product?id={id}
    response_headers:
      set: {Deprecation: "true", Sunset: "Wed, 11 Nov 2026 23:59:59 GMT"}
`
	cfg, err := Decode([]byte(doc), "application/yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	s := cfg.Services[0]
	if len(s.Targets) != 2 || *s.Targets[1].Weight != 5 || s.Retry.MaxAttempts != 2 || s.HealthChecks.Passive.EjectionTime.Std() != 10*time.Second {
		t.Errorf("decoded service %+v", s)
	}
	if cfg.Routes[0].ResponseHeaders.Set["Sunset"] == "" {
		t.Errorf("decoded route %+v", cfg.Routes[0])
	}
	if _, err := Decode([]byte(`{"services":[{"name":"a","targets":[{"target":"a:1","wieght":1}]}]}`), ""); err == nil ||
		!strings.Contains(err.Error(), "services[0].targets[0].wieght") {
		t.Errorf("unknown target field: %v", err)
	}
}
