package dataplane

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/store"
)

// post sends body (of unknown length when chunked is set) to url.
func post(t *testing.T, c *http.Client, url string, body []byte, chunked bool) (*http.Response, []byte) {
	t.Helper()
	var r io.Reader = bytes.NewReader(body)
	if chunked {
		r = io.MultiReader(r) // hides the length
	}
	req, _ := http.NewRequest("POST", url, r)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp, data
}

func TestBodyLimit(t *testing.T) {
	up := newBodyRecorder(t, "ok")
	cfg := &store.Config{
		Version:  1,
		Services: []store.Service{{Name: "svc", URL: up.url}},
		Routes: []store.Route{
			{Name: "small", Service: "svc", Paths: []string{"/small"}, MaxBodyBytes: 1000},
			{Name: "default", Service: "svc", Paths: []string{"/default"}},
		},
	}
	gw := startGateway(t, cfg, Options{MaxRequestBodyBytes: 64 << 10})
	tests := []struct {
		name    string
		path    string
		size    int
		chunked bool
		want    int
	}{
		{"route limit, known length, under", "/small", 1000, false, 200},
		{"route limit, known length, over", "/small", 1001, false, 413},
		{"route limit, chunked, under", "/small", 1000, true, 200},
		{"route limit, chunked, over", "/small", 5000, true, 413},
		{"gateway limit, known length, over", "/default", 64<<10 + 1, false, 413},
		{"gateway limit, chunked, over", "/default", 200 << 10, true, 413},
		{"gateway limit, chunked, under", "/default", 64 << 10, true, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := up.count.Load()
			resp, body := post(t, gw.client, gw.url+tt.path, bytes.Repeat([]byte("x"), tt.size), tt.chunked)
			if tt.want == 413 {
				checkGatewayError(t, resp, body, http.StatusRequestEntityTooLarge, "body_too_large")
				if up.count.Load() != before {
					t.Error("the upstream got the whole oversized body")
				}
				return
			}
			if resp.StatusCode != tt.want || string(body) != "ok" {
				t.Errorf("status %d %q, want %d", resp.StatusCode, body, tt.want)
			}
		})
	}
}

func TestHeaderLimit(t *testing.T) {
	echo := newEcho(t)
	gw := startGateway(t, oneRoute(1, echo.URL, store.Route{}), Options{MaxHeaderBytes: 4 << 10})
	resp, body := gw.get(t, "/", "X-Big", strings.Repeat("a", 5<<10))
	checkGatewayError(t, resp, body, http.StatusRequestHeaderFieldsTooLarge, "headers_too_large")
	resp, body = gw.get(t, "/", "X-Ok", strings.Repeat("a", 3<<10))
	if resp.StatusCode != 200 {
		t.Errorf("headers under the limit: %d %s", resp.StatusCode, body)
	}
	// Far beyond the limit net/http refuses the request itself.
	resp, _ = gw.get(t, "/", "X-Huge", strings.Repeat("a", 16<<10))
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("huge headers: %d", resp.StatusCode)
	}
}

func TestHeaderLimitDefault(t *testing.T) {
	echo := newEcho(t)
	gw := startGateway(t, oneRoute(1, echo.URL, store.Route{}), Options{})
	var hdr []string
	for i := range 70 {
		hdr = append(hdr, fmt.Sprintf("X-H%d", i), strings.Repeat("v", 1000))
	}
	resp, body := gw.get(t, "/", hdr...)
	checkGatewayError(t, resp, body, http.StatusRequestHeaderFieldsTooLarge, "headers_too_large")
}
