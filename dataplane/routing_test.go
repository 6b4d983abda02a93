package dataplane

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/tollgate/tollgate/store"
)

func TestRouterPathKindsMatchersAndPriority(t *testing.T) {
	routes := []store.Route{
		{Name: "v1", Paths: []string{"/v1"}},
		{Name: "health", Paths: []string{"=/v1/health"}},
		{Name: "items", Paths: []string{"~/v1/items/(?<id>[0-9]+)$"}},
		{Name: "products", Paths: []string{"/v1/products/{id}"}},
		{Name: "api", Paths: []string{"/api"}},
		{Name: "api-v2", Paths: []string{"/api"}, Headers: map[string][]string{"X-Version": {"2", "3"}}},
		{Name: "api-debug", Paths: []string{"/api"}, Headers: map[string][]string{"x-debug": nil}, Methods: []string{"GET"}},
		{Name: "api-beta", Paths: []string{"/api"}, Query: map[string][]string{"beta": {"1", "yes please"}}},
		{Name: "api-flag", Paths: []string{"/api"}, Query: map[string][]string{"flag": nil}},
		{Name: "host", Hosts: []string{"shop.test"}, Paths: []string{"/"}},
		{Name: "boosted", Paths: []string{"/boost"}, Priority: 10},
		{Name: "boosted-long", Paths: []string{"/boost/long"}},
		{Name: "regex-prio", Paths: []string{"~/p/.*"}, Priority: 5},
		{Name: "exact-p", Paths: []string{"=/p/x"}},
		{Name: "fallback", Paths: []string{"/"}, Priority: -1},
		{Name: "catchall", Paths: []string{"/"}},
		{Name: "shop-prio", Hosts: []string{"shop.test"}, Paths: []string{"/sale"}, Priority: 1},
		{Name: "anyhost-prio", Paths: []string{"/sale"}, Priority: 2},
		{Name: "r-plain", Paths: []string{"~/r/[0-9]+"}},
		{Name: "r-header", Paths: []string{"~/r/[0-9]+"}, Headers: map[string][]string{"X-Canary": {"1"}}},
		{Name: "t-plain", Paths: []string{"/t/{id}"}},
		{Name: "t-method", Paths: []string{"/t/{id}"}, Methods: []string{"DELETE"}},
	}
	r, err := compile(routerConfig(routes...))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, method, host, path string
		header                   http.Header
		query                    string
		want                     string
	}{
		{"prefix", "GET", "x", "/v1/other", nil, "", "v1"},
		{"exact beats prefix", "GET", "x", "/v1/health", nil, "", "health"},
		{"exact is exact", "GET", "x", "/v1/health/deep", nil, "", "v1"},
		{"regex beats prefix", "GET", "x", "/v1/items/42", nil, "", "items"},
		{"regex anchored by $", "GET", "x", "/v1/items/42/x", nil, "", "v1"},
		{"regex mismatch", "GET", "x", "/v1/items/abc", nil, "", "v1"},
		{"template", "GET", "x", "/v1/products/7", nil, "", "products"},
		{"template one segment", "GET", "x", "/v1/products/7/reviews", nil, "", "v1"},
		{"header value", "GET", "x", "/api/x", http.Header{"X-Version": {"3"}}, "", "api-v2"},
		{"header other value", "GET", "x", "/api/x", http.Header{"X-Version": {"4"}}, "", "api"},
		{"header presence and method", "GET", "x", "/api", http.Header{"X-Debug": {""}}, "", "api-debug"},
		{"header presence wrong method", "POST", "x", "/api", http.Header{"X-Debug": {"1"}}, "", "api"},
		{"more matchers first", "GET", "x", "/api", http.Header{"X-Debug": {"1"}, "X-Version": {"2"}}, "", "api-debug"},
		{"query value", "GET", "x", "/api", nil, "a=b&beta=1", "api-beta"},
		{"query escaped value", "GET", "x", "/api", nil, "beta=yes+please", "api-beta"},
		{"query escaped key", "GET", "x", "/api", nil, "be%74a=1", "api-beta"},
		{"query other value", "GET", "x", "/api", nil, "beta=2", "api"},
		{"query presence", "GET", "x", "/api", nil, "flag", "api-flag"},
		{"host first", "GET", "shop.test", "/v1/other", nil, "", "host"},
		{"priority beats longer prefix", "GET", "x", "/boost/long/x", nil, "", "boosted"},
		{"priority regex beats exact", "GET", "x", "/p/x", nil, "", "regex-prio"},
		{"priority beats host", "GET", "shop.test", "/sale", nil, "", "anyhost-prio"},
		{"negative priority last", "GET", "x", "/zzz", nil, "", "catchall"},
		{"regex with more matchers first", "GET", "x", "/r/1", http.Header{"X-Canary": {"1"}}, "", "r-header"},
		{"regex matcher unmet", "GET", "x", "/r/1", http.Header{"X-Canary": {"0"}}, "", "r-plain"},
		{"template with more matchers first", "DELETE", "x", "/t/9", nil, "", "t-method"},
		{"template matcher unmet", "GET", "x", "/t/9", nil, "", "t-plain"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := request{method: methodBit(tt.method), path: tt.path, header: tt.header, rawQuery: tt.query}
			cr := r.matchRequest(&q, tt.host)
			if cr == nil || cr.name != tt.want {
				got := "<nil>"
				if cr != nil {
					got = cr.name
				}
				t.Errorf("%s %s%s?%s %v = %s, want %s", tt.method, tt.host, tt.path, tt.query, tt.header, got, tt.want)
			}
		})
	}
}

func TestTargetURLRewriteAndStrip(t *testing.T) {
	tests := []struct {
		name    string
		route   store.Route
		service string
		in      string
		want    string
	}{
		{"rewrite with capture", store.Route{Paths: []string{"/v1/products/{id}"}, Rewrite: "/api/catalog/product?id={id}"},
			"http://u", "/v1/products/42", "/api/catalog/product?id=42"},
		{"rewrite keeps the query", store.Route{Paths: []string{"/v1/products/{id}"}, Rewrite: "/api/catalog/product?id={id}"},
			"http://u/base", "/v1/products/42?x=1", "/base/api/catalog/product?id=42&x=1"},
		{"rewrite escapes", store.Route{Paths: []string{"~/s/(?<q>.+)"}, Rewrite: "/search/{q}?q={q}"},
			"http://u", "/s/a%20b&c", "/search/a%20b&c?q=a+b%26c"},
		{"rewrite path only", store.Route{Paths: []string{"~/old/(?<rest>.*)"}, Rewrite: "/new/{rest}"},
			"http://u", "/old/a/b?k=v", "/new/a/b?k=v"},
		{"rewrite variables", store.Route{Paths: []string{"/x"}, Rewrite: "/{method}/{route}"},
			"http://u", "/x", "/GET/r0"},
		{"strip exact", store.Route{Paths: []string{"=/health"}, StripPath: true}, "http://u/base", "/health?a=1", "/base?a=1"},
		{"strip regex", store.Route{Paths: []string{"~/v[0-9]+"}, StripPath: true}, "http://u", "/v12/users/7", "/users/7"},
		{"strip regex mid-segment", store.Route{Paths: []string{"~/ab"}, StripPath: true}, "http://u", "/abc", "/c"},
		{"strip template", store.Route{Paths: []string{"/t/{id}"}, StripPath: true}, "http://u", "/t/9", "/"},
		{"no strip", store.Route{Paths: []string{"~/v[0-9]+"}}, "http://u", "/v2/x", "/v2/x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := routerConfig(tt.route)
			cfg.Services[0].URL = tt.service
			r, err := compile(cfg)
			if err != nil {
				t.Fatal(err)
			}
			req := httptest.NewRequest("GET", tt.in, nil)
			rc := &RequestContext{Request: req, route: r.route(req), path: req.URL.Path}
			if rc.route == nil {
				t.Fatalf("%s did not match", tt.in)
			}
			if got := rc.targetURL().RequestURI(); got != tt.want {
				t.Errorf("upstream URI %q, want %q", got, tt.want)
			}
		})
	}
}

func TestRewriteThroughGateway(t *testing.T) {
	echo := newEcho(t)
	gw := startGateway(t, oneRoute(1, echo.URL, store.Route{
		Paths: []string{"/v1/products/{id}"}, Rewrite: "/api/catalog/product?id={id}",
	}), Options{})
	resp, body := gw.get(t, "/v1/products/123")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if got := decodeSeen(t, body).URI; got != "/api/catalog/product?id=123" {
		t.Errorf("upstream saw %q", got)
	}
	resp, body = gw.get(t, "/v1/products/123/x")
	checkGatewayError(t, resp, body, http.StatusNotFound, "no_route")
}

func TestMatchRoute(t *testing.T) {
	gw := New(Options{Logger: slog.New(slog.DiscardHandler)})
	if _, _, ok := gw.MatchRoute("GET", "x", "/"); ok {
		t.Error("matched without a config")
	}
	if err := gw.Update(routerConfig(store.Route{Name: "beta", Paths: []string{"/b"}, Query: map[string][]string{"beta": nil}})); err != nil {
		t.Fatal(err)
	}
	if r, s, ok := gw.MatchRoute("GET", "x", "/b/1?beta=1"); !ok || r != "beta" || s != "svc" {
		t.Errorf("MatchRoute = %q %q %v", r, s, ok)
	}
	if _, _, ok := gw.MatchRoute("GET", "x", "/b/1"); ok {
		t.Error("matched without the query parameter")
	}
}
