package dataplane

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/waitfor"
	"github.com/tollgate/tollgate/store"
)

// TestShutdownServesTheBacklog: a client that connected before Shutdown
// but was not accepted yet (here the server holds MaxConns and leaves the
// listener's queue alone) is served, not reset when the listener closes.
// Both engines: the goroutine engine reset it until it, too, took in its
// queue before closing the listener. Its connection is then closed, by
// the answer or once idle.
func TestShutdownServesTheBacklog(t *testing.T) {
	for _, engine := range []string{EngineEpoll, EngineGoroutine} {
		t.Run(engine, func(t *testing.T) {
			gw := startGateway(t, oneRoute(1, newTextEcho(t), store.Route{Paths: []string{"/"}}), Options{Engine: engine, MaxConns: 1})
			first := confDial(t, gw.addr)
			if resp, _ := first.do(t, "GET", confGet("/first")); resp.StatusCode != 200 {
				t.Fatalf("first: %d", resp.StatusCode)
			}
			queued := confDial(t, gw.addr) // connected, in the listener's queue
			if err := queued.write(confGet("/queued")); err != nil {
				t.Fatal(err)
			}
			shut := make(chan error, 1)
			go func() { shut <- gw.Shutdown(context.Background()) }()
			resp, body, err := queued.read("GET")
			if err != nil || resp.StatusCode != 200 || body != "GET /queued " {
				t.Fatalf("the queued client got %v %q, %v; want its answer", resp, body, err)
			}
			if !resp.Close { // answered before the listener closed: closed once idle
				queued.expectClosed(t)
			}
			if err := recv(t, shut, "Shutdown"); err != nil {
				t.Errorf("Shutdown: %v", err)
			}
		})
	}
}

// TestShutdownUnderLoadResetsNoClient: keep-alive clients that send
// requests without pause while the gateway shuts down gracefully get an
// answer or a refused connection, never a reset. The loops used to close
// their idle clients before the last loop had closed the listener, so
// Go's transport, retrying a request the close cut off on a new
// connection, could connect in the instant between the last loop taking
// in its queue and closing the listener, and be reset (make chaos,
// restart).
func TestShutdownUnderLoadResetsNoClient(t *testing.T) {
	for _, engine := range []string{EngineEpoll, EngineGoroutine} {
		t.Run(engine, func(t *testing.T) {
			gw := startGateway(t, oneRoute(1, newTextEcho(t), store.Route{Paths: []string{"/"}}), Options{Engine: engine})
			var answered atomic.Int64
			var wg sync.WaitGroup
			errs := make(chan error, 16)
			for range 16 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs <- getUntilFailure(gw.url+"/load", &answered)
				}()
			}
			waitfor.Condition(t, waitTimeout, "clients answered", func() bool { return answered.Load() >= 200 })
			if err := gw.Shutdown(context.Background()); err != nil {
				t.Fatalf("Shutdown: %v", err)
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if !errors.Is(err, syscall.ECONNREFUSED) {
					t.Errorf("a client got %v; want an answer or a refused connection", err)
				}
			}
		})
	}
}

// getUntilFailure sends GETs to url over one keep-alive transport until
// one fails, and returns that error.
func getUntilFailure(url string, answered *atomic.Int64) error {
	tr := &http.Transport{MaxIdleConnsPerHost: 1, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	for {
		if _, _, err := fetch(client, url); err != nil {
			return err
		}
		answered.Add(1)
	}
}
