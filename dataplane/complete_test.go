package dataplane

import (
	"io"
	"net/http"
	"testing"

	"github.com/tollgate/tollgate/store"
)

// brokenUpstream answers the start of a body, framed as the path says
// (/length: Content-Length, /chunked: chunked), then drops the connection.
func brokenUpstream(t *testing.T) string {
	return newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		framing := "Content-Length: 100\r\n\r\nhello"
		if r.URL.Path == "/chunked" {
			framing = "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"
		}
		_, _ = brw.WriteString("HTTP/1.1 200 OK\r\n" + framing)
		_ = brw.Flush()
	})).URL
}

func TestResponseComplete(t *testing.T) {
	whole := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/chunked" {
			w.(http.Flusher).Flush() // no Content-Length: chunked
		}
		_, _ = io.WriteString(w, "hello")
	})).URL
	cfg := &store.Config{
		Version: 1,
		Services: []store.Service{{Name: "whole", URL: whole}, {Name: "broken", URL: brokenUpstream(t)},
			{Name: "down", URL: "http://" + freePort(t)}},
		Routes: []store.Route{
			{Name: "whole", Service: "whole", Paths: []string{"/whole"}, StripPath: true},
			{Name: "broken", Service: "broken", Paths: []string{"/broken"}, StripPath: true},
			{Name: "down", Service: "down", Paths: []string{"/down"}},
			{Name: "rejected", Service: "whole", Paths: []string{"/rejected"}},
		},
	}
	seen := make(chan bool, 1)
	record := policyOf(func(rc *RequestContext, next Handler) {
		next(rc)
		seen <- rc.ResponseComplete()
	})
	reject := policyOf(func(rc *RequestContext, _ Handler) { rc.Reject(http.StatusForbidden, "forbidden", "no") })
	policies := func(_ *store.Config, r *store.Route) ([]Policy, error) {
		if r.Name == "rejected" {
			return []Policy{record, reject}, nil
		}
		return []Policy{record}, nil
	}
	gw := startGateway(t, cfg, Options{Policies: policies})
	// A fresh connection per request: the client would resend a GET whose
	// reused connection closed before any answer.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	for _, tc := range []struct {
		path string
		want bool
	}{
		{"/whole/length", true},
		{"/whole/chunked", true},
		{"/broken/length", false},
		{"/broken/chunked", false},
		{"/down", true},     // the gateway's own 502
		{"/rejected", true}, // a policy's Reject
	} {
		t.Run(tc.path, func(t *testing.T) {
			_, _, _ = fetch(client, gw.url+tc.path) // a broken body is an error
			if got := recv(t, seen, "the policy's verdict"); got != tc.want {
				t.Errorf("ResponseComplete() = %v, want %v", got, tc.want)
			}
		})
	}
}
