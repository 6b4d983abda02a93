package dataplane

import (
	"context"
	"testing"

	"github.com/tollgate/tollgate/store"
)

// TestShutdownServesTheBacklog: a client that connected before Shutdown
// but was not accepted yet (here the server holds MaxConns and leaves the
// listener's queue alone) is served, not reset when the listener closes.
// Both engines: the goroutine engine reset it until it, too, took in its
// queue before closing the listener.
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
			if !resp.Close {
				t.Errorf("the answer during Shutdown does not close the connection")
			}
			if err := recv(t, shut, "Shutdown"); err != nil {
				t.Errorf("Shutdown: %v", err)
			}
		})
	}
}
