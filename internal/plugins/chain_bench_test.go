package plugins

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tollgate/tollgate/dataplane"
	"github.com/tollgate/tollgate/limiter"
	"github.com/tollgate/tollgate/store"
)

// BenchmarkChainPath measures a request through a real gateway listener
// on a route behind jwt (HS256, verified-token cache) and a rate limit far
// above the load; BenchmarkBarePath is a plain route of the same gateway,
// the baseline. Issue 4's target: the chain costs at most 15% of the bare
// route's throughput. Profile with -cpuprofile.
func BenchmarkChainPath(b *testing.B) {
	url := chainGateway(b)
	benchGET(b, url+"/chain", "Bearer "+chainToken(b))
}

func BenchmarkBarePath(b *testing.B) {
	benchGET(b, chainGateway(b)+"/bare", "")
}

const chainSecret = "bench-secret-bench-secret-bench-secret"

func chainToken(b *testing.B) string {
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "bench", "exp": time.Now().Add(time.Hour).Unix()})
	tok.Header["kid"] = "bench-kid"
	s, err := tok.SignedString([]byte(chainSecret))
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// chainGateway serves a gateway with /bare and /chain routes to one
// upstream and returns its URL.
func chainGateway(b *testing.B) string {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id":1,"name":"tollgate","items":[1,2,3],"ok":true,"n":42}`)
	}))
	b.Cleanup(up.Close)
	cfg := &store.Config{
		Version:  1,
		Services: []store.Service{{Name: "up", URL: up.URL}},
		Routes: []store.Route{{Name: "bare", Service: "up", Paths: []string{"/bare"}},
			{Name: "chain", Service: "up", Paths: []string{"/chain"}}},
		Consumers: []store.Consumer{{Username: "bench", Credentials: store.ConsumerCredentials{
			JWT: []store.JWTCredential{{Key: "bench-kid", Algorithm: "HS256", Secret: chainSecret}}}}},
		Plugins: []store.Plugin{{Name: "jwt", Route: "chain"},
			{Name: "rate-limit", Route: "chain", Config: json.RawMessage(`{"limit":100000000,"window":"second","key":["consumer"]}`)}},
	}
	lim, err := limiter.New(limiter.Options{NodeID: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(lim.Close)
	chains, err := (&Builder{Limiter: lim}).Build(cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { chains.Close() })
	g := dataplane.New(dataplane.Options{Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)),
		Policies: func(_ *store.Config, r *store.Route) ([]dataplane.Policy, error) { return chains.For(r.Name), nil }})
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

// benchGET sends GETs with an optional Authorization header from
// parallel keep-alive clients, and fails on any status but 200.
func benchGET(b *testing.B, url, authorization string) {
	tr := &http.Transport{MaxIdleConnsPerHost: 256, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	b.ReportAllocs()
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest(http.MethodGet, url, nil)
			if authorization != "" {
				req.Header.Set("Authorization", authorization)
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
