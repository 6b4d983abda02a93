package dataplane

import (
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"

	"github.com/tollgate/tollgate/store"
)

func TestHeaderTransforms(t *testing.T) {
	tests := []struct {
		name string
		tr   store.HeaderTransform
		in   http.Header
		want http.Header
	}{
		{"remove", store.HeaderTransform{Remove: []string{"x-internal", "Cookie"}},
			http.Header{"X-Internal": {"1"}, "Cookie": {"a=b"}, "Keep": {"k"}}, http.Header{"Keep": {"k"}}},
		{"remove missing", store.HeaderTransform{Remove: []string{"X-None"}},
			http.Header{"Keep": {"k"}}, http.Header{"Keep": {"k"}}},
		{"rename", store.HeaderTransform{Rename: map[string]string{"x-old": "X-New"}},
			http.Header{"X-Old": {"1", "2"}}, http.Header{"X-New": {"1", "2"}}},
		{"rename onto existing appends", store.HeaderTransform{Rename: map[string]string{"X-Old": "X-New"}},
			http.Header{"X-Old": {"1"}, "X-New": {"0"}}, http.Header{"X-New": {"0", "1"}}},
		{"rename missing", store.HeaderTransform{Rename: map[string]string{"X-Old": "X-New"}},
			http.Header{}, http.Header{}},
		{"set replaces", store.HeaderTransform{Set: map[string]string{"x-env": "prod"}},
			http.Header{"X-Env": {"dev", "test"}}, http.Header{"X-Env": {"prod"}}},
		{"add appends", store.HeaderTransform{Add: map[string]string{"Via-Gw": "tollgate"}},
			http.Header{"Via-Gw": {"edge"}}, http.Header{"Via-Gw": {"edge", "tollgate"}}},
		{"order: remove, rename, set, add", store.HeaderTransform{
			Remove: []string{"A"}, Rename: map[string]string{"B": "A"}, Set: map[string]string{"A": "set"}, Add: map[string]string{"A": "added"},
		}, http.Header{"A": {"a"}, "B": {"b"}}, http.Header{"A": {"set", "added"}}},
		{"variables", store.HeaderTransform{Set: map[string]string{
			"X-Id": "{request_id}", "X-Who": "{consumer}@{client_ip}", "X-Req": "{method} {host}{path}",
			"X-Route": "{route}/{service}", "X-Product": "p-{id}", "X-Brace": "{{literal}",
		}}, http.Header{}, http.Header{
			"X-Id": {"rid-1"}, "X-Who": {"alice@192.0.2.1"}, "X-Req": {"GET gw.test/v1/products/42"},
			"X-Route": {"r0/svc"}, "X-Product": {"p-42"}, "X-Brace": {"{literal}"},
		}},
		{"capture control characters dropped", store.HeaderTransform{Set: map[string]string{"X-Product": "{id}"}},
			http.Header{}, http.Header{"X-Product": {"42"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rt := store.Route{Paths: []string{"/v1/products/{id}"}, RequestHeaders: &tt.tr}
			rc := transformContext(t, rt, "/v1/products/42")
			if tt.name == "capture control characters dropped" {
				rc = transformContext(t, rt, "/v1/products/4%0D%0A2")
			}
			h := tt.in.Clone()
			ops, err := compileHeaderOps(&tt.tr)
			if err != nil {
				t.Fatal(err)
			}
			ops.apply(h, rc)
			if !reflect.DeepEqual(h, tt.want) {
				t.Errorf("headers %v, want %v", h, tt.want)
			}
		})
	}
}

// transformContext is a RequestContext for path that matched rt.
func transformContext(t *testing.T, rt store.Route, path string) *RequestContext {
	t.Helper()
	r, err := compile(routerConfig(rt))
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest("GET", "http://gw.test"+path, nil)
	req.RemoteAddr = "192.0.2.1:5555"
	cr := r.route(req)
	if cr == nil {
		t.Fatalf("%s did not match", path)
	}
	return &RequestContext{Request: req, RequestID: "rid-1", Consumer: "alice", route: cr, path: req.URL.Path}
}

func TestTransformsThroughGateway(t *testing.T) {
	checkTransforms(t, func(cfg *store.Config) *testGateway { return startGateway(t, cfg, Options{}) })
}

// checkTransforms checks request and response transforms, on gateway
// errors too, through a gateway that start starts.
func checkTransforms(t *testing.T, start func(*store.Config) *testGateway) *testGateway {
	t.Helper()
	echo := newEcho(t)
	cfg := &store.Config{
		Version:  1,
		Services: []store.Service{{Name: "svc", URL: echo.URL}, {Name: "down", URL: "http://" + freePort(t)}},
		Routes: []store.Route{
			{Name: "v1", Service: "svc", Paths: []string{"/v1/"},
				RequestHeaders: &store.HeaderTransform{Set: map[string]string{"X-Request-Ref": "{request_id}"}, Remove: []string{"X-Secret"}},
				ResponseHeaders: &store.HeaderTransform{Set: map[string]string{
					"Deprecation": "true", "Sunset": "Wed, 11 Nov 2026 23:59:59 GMT",
				}, Remove: []string{"Content-Type"}}},
			{Name: "v2", Service: "svc", Paths: []string{"/v2/"}},
			{Name: "v1-down", Service: "down", Paths: []string{"/v1/down"},
				ResponseHeaders: &store.HeaderTransform{Set: map[string]string{"Deprecation": "true"}}},
		},
	}
	gw := start(cfg)

	resp, body := gw.get(t, "/v1/orders", "X-Secret", "s3cret")
	got := decodeSeen(t, body)
	if got.Header.Get("X-Secret") != "" || got.Header.Get("X-Request-Ref") != resp.Header.Get(headerRequestID) {
		t.Errorf("upstream headers %v", got.Header)
	}
	if resp.Header.Get("Deprecation") != "true" || resp.Header.Get("Sunset") == "" || resp.Header.Get("Content-Type") != "" {
		t.Errorf("v1 response headers %v", resp.Header)
	}
	resp, _ = gw.get(t, "/v2/orders")
	if resp.Header.Get("Deprecation") != "" {
		t.Errorf("v2 got Deprecation")
	}
	resp, body = gw.get(t, "/v1/down")
	checkGatewayError(t, resp, body, http.StatusBadGateway, "upstream_unavailable")
	if resp.Header.Get("Deprecation") != "true" {
		t.Errorf("gateway error on a v1 route lacks Deprecation: %v", resp.Header)
	}
	return gw
}

// recordingPolicy records the consumer the transform sees.
type consumerPolicy string

func (c consumerPolicy) Wrap(next Handler) Handler {
	return func(rc *RequestContext) {
		rc.Consumer = string(c)
		next(rc)
	}
}

func TestPoliciesRunBeforeTransforms(t *testing.T) {
	echo := newEcho(t)
	cfg := oneRoute(1, echo.URL, store.Route{RequestHeaders: &store.HeaderTransform{Set: map[string]string{"X-Consumer": "{consumer}"}}})
	gw := startGateway(t, cfg, Options{Policies: func(*store.Config, *store.Route) ([]Policy, error) {
		return []Policy{consumerPolicy("bob")}, nil
	}})
	_, body := gw.get(t, "/")
	if got := decodeSeen(t, body).Header.Get("X-Consumer"); got != "bob" {
		t.Errorf("X-Consumer = %q, want the consumer an earlier policy set", got)
	}
}
