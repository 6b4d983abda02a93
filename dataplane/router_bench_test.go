package dataplane

import (
	"fmt"
	"testing"

	"github.com/tollgate/tollgate/store"
)

// benchRouter builds n routes in the shapes real configs have: a tenth
// host-less, the rest on 100 hosts, some with methods, some wildcard.
func benchRouter(b *testing.B, n int) (*router, [][3]string) {
	routes := make([]store.Route, 0, n)
	reqs := make([][3]string, 0, 256)
	for i := range n {
		r := store.Route{Paths: []string{fmt.Sprintf("/api/v%d/resource%d", i%7, i)}}
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
		if len(reqs) < cap(reqs) {
			reqs = append(reqs, [3]string{"GET", host + ":8080", r.Paths[0] + "/items/42"})
		}
	}
	rt, err := compile(routerConfig(routes...))
	if err != nil {
		b.Fatal(err)
	}
	return rt, reqs
}

func BenchmarkRouterMatch(b *testing.B) {
	for _, n := range []int{10, 1000, 10000} {
		b.Run(fmt.Sprintf("routes=%d", n), func(b *testing.B) {
			rt, reqs := benchRouter(b, n)
			for _, q := range reqs {
				if rt.match(q[0], q[1], q[2]) == nil {
					b.Fatalf("no match for %v", q)
				}
			}
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				q := &reqs[i%len(reqs)]
				if rt.match(q[0], q[1], q[2]) == nil {
					b.Fatal("no match")
				}
			}
		})
	}
}
