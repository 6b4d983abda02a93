package dataplane

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/tollgate/tollgate/store"
)

// benchPayload is a small JSON body, like the one make bench serves.
const benchPayload = `{"id":1,"name":"tollgate","items":[1,2,3],"ok":true,"n":42}`

// BenchmarkProxyPath measures a request through a real gateway listener
// (route match, request id, JSON access log to io.Discard, proxy) to a
// loopback upstream; BenchmarkProxyPathDirect is the same client against
// the upstream alone, the baseline to compare with. Profile with
// -cpuprofile to see where the gateway's time goes.
func BenchmarkProxyPath(b *testing.B) {
	benchGET(b, benchGateway(b)+"/item")
}

func BenchmarkProxyPathDirect(b *testing.B) {
	benchGET(b, benchUpstream(b)+"/item")
}

// BenchmarkProxyPathPOST and BenchmarkProxyPathPOSTDirect are the same
// with a 1 KiB request body of known length.
func BenchmarkProxyPathPOST(b *testing.B) {
	benchSend(b, benchGateway(b)+"/item", make([]byte, 1<<10))
}

func BenchmarkProxyPathPOSTDirect(b *testing.B) {
	benchSend(b, benchUpstream(b)+"/item", make([]byte, 1<<10))
}

// benchGateway serves a gateway with one route to a bench upstream and
// returns its URL.
func benchGateway(b *testing.B) string {
	up := benchUpstream(b)
	cfg := &store.Config{
		Version:  1,
		Services: []store.Service{{Name: "up", URL: up}},
		Routes:   []store.Route{{Name: "item", Service: "up", Paths: []string{"/item"}}},
	}
	g := New(Options{Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))})
	if err := g.Update(cfg); err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go g.Serve(ln)
	b.Cleanup(func() { g.Shutdown(context.Background()) })
	return "http://" + ln.Addr().String()
}

func benchUpstream(b *testing.B) string {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, benchPayload)
	}))
	b.Cleanup(s.Close)
	return s.URL
}

// benchGET sends GETs to url from parallel keep-alive clients.
func benchGET(b *testing.B, url string) { benchSend(b, url, nil) }

// BenchGET is benchGET for the external test package's benchmarks
// (dataplane_test, which may import packages that import dataplane).
func BenchGET(b *testing.B, url string) { benchGET(b, url) }

// benchSend sends GETs, or POSTs of body if it is not empty, to url from
// parallel keep-alive clients.
func benchSend(b *testing.B, url string, body []byte) {
	tr := &http.Transport{MaxIdleConnsPerHost: 256, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	b.ReportAllocs()
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		rd := bytes.NewReader(body)
		for pb.Next() {
			req, _ := http.NewRequest(http.MethodGet, url, nil)
			if len(body) > 0 {
				rd.Reset(body)
				req.Method, req.Body, req.ContentLength = http.MethodPost, io.NopCloser(rd), int64(len(body))
			}
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
}
