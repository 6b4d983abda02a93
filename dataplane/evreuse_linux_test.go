//go:build linux

package dataplane

import (
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/store"
)

// TestEpollReusedRequestCarriesNothingOver: the loop parses each request
// of a connection into the same parsedRequest and header map. Pipelined
// requests with different fields, hosts and paths each reach the
// upstream with their own and nothing left from the one before.
func TestEpollReusedRequestCarriesNothingOver(t *testing.T) {
	up := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var names []string
		for name := range r.Header {
			if strings.HasPrefix(name, "X-T-") {
				names = append(names, name+"="+strings.Join(r.Header[name], ","))
			}
		}
		slices.Sort(names)
		fmt.Fprintf(w, "%s %s %s %s", r.Header.Get("X-Forwarded-Host"), r.URL.RequestURI(), r.Header.Get("Cache-Control"), strings.Join(names, ";"))
	}))
	gw := startEpoll(t, oneRoute(1, up.URL, store.Route{Paths: []string{"/"}}), Options{})
	reqs := []struct{ raw, want string }{
		{"GET /a?q=1 HTTP/1.1\r\nHost: one.test\r\nX-T-A: 1\r\nX-T-B: 2\r\nX-T-B: 3\r\nPragma: no-cache\r\n\r\n",
			"one.test /a?q=1 no-cache X-T-A=1;X-T-B=2,3"},
		{"GET /b HTTP/1.1\r\nHost: two.test\r\nX-T-C: 4\r\n\r\n", "two.test /b  X-T-C=4"},
		{"GET /c HTTP/1.1\r\nHost: three.test\r\n\r\n", "three.test /c  "},
		{"GET http://four.test/d HTTP/1.1\r\nHost: ignored.test\r\nX-T-A: 5\r\n\r\n", "four.test /d  X-T-A=5"},
	}
	cc := confDial(t, gw.addr)
	for round := range 3 {
		var all strings.Builder
		for _, r := range reqs {
			all.WriteString(r.raw)
		}
		if err := cc.write(all.String()); err != nil {
			t.Fatal(err)
		}
		for i, r := range reqs {
			resp, body, err := cc.read("GET")
			if err != nil || resp.StatusCode != 200 || body != r.want {
				t.Fatalf("round %d request %d: %v %q, want 200 %q", round, i, err, body, r.want)
			}
		}
	}
	if served, handedOff, _ := gw.loopCounts(); served < 12 || handedOff != 0 {
		t.Errorf("served %d on the loops, handed off %d: want 12 and 0", served, handedOff)
	}
}

// TestParsedRequestDropsAGrownHeaderMap: a request with many fields does
// not leave its grown map to every later request of the connection.
func TestParsedRequestDropsAGrownHeaderMap(t *testing.T) {
	var many strings.Builder
	many.WriteString("GET / HTTP/1.1\r\nHost: a\r\n")
	for i := range maxReusedFields + 1 {
		fmt.Fprintf(&many, "X-F%d: v\r\n", i)
	}
	many.WriteString("\r\n")
	small := "GET /b HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n\r\n"
	var p parsedRequest
	if _, _, ok := parseRequestInto([]byte(small), 1<<16, &p, false); !ok {
		t.Fatal("small request refused")
	}
	kept := p.header
	if req, _, ok := parseRequestInto([]byte(small), 1<<16, &p, false); !ok || req.Header.Get("X-A") != "1" || len(req.Header) != 1 {
		t.Fatalf("second small request: %v %v", ok, p.header)
	}
	if reflect.ValueOf(p.header).UnsafePointer() != reflect.ValueOf(kept).UnsafePointer() {
		t.Error("a small header map was not reused")
	}
	if _, _, ok := parseRequestInto([]byte(many.String()), 1<<16, &p, false); !ok || len(p.header) != maxReusedFields+1 {
		t.Fatalf("large request: %v, %d fields", ok, len(p.header))
	}
	grown := p.header
	if req, _, ok := parseRequestInto([]byte(small), 1<<16, &p, false); !ok || len(req.Header) != 1 {
		t.Fatalf("small request after the large one: %v %v", ok, p.header)
	}
	if reflect.ValueOf(p.header).UnsafePointer() == reflect.ValueOf(grown).UnsafePointer() {
		t.Error("the grown header map was reused")
	}
}
