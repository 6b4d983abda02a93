package dataplane

import (
	"context"
	"errors"
	"log/slog"
	"net"
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

// TestShutdownServesTheConnectionTheAcceptLoopHolds: a connection the
// goroutine engine's accept loop took before the listener closed, but
// had not registered yet when Shutdown counted the connections left, is
// served. Shutdown used to find none, end, and leave the accept loop to
// close it: the client, which had connected and sent its request, got
// nothing. Here the listener holds the connection in Accept until
// Shutdown has closed it, as a descheduled accept loop would.
func TestShutdownServesTheConnectionTheAcceptLoopHolds(t *testing.T) {
	g := New(Options{Engine: EngineGoroutine, Logger: slog.New(newLogSink())})
	if err := g.Update(oneRoute(1, newTextEcho(t), store.Route{Paths: []string{"/"}})); err != nil {
		t.Fatal(err)
	}
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := &holdingListener{Listener: inner, held: make(chan struct{}), closed: make(chan struct{})}
	served := make(chan error, 1)
	go func() { served <- g.Serve(ln) }()
	client := confDial(t, inner.Addr().String())
	if err := client.write(confGet("/held")); err != nil {
		t.Fatal(err)
	}
	recv(t, ln.held, "the accept loop to take the connection")
	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		shut <- g.Shutdown(ctx)
	}()
	resp, body, err := client.read("GET")
	if err != nil || resp.StatusCode != 200 || body != "GET /held " {
		t.Fatalf("the held client got %v %q, %v; want its answer", resp, body, err)
	}
	if err := recv(t, shut, "Shutdown"); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if err := recv(t, served, "Serve"); !errors.Is(err, http.ErrServerClosed) {
		t.Errorf("Serve returned %v, want http.ErrServerClosed", err)
	}
}

// holdingListener hands over its first connection only once it is
// closed.
type holdingListener struct {
	net.Listener
	held      chan struct{} // closed when the first connection is in hand
	closed    chan struct{}
	first     sync.Once
	closeOnce sync.Once
}

func (l *holdingListener) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	hold := false
	l.first.Do(func() { hold = true })
	if hold {
		close(l.held)
		<-l.closed
	}
	return nc, nil
}

func (l *holdingListener) Close() error {
	l.closeOnce.Do(func() { close(l.closed) })
	return l.Listener.Close()
}
