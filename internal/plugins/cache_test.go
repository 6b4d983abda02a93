package plugins

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tollgate/tollgate/dataplane"
	"github.com/tollgate/tollgate/internal/cache"
	"github.com/tollgate/tollgate/store"
)

// versions builds each config version's chains once, as the agent does,
// and closes a version's chains when the next one replaces it.
type versions struct {
	b      *Builder
	mu     sync.Mutex
	cfg    *store.Config
	chains *Chains
}

func (v *versions) policies(cfg *store.Config, r *store.Route) ([]dataplane.Policy, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.cfg != cfg {
		chains, err := v.b.Build(cfg)
		if err != nil {
			return nil, err
		}
		if v.chains != nil {
			_ = v.chains.Close()
		}
		v.cfg, v.chains = cfg, chains
	}
	return v.chains.For(r.Name), nil
}

// cacheGateway serves a gateway whose chains the Builder builds.
func cacheGateway(t *testing.T, b *Builder) (*dataplane.Gateway, string) {
	t.Helper()
	v := &versions{b: b}
	g := dataplane.New(dataplane.Options{Logger: slog.New(slog.DiscardHandler), Policies: v.policies})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- g.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := g.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
		v.mu.Lock()
		defer v.mu.Unlock()
		if v.chains != nil {
			_ = v.chains.Close()
		}
	})
	return g, "http://" + ln.Addr().String()
}

// fetch GETs url with an apikey (when not empty) and returns X-Cache and
// the body.
func fetch(t *testing.T, url, apikey string) (string, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if apikey != "" {
		req.Header.Set("apikey", apikey)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, body)
	}
	return resp.Header.Get("X-Cache"), string(body)
}

// cacheDoc is a config with one route to upstream, key-auth and a cache
// keyed by consumer on it, and the consumers alice and bob.
func cacheDoc(version uint64, upstream, cacheConfig string) *store.Config {
	consumer := func(name string) store.Consumer {
		return store.Consumer{Username: name, Credentials: store.ConsumerCredentials{
			KeyAuth: []store.KeyAuthCredential{{KeyID: "k", KeyHash: store.HashAPIKey(name + "-key")}}}}
	}
	return &store.Config{
		Version:   version,
		Services:  []store.Service{{Name: "svc", URL: upstream}},
		Routes:    []store.Route{{Name: "r", Service: "svc", Paths: []string{"/"}}},
		Consumers: []store.Consumer{consumer("alice"), consumer("bob")},
		Plugins: []store.Plugin{
			{Name: store.PluginCache, Route: "r", Config: json.RawMessage(cacheConfig)},
			{Name: store.PluginKeyAuth, Route: "r"},
		},
	}
}

// TestCacheKeyedByConsumerThroughBuilder: the cache runs after key-auth,
// so a key naming the consumer keeps each consumer's responses apart.
func TestCacheKeyedByConsumerThroughBuilder(t *testing.T) {
	var calls atomic.Int64
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Cache-Control", "public, max-age=60")
		fmt.Fprintf(w, "profile of %s", r.Header.Get("X-Consumer"))
	}))
	defer up.Close()
	g, url := cacheGateway(t, &Builder{})
	if err := g.Update(cacheDoc(1, up.URL, `{"key":["consumer"]}`)); err != nil {
		t.Fatal(err)
	}
	for _, step := range []struct{ who, xcache string }{
		{"alice", cache.StatusMiss}, {"bob", cache.StatusMiss}, {"alice", cache.StatusHit}, {"bob", cache.StatusHit},
	} {
		xc, body := fetch(t, url+"/me", step.who+"-key")
		if xc != step.xcache || body != "profile of "+step.who {
			t.Fatalf("%s: X-Cache %q, body %q", step.who, xc, body)
		}
	}
	if n := calls.Load(); n != 2 {
		t.Fatalf("upstream calls = %d, want 2", n)
	}
}

// TestCacheSurvivesConfigChange: a new config version keeps the stored
// responses; removing the plugin drops its store.
func TestCacheSurvivesConfigChange(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=60")
		fmt.Fprint(w, "ok")
	}))
	defer up.Close()
	reg := cache.NewRegistry()
	g, url := cacheGateway(t, &Builder{Caches: reg})
	if err := g.Update(cacheDoc(1, up.URL, `{"key":["consumer"]}`)); err != nil {
		t.Fatal(err)
	}
	if xc, _ := fetch(t, url+"/x", "alice-key"); xc != cache.StatusMiss {
		t.Fatalf("first: %q", xc)
	}
	v2 := cacheDoc(2, up.URL, `{"key":["consumer"],"memory_bytes":1048576}`)
	v2.Routes = append(v2.Routes, store.Route{Name: "other", Service: "svc", Paths: []string{"/other"}})
	if err := g.Update(v2); err != nil {
		t.Fatal(err)
	}
	if xc, _ := fetch(t, url+"/x", "alice-key"); xc != cache.StatusHit {
		t.Fatalf("after a config change: X-Cache %q, want HIT", xc)
	}
	if st := reg.Store("cache@route:r").Stats(); st.Limit != 1048576 || st.Entries != 1 {
		t.Fatalf("store after the change: %+v", st)
	}
	if n := reg.PurgeRoute("r"); n != 1 {
		t.Fatalf("PurgeRoute = %d", n)
	}
	v3 := cacheDoc(3, up.URL, `{}`)
	v3.Plugins = v3.Plugins[1:] // no cache any more
	if err := g.Update(v3); err != nil {
		t.Fatal(err)
	}
	if ids := reg.IDs(); len(ids) != 0 {
		t.Fatalf("stores kept for removed plugins: %v", ids)
	}
}

func TestCachePhaseAndConfigErrors(t *testing.T) {
	cfg := &store.Config{Plugins: []store.Plugin{
		{Name: store.PluginCache}, {Name: store.PluginRateLimit}, {Name: store.PluginKeyAuth},
	}}
	got := Applicable(cfg, &store.Route{Name: "r"})
	if got[0].Name != store.PluginKeyAuth || got[1].Name != store.PluginRateLimit || got[2].Name != store.PluginCache {
		t.Fatalf("order %v: the cache must run after auth and rate limits", got)
	}
	b := &Builder{}
	_, err := b.Build(&store.Config{Routes: []store.Route{{Name: "r"}}, Plugins: []store.Plugin{
		{Name: store.PluginCache, Config: json.RawMessage(`{"ttl":"forever"}`)},
	}})
	if err == nil {
		t.Fatal("an invalid cache config was built")
	}
}
