package store

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

// aggregateConfig is a valid config with an aggregate route.
func aggregateConfig() *Config {
	return &Config{
		Services: []Service{{Name: "users", URL: "http://10.0.0.1:9001"}, {Name: "orders", URL: "http://10.0.0.2:9001"}},
		Routes: []Route{
			{Name: "plain", Service: "users", Paths: []string{"/users"}},
			{Name: "dashboard", Paths: []string{"/v1/dashboard/{id}"}, Aggregate: &Aggregate{
				OnError: AggregatePartial,
				Calls: []AggregateCall{
					{Name: "user", Service: "users", Path: "/users/{id}", Timeout: Duration(300 * time.Millisecond), Required: true},
					{Name: "orders", Service: "orders", Path: "/orders?user={id}&by={consumer}", Method: "POST"},
				},
			}},
		},
	}
}

func TestValidateAggregateValid(t *testing.T) {
	if err := aggregateConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	c := aggregateConfig()
	c.Routes[1].Service = "users" // a service is allowed, for service plugins
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestValidateAggregateRules(t *testing.T) {
	call := func(c *Config) *AggregateCall { return &c.Routes[1].Aggregate.Calls[1] }
	tests := []struct {
		name   string
		mutate func(*Config)
		path   string
		msg    string
	}{
		{"service still required without aggregate", func(c *Config) { c.Routes[0].Service = "" }, "routes[0].service", "is required"},
		{"unknown route service", func(c *Config) { c.Routes[1].Service = "nope" }, "routes[1].service", `unknown service "nope"`},
		{"no calls", func(c *Config) { c.Routes[1].Aggregate.Calls = nil }, "routes[1].aggregate.calls", "1 to 32"},
		{"too many calls", func(c *Config) {
			a := c.Routes[1].Aggregate
			for len(a.Calls) <= MaxAggregateCalls {
				a.Calls = append(a.Calls, AggregateCall{Name: strings.Repeat("x", len(a.Calls)), Service: "users", Path: "/"})
			}
		}, "routes[1].aggregate.calls", "1 to 32"},
		{"bad policy", func(c *Config) { c.Routes[1].Aggregate.OnError = "ignore" }, "routes[1].aggregate.on_error", "must be fail or partial"},
		{"name missing", func(c *Config) { call(c).Name = "" }, "routes[1].aggregate.calls[1].name", "is required"},
		{"name duplicate", func(c *Config) { call(c).Name = "user" }, "routes[1].aggregate.calls[1].name", `duplicate name "user"`},
		{"name reserved", func(c *Config) { call(c).Name = "errors" }, "routes[1].aggregate.calls[1].name", "reserved"},
		{"service missing", func(c *Config) { call(c).Service = "" }, "routes[1].aggregate.calls[1].service", "is required"},
		{"service unknown", func(c *Config) { call(c).Service = "billing" }, "routes[1].aggregate.calls[1].service", `unknown service "billing"`},
		{"path missing", func(c *Config) { call(c).Path = "" }, "routes[1].aggregate.calls[1].path", "must start with /"},
		{"path with space", func(c *Config) { call(c).Path = "/a b" }, "routes[1].aggregate.calls[1].path", "no spaces"},
		{"path unknown variable", func(c *Config) { call(c).Path = "/orders/{order}" }, "routes[1].aggregate.calls[1].path", "unknown variable {order}"},
		{"path unclosed", func(c *Config) { call(c).Path = "/orders/{id" }, "routes[1].aggregate.calls[1].path", "unclosed"},
		{"method", func(c *Config) { call(c).Method = "CONNECT" }, "routes[1].aggregate.calls[1].method", "must be GET"},
		{"timeout negative", func(c *Config) { call(c).Timeout = Duration(-time.Second) }, "routes[1].aggregate.calls[1].timeout", "between 0"},
		{"timeout too long", func(c *Config) { call(c).Timeout = Duration(time.Hour) }, "routes[1].aggregate.calls[1].timeout", "between 0"},
		{"rewrite", func(c *Config) { c.Routes[1].Rewrite = "/x" }, "routes[1].rewrite", "not allowed with aggregate"},
		{"strip_path", func(c *Config) { c.Routes[1].StripPath = true }, "routes[1].strip_path", "not allowed with aggregate"},
		{"mirror", func(c *Config) { c.Routes[1].Mirror = &Mirror{Service: "users"} }, "routes[1].mirror", "not allowed with aggregate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := aggregateConfig()
			tt.mutate(c)
			ve := asValidationError(t, c.Validate())
			if !hasError(ve.Errors, tt.path, tt.msg) {
				t.Fatalf("errors %v, want %s: ...%s...", ve.Errors, tt.path, tt.msg)
			}
		})
	}
}

func TestAggregateDecodeRoundTrip(t *testing.T) {
	doc := `
services:
  - {name: users, url: "http://10.0.0.1:9001"}
  - {name: orders, url: "http://10.0.0.2:9001"}
routes:
  - name: dashboard
    paths: ["/v1/dashboard/{id}"]
    aggregate:
      on_error: partial
      calls:
        - {name: user, service: users, path: "/users/{id}", timeout: 300ms, required: true}
        - {name: orders, service: orders, path: "/orders?user={id}&by={consumer}", method: POST}
`
	cfg, err := Decode([]byte(doc), "application/yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	want := aggregateConfig()
	want.Routes = want.Routes[1:]
	if !reflect.DeepEqual(cfg.Routes, want.Routes) {
		t.Fatalf("decoded %+v, want %+v", cfg.Routes[0].Aggregate, want.Routes[0].Aggregate)
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	again, err := Decode(b, "application/json")
	if err != nil {
		t.Fatal(err)
	}
	assertSameConfig(t, again, cfg)
}

func TestAggregateDecodeUnknownFieldPath(t *testing.T) {
	doc := `{"routes":[{"name":"r","aggregate":{"calls":[{"name":"a","service":"s","path":"/","retries":2}]}}]}`
	_, err := Decode([]byte(doc), "application/json")
	ve := asValidationError(t, err)
	if !hasError(ve.Errors, "routes[0].aggregate.calls[0].retries", "unknown field") {
		t.Fatalf("errors %v", ve.Errors)
	}
}
