package dataplane

import (
	"context"
	"errors"
	"fmt"
	"github.com/tollgate/tollgate/internal/waitfor"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/tollgate/tollgate/store"
)

// newNamed starts an upstream that answers its name.
func newNamed(t *testing.T, name string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, name)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// fetch does one GET and returns status and body, or an error.
func fetch(client *http.Client, url string) (int, string, error) {
	resp, err := client.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

// swapConfig routes /slow to the slow upstream and everything else to url.
func swapConfig(version uint64, slowURL, url string) *store.Config {
	return &store.Config{
		Version:  version,
		Services: []store.Service{{Name: "slow", URL: slowURL}, {Name: "fast", URL: url}},
		Routes: []store.Route{
			{Name: "slow", Service: "slow", Paths: []string{"/slow"}},
			{Name: "fast", Service: "fast", Paths: []string{"/"}},
		},
	}
}

func TestConfigSwapUnderLoad(t *testing.T) {
	slow := newBlockingUpstream(t, "old")
	a, b := newNamed(t, "a"), newNamed(t, "b")
	gw := startGateway(t, swapConfig(1, slow.URL, a.URL), Options{})

	const inFlight = 20
	slowDone := startSlow(t, gw, slow, inFlight)
	stop := make(chan struct{})
	var load sync.WaitGroup
	loadErrs := make(chan error, 8)
	for range 8 {
		load.Go(func() { loadErrs <- hammer(gw, stop) })
	}
	// New versions move /slow to a missing route and / between a and b.
	for v := uint64(2); v <= 30; v++ {
		url := []string{a.URL, b.URL}[v%2]
		cfg := oneRoute(v, url, store.Route{Name: "fast", Paths: []string{"/"}})
		if err := gw.Update(cfg); err != nil {
			t.Fatal(err)
		}
	}
	close(slow.release)
	for range inFlight {
		if err := recv(t, slowDone, "slow requests to finish"); err != nil {
			t.Error(err)
		}
	}
	close(stop)
	load.Wait()
	for range 8 {
		if err := <-loadErrs; err != nil {
			t.Error(err)
		}
	}
	if code, body, err := fetch(gw.client, gw.url+"/x"); err != nil || code != 200 || body != "a" || gw.Version() != 30 {
		t.Errorf("after swaps: %d %q %v, version %d", code, body, err, gw.Version())
	}
}

// startSlow sends n requests to /slow and returns once the upstream holds
// them all; each reports on the channel whether it got the old answer.
func startSlow(t *testing.T, gw *testGateway, slow *blockingUpstream, n int) <-chan error {
	done := make(chan error, n)
	for range n {
		go func() {
			code, body, err := fetch(gw.client, gw.url+"/slow")
			if err == nil && (code != http.StatusOK || body != "old") {
				err = fmt.Errorf("slow request: %d %q", code, body)
			}
			done <- err
		}()
	}
	for range n {
		recv(t, slow.arrived, "slow requests to reach the upstream")
	}
	return done
}

// hammer sends requests until stop is closed; each must succeed.
func hammer(gw *testGateway, stop <-chan struct{}) error {
	for n := 0; ; n++ {
		select {
		case <-stop:
			if n == 0 {
				return errors.New("no request sent")
			}
			return nil
		default:
		}
		code, body, err := fetch(gw.client, gw.url+"/x")
		if err != nil || code != http.StatusOK || (body != "a" && body != "b") {
			return fmt.Errorf("request during swaps: %d %q %v", code, body, err)
		}
	}
}

func TestUpdateErrorKeepsConfig(t *testing.T) {
	a := newNamed(t, "a")
	gw := startGateway(t, oneRoute(3, a.URL, store.Route{}), Options{})
	bad := oneRoute(4, a.URL, store.Route{})
	bad.Routes[0].Service = "missing"
	if err := gw.Update(bad); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("Update(bad) = %v, want ErrInvalidConfig", err)
	}
	if err := gw.Update(nil); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("Update(nil) = %v, want ErrInvalidConfig", err)
	}
	if code, body, err := fetch(gw.client, gw.url+"/"); err != nil || code != 200 || body != "a" || gw.Version() != 3 {
		t.Errorf("after failed update: %d %q %v, version %d", code, body, err, gw.Version())
	}
}

func TestTransportsReusedAcrossVersions(t *testing.T) {
	gw := New(Options{Logger: slog.New(slog.DiscardHandler)})
	transportOf := func(cfg *store.Config) http.RoundTripper {
		t.Helper()
		if err := gw.Update(cfg); err != nil {
			t.Fatal(err)
		}
		return gw.snap.Load().router.services[0].transport
	}
	first := transportOf(oneRoute(1, "http://10.0.0.1:80", store.Route{Paths: []string{"/a"}}))
	sameHostNewRoutes := transportOf(oneRoute(2, "http://10.0.0.1:80/base", store.Route{Paths: []string{"/b"}}))
	if first != sameHostNewRoutes {
		t.Error("an unchanged upstream got a new transport")
	}
	cfg := oneRoute(3, "http://10.0.0.1:80", store.Route{})
	cfg.Services[0].ConnectTimeout = store.Duration(1e9)
	if transportOf(cfg) == first {
		t.Error("a changed connect timeout kept the old transport")
	}
}

func TestShutdownLetsRequestsFinish(t *testing.T) {
	slow := newBlockingUpstream(t, "done")
	gw := startGateway(t, oneRoute(1, slow.URL, store.Route{}), Options{})
	result := make(chan string, 1)
	go func() {
		code, body, err := fetch(gw.client, gw.url+"/")
		result <- fmt.Sprint(code, " ", body, " ", err)
	}()
	recv(t, slow.arrived, "the request to reach the upstream")

	var servers []*h1Server
	gw.srvMu.Lock()
	for s := range gw.servers {
		servers = append(servers, s.(*h1Server))
	}
	gw.srvMu.Unlock()
	shutdown := make(chan error, 1)
	go func() { shutdown <- gw.Shutdown(context.Background()) }()
	waitfor.Condition(t, waitTimeout, "shutdown to start", func() bool { return servers[0].shutting.Load() })
	close(slow.release)
	if got := recv(t, result, "the in-flight request"); got != "200 done <nil>" {
		t.Errorf("in-flight request during shutdown: %s", got)
	}
	if err := recv(t, shutdown, "Shutdown to return"); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if _, _, err := fetch(gw.client, gw.url+"/"); err == nil {
		t.Error("request after Shutdown succeeded")
	}
}
