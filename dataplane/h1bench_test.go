package dataplane

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"
)

// BenchmarkH1Client compares the h1Client with the http.Transport it
// replaces (its fallback), on their own against a loopback upstream:
// GETs and POSTs with bodies of known length that the h1Client writes
// synchronously.
func BenchmarkH1Client(b *testing.B) {
	up := benchUpstream(b)
	tc := transportCache{maxIdlePerHost: 256, idleTimeout: time.Minute}
	key := transportKey{scheme: "http", connectTimeout: time.Second, readTimeout: time.Minute}
	h1 := tc.newTransport(key, nil).(*h1Client)
	b.Cleanup(h1.CloseIdleConnections)
	clients := []struct {
		name string
		rt   http.RoundTripper
	}{{"h1", h1}, {"transport", h1.fallback}}
	for _, size := range []int{0, 1 << 10, 32 << 10} {
		body := make([]byte, size)
		for _, c := range clients {
			name := "GET/" + c.name
			if size > 0 {
				name = fmt.Sprintf("POST%dKiB/%s", size>>10, c.name)
			}
			b.Run(name, func(b *testing.B) { benchRoundTrip(b, c.rt, up+"/item", body) })
		}
	}
}

// benchRoundTrip sends requests with body (a GET if empty) from parallel
// goroutines through rt.
func benchRoundTrip(b *testing.B, rt http.RoundTripper, url string, body []byte) {
	b.ReportAllocs()
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		rd := bytes.NewReader(body)
		for pb.Next() {
			req, _ := http.NewRequest(http.MethodGet, url, nil)
			if len(body) > 0 {
				rd.Reset(body)
				req.Method, req.Body, req.ContentLength = http.MethodPost, io.NopCloser(rd), int64(len(body))
			}
			resp, err := rt.RoundTrip(req)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}
