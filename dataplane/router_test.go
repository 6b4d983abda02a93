package dataplane

import (
	"errors"
	"fmt"
	"net/url"
	"testing"

	"github.com/tollgate/tollgate/store"
)

// routerConfig builds a config whose routes all use one service.
func routerConfig(routes ...store.Route) *store.Config {
	cfg := &store.Config{Services: []store.Service{{Name: "svc", URL: "http://127.0.0.1:1"}}}
	for i, r := range routes {
		if r.Name == "" {
			r.Name = fmt.Sprintf("r%d", i)
		}
		r.Service = "svc"
		cfg.Routes = append(cfg.Routes, r)
	}
	return cfg
}

func TestRouterMatch(t *testing.T) {
	routes := []store.Route{
		{Name: "orders", Paths: []string{"/v1/orders"}},
		{Name: "orders-post", Paths: []string{"/v1/orders"}, Methods: []string{"POST", "PUT"}},
		{Name: "v1-dir", Paths: []string{"/v1/"}},
		{Name: "root", Paths: []string{"/"}},
		{Name: "api-host", Hosts: []string{"API.example.com"}, Paths: []string{"/"}},
		{Name: "api-host-orders", Hosts: []string{"api.example.com"}, Paths: []string{"/v1/orders/"}},
		{Name: "wild", Hosts: []string{"*.example.com"}, Paths: []string{"/w"}},
		{Name: "wild-deep", Hosts: []string{"*.deep.example.com"}},
		{Name: "only-host", Hosts: []string{"nopath.test"}},
		{Name: "ipv6", Hosts: []string{"::1"}, Paths: []string{"/six"}},
		{Name: "tie-a", Paths: []string{"/tie"}},
		{Name: "tie-b", Paths: []string{"/tie"}},
	}
	r, err := compile(routerConfig(routes...))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, method, host, path string
		want, prefix             string
	}{
		{"exact prefix", "GET", "x.test", "/v1/orders", "orders", "/v1/orders"},
		{"prefix boundary", "GET", "x.test", "/v1/orders/7", "orders", "/v1/orders"},
		{"prefix trailing slash", "GET", "x.test", "/v1/orders/", "orders", "/v1/orders"},
		{"not a segment boundary", "GET", "x.test", "/v1/ordersX", "v1-dir", "/v1/"},
		{"slash prefix matches under it", "GET", "x.test", "/v1/anything/else", "v1-dir", "/v1/"},
		{"slash prefix needs the slash", "GET", "x.test", "/v1", "root", "/"},
		{"root catches all", "GET", "x.test", "/zzz", "root", "/"},
		{"methods beat no methods", "POST", "x.test", "/v1/orders/7", "orders-post", "/v1/orders"},
		{"method not listed", "DELETE", "x.test", "/v1/orders", "orders", "/v1/orders"},
		{"unknown method", "PROPFIND", "x.test", "/v1/orders", "orders", "/v1/orders"},
		{"host beats longer host-less prefix", "GET", "api.example.com", "/v1/orders", "api-host", "/"},
		{"host case and port", "GET", "Api.Example.COM:8443", "/v1/orders/1", "api-host-orders", "/v1/orders/"},
		{"host trailing dot", "GET", "api.example.com.", "/x", "api-host", "/"},
		{"exact beats wildcard", "GET", "api.example.com", "/w", "api-host", "/"},
		{"wildcard", "GET", "shop.example.com", "/w/1", "wild", "/w"},
		{"wildcard any depth", "GET", "a.b.example.com:80", "/w", "wild", "/w"},
		{"longer wildcard first", "GET", "x.deep.example.com", "/w", "wild-deep", ""},
		{"wildcard is not the apex", "GET", "example.com", "/w", "root", "/"},
		{"wildcard falls back to host-less", "GET", "shop.example.com", "/other", "root", "/"},
		{"route without paths", "GET", "nopath.test", "/any/thing", "only-host", ""},
		{"ipv6 literal", "GET", "[::1]:8080", "/six/x", "ipv6", "/six"},
		{"ties by config order", "GET", "x.test", "/tie", "tie-a", "/tie"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cr := r.match(tt.method, tt.host, tt.path)
			if cr == nil {
				t.Fatalf("match(%s %s%s) = nil, want %s", tt.method, tt.host, tt.path, tt.want)
			}
			if cr.name != tt.want || cr.prefix != tt.prefix {
				t.Errorf("match(%s %s%s) = %s %q, want %s %q", tt.method, tt.host, tt.path, cr.name, cr.prefix, tt.want, tt.prefix)
			}
		})
	}
}

func TestRouterNoMatch(t *testing.T) {
	r, err := compile(routerConfig(
		store.Route{Paths: []string{"/v1/orders"}},
		store.Route{Hosts: []string{"api.test"}, Paths: []string{"/"}, Methods: []string{"GET"}},
	))
	if err != nil {
		t.Fatal(err)
	}
	for _, req := range [][3]string{
		{"GET", "x.test", "/"},
		{"GET", "x.test", "/v1/ordersX"},
		{"GET", "x.test", "/v1"},
		{"POST", "api.test", "/"},
		{"GET", "sub.api.test", "/"},
		{"GET", "x.test", ""},
	} {
		if cr := r.match(req[0], req[1], req[2]); cr != nil {
			t.Errorf("match(%v) = %s, want nil", req, cr.name)
		}
	}
	empty, err := compile(&store.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if cr := empty.match("GET", "x", "/"); cr != nil {
		t.Errorf("empty router matched %s", cr.name)
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  *store.Config
	}{
		{"nil", nil},
		{"unknown service", &store.Config{Routes: []store.Route{{Name: "r", Service: "nope"}}}},
		{"bad url", &store.Config{Services: []store.Service{{Name: "s", URL: "ftp://x"}}}},
		{"bad path", routerConfig(store.Route{Paths: []string{"v1"}})},
		{"bad host", routerConfig(store.Route{Hosts: []string{"a.*.com"}})},
		{"empty host", routerConfig(store.Route{Hosts: []string{""}})},
		{"bad method", routerConfig(store.Route{Methods: []string{"get"}})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := compile(tt.cfg); !errors.Is(err, ErrInvalidConfig) {
				t.Errorf("compile error = %v, want ErrInvalidConfig", err)
			}
		})
	}
}

func TestTargetURL(t *testing.T) {
	tests := []struct {
		name, service, prefix string
		strip                 bool
		path, query, want     string
	}{
		{"plain", "http://u", "/api", false, "/api/x", "a=1", "http://u/api/x?a=1"},
		{"strip", "http://u", "/api", true, "/api/x", "", "http://u/x"},
		{"strip all", "http://u", "/api", true, "/api", "", "http://u/"},
		{"strip slash prefix", "http://u", "/api/", true, "/api/x/y", "", "http://u/x/y"},
		{"base path", "http://u/base", "/api", false, "/api/x", "", "http://u/base/api/x"},
		{"base path strip all", "http://u/base/", "/api", true, "/api", "", "http://u/base/"},
		{"base path strip", "http://u/base/", "/api", true, "/api/x", "", "http://u/base/x"},
		{"base query", "http://u/b?k=v", "/", false, "/x", "a=1", "http://u/b/x?k=v&a=1"},
		{"escaped", "http://u/b", "/api", true, "/api/a%2Fb", "", "http://u/b/a%2Fb"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up, err := newUpstream(&store.Service{Name: "s", URL: tt.service})
			if err != nil {
				t.Fatal(err)
			}
			in := mustURL(t, "http://gw"+tt.path+"?"+tt.query)
			if tt.query == "" {
				in.RawQuery = ""
			}
			got := new(url.URL)
			up.fillTarget(got, in, tt.prefix, tt.strip)
			got.Host = "u" // each attempt sets its target's
			if got := got.String(); got != tt.want {
				t.Errorf("target = %s, want %s", got, tt.want)
			}
		})
	}
}
