package dataplane_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tollgate/tollgate/dataplane"
	"github.com/tollgate/tollgate/internal/accesslog"
	"github.com/tollgate/tollgate/internal/metrics"
	"github.com/tollgate/tollgate/store"
)

// BenchmarkProxyPathObserved is BenchmarkProxyPath with everything the
// agent turns on: Prometheus request metrics, the asynchronous JSON
// access log (to io.Discard) and traces sampled. Compare it with
// BenchmarkProxyPath in the same run.
func BenchmarkProxyPathObserved(b *testing.B) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id":1,"name":"tollgate","items":[1,2,3],"ok":true,"n":42}`)
	}))
	b.Cleanup(up.Close)
	cfg := &store.Config{
		Version:  1,
		Services: []store.Service{{Name: "up", URL: up.URL}},
		Routes:   []store.Route{{Name: "item", Service: "up", Paths: []string{"/item"}}},
	}
	log := accesslog.NewJSON(io.Discard, accesslog.Options{Sample: 1})
	g := dataplane.New(dataplane.Options{AccessLog: log, Metrics: metrics.NewDataPlane(prometheus.NewRegistry()), TraceSample: 1,
		Logger: slog.New(slog.DiscardHandler)})
	if err := g.Update(cfg); err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go g.Serve(ln)
	b.Cleanup(func() {
		g.Shutdown(context.Background())
		log.Close()
		if log.Dropped() != 0 {
			b.Logf("access log dropped %d records", log.Dropped())
		}
	})
	dataplane.BenchGET(b, "http://"+ln.Addr().String()+"/item")
}

// BenchmarkServeLocalObserved is BenchmarkServeLocal with the agent's
// observability: Prometheus metrics, the asynchronous access log, traces.
func BenchmarkServeLocalObserved(b *testing.B) {
	log := accesslog.NewJSON(io.Discard, accesslog.Options{Sample: 1})
	defer log.Close()
	dataplane.BenchServeLocal(b, dataplane.Options{AccessLog: log, Metrics: metrics.NewDataPlane(prometheus.NewRegistry()),
		TraceSample: 1, Logger: slog.New(slog.DiscardHandler)})
}
