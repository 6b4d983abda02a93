package shape_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tollgate/tollgate/dataplane"
	"github.com/tollgate/tollgate/internal/plugins"
	"github.com/tollgate/tollgate/store"
)

const product = `{"id":7,"name":"lamp","price":{"amount":25,"currency":"EUR"},"images":[{"url":"/1.png","w":10}],"internal":{"cost":3}}`

// upstream serves the bodies the tests shape, and remembers the last
// Accept-Encoding it was sent.
func upstream(t *testing.T, acceptEncoding *atomic.Value) *httptest.Server {
	big := `{"pad":"` + strings.Repeat("x", 600) + `","internal":1}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		acceptEncoding.Store(r.Header.Get("Accept-Encoding"))
		h := w.Header()
		h.Set("Content-Type", "application/json; charset=utf-8")
		switch r.URL.Path {
		case "/product":
			h.Set("Etag", `"v1"`)
			h.Set("Content-Length", strconv.Itoa(len(product)))
			_, _ = io.WriteString(w, product)
		case "/list":
			_, _ = io.WriteString(w, `[{"id":1,"internal":2},{"id":3}]`)
		case "/text":
			h.Set("Content-Type", "text/plain")
			_, _ = io.WriteString(w, `{"internal":1}`)
		case "/big": // over max_body_bytes, declared
			_, _ = io.WriteString(w, big)
		case "/stream": // over max_body_bytes, found out while buffering
			_, _ = io.WriteString(w, big[:300])
			w.(http.Flusher).Flush()
			_, _ = io.WriteString(w, big[300:])
		case "/missing":
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, `{"internal":1}`)
		case "/gzip":
			h.Set("Content-Encoding", "gzip")
			_, _ = io.WriteString(w, "not really gzip")
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func keyHash(key string) string {
	sum := sha256.Sum256([]byte(key))
	return "sha256:" + hex.EncodeToString(sum[:])
}

const configYAML = `
services: [{name: api, url: "%s"}]
routes:
  - {name: keyed, service: api, paths: ["/k"], strip_path: true}
  - {name: open, service: api, paths: ["/o"], strip_path: true}
  - {name: dash, paths: ["=/dash"], aggregate: {calls: [{name: product, service: api, path: /product}, {name: list, service: api, path: /list}]}}
consumers:
  - {username: alice, groups: [staff, mobile], credentials: {key_auth: [{key_id: a, key_hash: "%s"}]}}
  - {username: bob, groups: [web], credentials: {key_auth: [{key_id: b, key_hash: "%s"}]}}
  - {username: carol, groups: [admin], credentials: {key_auth: [{key_id: c, key_hash: "%s"}]}}
plugins:
  - {name: key-auth, route: keyed}
  - name: response-shape
    config:
      exclude: [internal, images.w]
      max_body_bytes: 512
      groups:
        mobile: {include: [id, name, price.amount]}
        admin: {}
  - {name: response-shape, route: dash, config: {include: [product.name, list.id]}}
`

// startGateway serves a gateway with the test config, its policies built
// by the plugins builder as the agent does.
func startGateway(t *testing.T, upstreamURL string) string {
	t.Helper()
	doc := fmt.Sprintf(configYAML, upstreamURL, keyHash("key-alice"), keyHash("key-bob"), keyHash("key-carol"))
	cfg, err := store.Decode([]byte(doc), "application/yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	chains, err := (&plugins.Builder{}).Build(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = chains.Close() })
	g := dataplane.New(dataplane.Options{Logger: slog.New(slog.DiscardHandler),
		Policies: func(_ *store.Config, r *store.Route) ([]dataplane.Policy, error) { return chains.For(r.Name), nil }})
	if err := g.Update(cfg); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(g)
	t.Cleanup(func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = g.Shutdown(ctx)
	})
	return srv.URL
}

func get(t *testing.T, url, apiKey string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept-Encoding", "gzip")
	if apiKey != "" {
		req.Header.Set("apikey", apiKey)
	}
	tr := &http.Transport{DisableCompression: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

func TestShapeThroughGateway(t *testing.T) {
	var ae atomic.Value
	gw := startGateway(t, upstream(t, &ae).URL)
	const excluded = `{"id":7,"name":"lamp","price":{"amount":25,"currency":"EUR"},"images":[{"url":"/1.png"}]}`
	tests := []struct {
		name, path, key string
		status          int
		want            string
	}{
		{"group rule (first group with one)", "/k/product", "key-alice", 200, `{"id":7,"name":"lamp","price":{"amount":25}}`},
		{"consumer without a group rule gets the default", "/k/product", "key-bob", 200, excluded},
		{"empty group rule leaves the answer alone", "/k/product", "key-carol", 200, product},
		{"anonymous gets the default", "/o/product", "", 200, excluded},
		{"top-level array", "/o/list", "", 200, `[{"id":1},{"id":3}]`},
		{"non-JSON passes through", "/o/text", "", 200, `{"internal":1}`},
		{"non-2xx passes through", "/o/missing", "", 404, `{"internal":1}`},
		{"oversized declared passes through", "/o/big", "", 200, `{"pad":"` + strings.Repeat("x", 600) + `","internal":1}`},
		{"oversized stream passes through", "/o/stream", "", 200, `{"pad":"` + strings.Repeat("x", 600) + `","internal":1}`},
		{"encoded passes through", "/o/gzip", "", 200, "not really gzip"},
		{"aggregate answer shaped per route", "/dash", "", 200, `{"product":{"name":"lamp"},"list":[{"id":1},{"id":3}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := get(t, gw+tt.path, tt.key)
			if resp.StatusCode != tt.status || strings.TrimSpace(body) != tt.want {
				t.Fatalf("status %d, body %s\nwant %d %s", resp.StatusCode, body, tt.status, tt.want)
			}
			if cl := resp.Header.Get("Content-Length"); cl != "" && cl != strconv.Itoa(len(body)) {
				t.Errorf("Content-Length %s for a body of %d bytes", cl, len(body))
			}
		})
	}

	resp, _ := get(t, gw+"/k/product", "key-alice")
	if resp.Header.Get("Etag") != "" || resp.Header.Get("Content-Length") == "" {
		t.Errorf("shaped answer headers: %v", resp.Header)
	}
	if got := ae.Load(); got != "" {
		t.Errorf("upstream got Accept-Encoding %q on a shaped route, want none", got)
	}
	resp, _ = get(t, gw+"/k/product", "key-carol")
	if resp.Header.Get("Etag") != `"v1"` {
		t.Errorf("unshaped answer lost its ETag: %v", resp.Header)
	}
}
