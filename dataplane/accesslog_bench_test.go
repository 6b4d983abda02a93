package dataplane

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/store"
)

// BenchmarkServeLocal is the gateway's own work per request, without the
// network: ServeHTTP on one goroutine, the upstream a RoundTripper that
// answers at once, the access log JSON to io.Discard. Network and HTTP
// parsing dominate BenchmarkProxyPath and make it noisy on a shared
// machine; this shows what changes in the gateway cost in nanoseconds.
func BenchmarkServeLocal(b *testing.B) {
	BenchServeLocal(b, Options{Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))})
}

// BenchServeLocal runs ServeHTTP b.N times on a gateway made with opts
// (exported for the external benchmarks in observe_bench_test.go).
func BenchServeLocal(b *testing.B, opts Options) {
	g := New(opts)
	cfg := &store.Config{
		Version:  1,
		Services: []store.Service{{Name: "up", URL: "http://upstream.invalid"}},
		Routes:   []store.Route{{Name: "item", Service: "up", Paths: []string{"/item"}}},
	}
	if err := g.Update(cfg); err != nil {
		b.Fatal(err)
	}
	g.snap.Load().router.services[0].transport = instantUpstream{}
	r := httptest.NewRequest(http.MethodGet, "http://gw/item", nil)
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		clear(w.h)
		g.ServeHTTP(w, r)
	}
}

// instantUpstream answers every request with the benchmark payload.
type instantUpstream struct{}

func (instantUpstream) RoundTrip(*http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: http.StatusOK, ContentLength: int64(len(benchPayload)),
		Header: http.Header{"Content-Type": {"application/json"}},
		Body:   io.NopCloser(strings.NewReader(benchPayload))}, nil
}

// discardWriter is a ResponseWriter that keeps only its headers.
type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(int)             {}
