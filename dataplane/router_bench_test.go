package dataplane

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/tollgate/tollgate/store"
)

// benchRouter builds n routes in the shapes real configs have: a tenth
// host-less, the rest on 100 hosts, some with methods, some wildcard, one
// in ten a regex or template path, one in twenty exact, some with header
// matchers. The requests are those of up to 256 routes picked over the
// whole list by a stride coprime with its length, so that the lookups
// reach routes written late as often as early ones, and every shape.
func benchRouter(b *testing.B, n int) (*router, []benchReq) {
	routes := make([]store.Route, 0, n)
	all := make([]benchReq, 0, n)
	for i := range n {
		r := store.Route{Paths: []string{fmt.Sprintf("/api/v%d/resource%d", i%7, i)}}
		reqPath := r.Paths[0] + "/items/42"
		var hdr http.Header
		switch i % 20 {
		case 3:
			r.Paths = []string{fmt.Sprintf("~/api/v%d/things%d/(?<id>[0-9]+)/items", i%7, i)}
			reqPath = fmt.Sprintf("/api/v%d/things%d/42/items", i%7, i)
		case 7:
			r.Paths = []string{fmt.Sprintf("/api/v%d/products%d/{id}", i%7, i)}
			reqPath = fmt.Sprintf("/api/v%d/products%d/42", i%7, i)
		case 11:
			r.Paths = []string{fmt.Sprintf("=/api/v%d/health%d", i%7, i)}
			reqPath = r.Paths[0][1:]
		case 13:
			r.Headers = map[string][]string{"X-Tenant": {"a", "b"}}
			hdr = http.Header{"Accept": {"*/*"}, "X-Tenant": {"b"}}
		}
		host := fmt.Sprintf("svc%d.example.com", i%100)
		switch {
		case i%10 == 0:
		case i%10 == 1:
			r.Hosts = []string{fmt.Sprintf("*.tenant%d.example.net", i%100)}
			host = fmt.Sprintf("a.tenant%d.example.net", i%100)
		default:
			r.Hosts = []string{host}
		}
		if i%3 == 0 {
			r.Methods = []string{"GET", "POST"}
		}
		routes = append(routes, r)
		all = append(all, benchReq{host + ":8080", request{method: methodGet, path: reqPath, header: hdr}})
	}
	reqs := make([]benchReq, min(n, 256))
	for k := range reqs {
		reqs[k] = all[k*7919%n] // 7919 is prime and divides none of 10, 1,000, 10,000
	}
	rt, err := compile(routerConfig(routes...))
	if err != nil {
		b.Fatal(err)
	}
	return rt, reqs
}

// benchReq is one request of the benchmark.
type benchReq struct {
	host string
	req  request
}

func BenchmarkRouterMatch(b *testing.B) {
	for _, n := range []int{10, 1000, 10000} {
		b.Run(fmt.Sprintf("routes=%d", n), func(b *testing.B) {
			rt, reqs := benchRouter(b, n)
			for _, q := range reqs {
				if cr := rt.matchRequest(&q.req, q.host); cr == nil {
					b.Fatalf("no match for %s%s", q.host, q.req.path)
				}
			}
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				q := &reqs[i%len(reqs)]
				if rt.matchRequest(&q.req, q.host) == nil {
					b.Fatal("no match")
				}
			}
		})
	}
}
