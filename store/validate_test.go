package store

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestValidateValid(t *testing.T) {
	cert, key := selfSignedPair(t, "api.example.com")
	tests := []struct {
		name string
		cfg  *Config
	}{
		{"empty", &Config{}},
		{"basic", validConfig("a")},
		{"full", fullExpected()},
		{"with certificate", func() *Config {
			c := validConfig("a")
			c.Certificates = []Certificate{{Name: "api", Cert: cert, Key: key, SNIs: []string{"api.example.com"}}}
			return c
		}()},
		{"hosts and methods", &Config{
			Services: []Service{{Name: "s", URL: "https://[::1]:8443/x"}},
			Routes: []Route{{Name: "r", Service: "s",
				Hosts:   []string{"example.com", "*.example.com", "localhost:8080", "xn--bcher-kva.example"},
				Paths:   []string{"/", "/a/b"},
				Methods: []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"},
			}},
		}},
		{"same name across kinds", &Config{
			Services:  []Service{{Name: "x", URL: "http://x"}},
			Routes:    []Route{{Name: "x", Service: "x"}},
			Consumers: []Consumer{{Username: "x"}},
			Plugins:   []Plugin{{Name: "key-auth", Route: "x", Service: "x"}, {Name: "key-auth"}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.cfg.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
		})
	}
}

func TestValidateRules(t *testing.T) {
	cert, key := selfSignedPair(t, "a.example.com")
	otherCert, _ := selfSignedPair(t, "b.example.com")

	tests := []struct {
		name   string
		mutate func(c *Config)
		want   []FieldError // exact, in order
	}{
		// services
		{"service name missing", func(c *Config) { c.Services[1].Name = "" },
			[]FieldError{{"services[1].name", "is required"}, {"routes[1].service", `unknown service "orders"`}}},
		{"service name duplicate", func(c *Config) { c.Services[1].Name = "users" },
			[]FieldError{{"services[1].name", `duplicate name "users"`}, {"routes[1].service", `unknown service "orders"`}}},
		{"service url missing", func(c *Config) { c.Services[0].URL = "" },
			[]FieldError{{"services[0].url", "is required"}}},
		{"service url scheme", func(c *Config) { c.Services[0].URL = "ftp://files.internal" },
			[]FieldError{{"services[0].url", `scheme must be http or https, not "ftp"`}}},
		{"service url without scheme", func(c *Config) { c.Services[0].URL = "127.0.0.1:9001" },
			[]FieldError{{"services[0].url", "invalid URL"}}},
		{"service url host:port only", func(c *Config) { c.Services[0].URL = "localhost:9001" },
			[]FieldError{{"services[0].url", `scheme must be http or https, not "localhost"`}, {"services[0].url", "must include a host"}}},
		{"service url no host", func(c *Config) { c.Services[0].URL = "http:///path" },
			[]FieldError{{"services[0].url", "must include a host"}}},
		{"service url unparsable", func(c *Config) { c.Services[0].URL = "http://a b" },
			[]FieldError{{"services[0].url", "invalid URL"}}},
		{"negative timeouts", func(c *Config) {
			c.Services[0].Timeout = Duration(-time.Second)
			c.Services[1].ConnectTimeout = -1
		}, []FieldError{{"services[0].timeout", "must not be negative"}, {"services[1].connect_timeout", "must not be negative"}}},

		// routes
		{"route name missing", func(c *Config) { c.Routes[0].Name = "" },
			[]FieldError{{"routes[0].name", "is required"}}},
		{"route name duplicate", func(c *Config) { c.Routes[0].Name = "orders" },
			[]FieldError{{"routes[1].name", `duplicate name "orders"`}}},
		{"route service missing", func(c *Config) { c.Routes[0].Service = "" },
			[]FieldError{{"routes[0].service", "is required"}}},
		{"route service unknown", func(c *Config) { c.Routes[0].Service = "x" },
			[]FieldError{{"routes[0].service", `unknown service "x"`}}},
		{"route host with slash", func(c *Config) { c.Routes[0].Hosts = []string{"ok.com", "a/b"} },
			[]FieldError{{"routes[0].hosts[1]", `invalid host "a/b"`}}},
		{"route host with space", func(c *Config) { c.Routes[0].Hosts = []string{"a b"} },
			[]FieldError{{"routes[0].hosts[0]", `invalid host "a b"`}}},
		{"route host wildcard without dot", func(c *Config) { c.Routes[0].Hosts = []string{"*foo.com"} },
			[]FieldError{{"routes[0].hosts[0]", `invalid host "*foo.com"`}}},
		{"route host inner wildcard", func(c *Config) { c.Routes[0].Hosts = []string{"foo.*.com"} },
			[]FieldError{{"routes[0].hosts[0]", `invalid host "foo.*.com"`}}},
		{"route host trailing wildcard", func(c *Config) { c.Routes[0].Hosts = []string{"foo.*"} },
			[]FieldError{{"routes[0].hosts[0]", `invalid host "foo.*"`}}},
		{"route host bare wildcard", func(c *Config) { c.Routes[0].Hosts = []string{"*"} },
			[]FieldError{{"routes[0].hosts[0]", `invalid host "*"`}}},
		{"route host double wildcard", func(c *Config) { c.Routes[0].Hosts = []string{"*.*.com"} },
			[]FieldError{{"routes[0].hosts[0]", `invalid host "*.*.com"`}}},
		{"route host empty", func(c *Config) { c.Routes[0].Hosts = []string{""} },
			[]FieldError{{"routes[0].hosts[0]", `invalid host ""`}}},
		{"route path relative", func(c *Config) { c.Routes[1].Paths = []string{"/ok", "orders", ""} },
			[]FieldError{{"routes[1].paths[1]", "must start with /"}, {"routes[1].paths[2]", "must start with /"}}},
		{"route method lower case", func(c *Config) { c.Routes[0].Methods = []string{"get"} },
			[]FieldError{{"routes[0].methods[0]", `unknown method "get" (methods are upper case)`}}},
		{"route method mixed case and unknown", func(c *Config) { c.Routes[0].Methods = []string{"GET", "Post", "FETCH"} },
			[]FieldError{{"routes[0].methods[1]", `unknown method "Post"`}, {"routes[0].methods[2]", `unknown method "FETCH"`}}},

		// consumers
		{"consumer username missing", func(c *Config) { c.Consumers = append(c.Consumers, Consumer{}) },
			[]FieldError{{"consumers[1].username", "is required"}}},
		{"consumer username duplicate", func(c *Config) { c.Consumers = append(c.Consumers, Consumer{Username: "alice"}) },
			[]FieldError{{"consumers[1].username", `duplicate username "alice"`}}},

		// plugins
		{"plugin name missing", func(c *Config) { c.Plugins[1].Name = "" },
			[]FieldError{{"plugins[1].name", "is required"}}},
		{"plugin unknown route", func(c *Config) { c.Plugins[0].Route = "nope" },
			[]FieldError{{"plugins[0].route", `unknown route "nope"`}}},
		{"plugin unknown service", func(c *Config) { c.Plugins[1].Service = "nope" },
			[]FieldError{{"plugins[1].service", `unknown service "nope"`}}},
		{"plugin unknown route and service", func(c *Config) { c.Plugins[1].Route, c.Plugins[1].Service = "r", "s" },
			[]FieldError{{"plugins[1].route", `unknown route "r"`}, {"plugins[1].service", `unknown service "s"`}}},

		// certificates
		{"certificate name missing", func(c *Config) {
			c.Certificates = []Certificate{{Cert: cert, Key: key}}
		}, []FieldError{{"certificates[0].name", "is required"}}},
		{"certificate name duplicate", func(c *Config) {
			c.Certificates = []Certificate{{Name: "c", Cert: cert, Key: key}, {Name: "c", Cert: cert, Key: key}}
		}, []FieldError{{"certificates[1].name", `duplicate name "c"`}}},
		{"certificate key does not match", func(c *Config) {
			c.Certificates = []Certificate{{Name: "c", Cert: otherCert, Key: key}}
		}, []FieldError{{"certificates[0].cert", "invalid certificate and key pair"}}},
		{"certificate garbage", func(c *Config) {
			c.Certificates = []Certificate{{Name: "c", Cert: "not a cert", Key: "not a key"}}
		}, []FieldError{{"certificates[0].cert", "invalid certificate and key pair"}}},
		{"certificate key missing", func(c *Config) {
			c.Certificates = []Certificate{{Name: "c", Cert: cert}}
		}, []FieldError{{"certificates[0].cert", "invalid certificate and key pair"}}},
		{"certificate and key swapped", func(c *Config) {
			c.Certificates = []Certificate{{Name: "c", Cert: key, Key: cert}}
		}, []FieldError{{"certificates[0].cert", "invalid certificate and key pair"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := validConfig("a")
			tt.mutate(cfg)
			err := cfg.Validate()
			ve := asValidationError(t, err)
			if len(ve.Errors) != len(tt.want) {
				t.Fatalf("errors = %v, want %v", ve.Errors, tt.want)
			}
			for i, w := range tt.want {
				g := ve.Errors[i]
				if g.Path != w.Path || !strings.Contains(g.Message, w.Message) {
					t.Errorf("error %d = %q, want %s: ...%s...", i, g, w.Path, w.Message)
				}
			}
		})
	}
}

func TestValidateUnknownServiceMessage(t *testing.T) {
	cfg := &Config{Routes: []Route{{Name: "r", Service: "x"}}}
	err := cfg.Validate()
	if err == nil || err.Error() != `invalid config: routes[0].service: unknown service "x"` {
		t.Fatalf("Validate = %v", err)
	}
}

func TestValidateReportsEveryError(t *testing.T) {
	cfg := &Config{
		Services: []Service{
			{Name: "a", URL: "ftp://x"},
			{Name: "a", URL: "http://ok"},
			{URL: "http://ok"},
		},
		Routes: []Route{
			{Name: "r", Service: "x", Hosts: []string{"a/b", "*foo.com"}, Paths: []string{"p"}, Methods: []string{"get"}},
			{Name: "r"},
		},
		Consumers:    []Consumer{{Username: "u"}, {Username: "u"}, {}},
		Plugins:      []Plugin{{Route: "nope", Service: "nope", Config: json.RawMessage(`{}`)}},
		Certificates: []Certificate{{Name: "c"}, {Name: "c"}},
	}
	err := cfg.Validate()
	ve := asValidationError(t, err)
	want := []string{
		"services[0].url", "services[1].name", "services[2].name",
		"routes[0].service", "routes[0].hosts[0]", "routes[0].hosts[1]", "routes[0].paths[0]", "routes[0].methods[0]",
		"routes[1].name", "routes[1].service",
		"consumers[1].username", "consumers[2].username",
		"plugins[0].name", "plugins[0].route", "plugins[0].service",
		"certificates[0].cert", "certificates[1].name", "certificates[1].cert",
	}
	var got []string
	for _, fe := range ve.Errors {
		got = append(got, fe.Path)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("paths =\n%q\nwant\n%q", got, want)
	}
	for _, p := range want {
		if !strings.Contains(err.Error(), p+": ") {
			t.Errorf("Error() does not name %s: %s", p, err)
		}
	}
}

func TestConfigServiceLookup(t *testing.T) {
	cfg := validConfig("a")
	if s := cfg.Service("orders"); s == nil || s.URL != "https://orders.internal/base" {
		t.Fatalf("Service(orders) = %+v", s)
	}
	if s := cfg.Service("missing"); s != nil {
		t.Fatalf("Service(missing) = %+v, want nil", s)
	}
}
