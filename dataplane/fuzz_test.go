package dataplane

import (
	"testing"

	"github.com/tollgate/tollgate/store"
)

// FuzzRouteMatch compiles a config with every kind of route and matches
// arbitrary requests against it: no input may panic, and a match must
// name a route of the config.
func FuzzRouteMatch(f *testing.F) {
	cfg := &store.Config{
		Services: []store.Service{{Name: "s", URL: "http://127.0.0.1:1"}},
		Routes: []store.Route{
			{Name: "prefix", Service: "s", Paths: []string{"/api"}, Methods: []string{"GET"}},
			{Name: "exact", Service: "s", Paths: []string{"=/health"}},
			{Name: "template", Service: "s", Paths: []string{"/v1/products/{id}"}},
			{Name: "regex", Service: "s", Paths: []string{`~/v2/items/(?<id>[0-9]+)$`}},
			{Name: "host", Service: "s", Hosts: []string{"api.example.com", "*.example.org"}},
			{Name: "any", Service: "s"},
		},
	}
	if err := cfg.Validate(); err != nil {
		f.Fatal(err)
	}
	g := New(Options{})
	if err := g.Update(cfg); err != nil {
		f.Fatal(err)
	}
	names := map[string]bool{}
	for _, r := range cfg.Routes {
		names[r.Name] = true
	}
	f.Add("GET", "api.example.com", "/api/x?y=1")
	f.Add("POST", "a.b.example.org:8080", "/v1/products/7")
	f.Add("GET", "[::1]:80", "/v2/items/42")
	f.Add("", "", "")
	f.Add("GET", "EXAMPLE.ORG.", "//..%2f/health")
	f.Fuzz(func(t *testing.T, method, host, path string) {
		route, service, ok := g.MatchRoute(method, host, path)
		if ok && (!names[route] || service != "s") {
			t.Fatalf("MatchRoute(%q, %q, %q) = %q, %q", method, host, path, route, service)
		}
	})
}
