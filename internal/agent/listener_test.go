package agent

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/waitfor"
)

// TestMaxConnsCapsDataPlaneConnections holds the only allowed connection
// open and shows a second client is served only once it closes.
func TestMaxConnsCapsDataPlaneConnections(t *testing.T) {
	cfg := nodeConfig(t, "capped", nil, 1)
	cfg.MaxConns = 1
	a, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Stop()
	roundTrip := func(c net.Conn, br *bufio.Reader) int {
		if _, err := c.Write([]byte("GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	held, err := net.Dial("tcp", a.HTTPAddr())
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(held)
	roundTrip(held, br) // the connection is accepted and kept alive

	done := make(chan int, 1)
	dialed := make(chan struct{})
	go func() {
		dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			close(dialed)
			return c, err
		}
		c := http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true, DialContext: dial}}
		resp, err := c.Get("http://" + a.HTTPAddr() + "/nothing")
		if err != nil {
			done <- -1
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	select { // the second client's TCP connection is in the accept queue
	case <-dialed:
	case <-time.After(10 * time.Second):
		t.Fatal("second client never connected")
	}
	for i := 0; i < 3; i++ {
		roundTrip(held, br) // the held connection is still served...
	}
	select {
	case code := <-done:
		t.Fatalf("a second connection was served (%d) while the only allowed one was open", code)
	default: // ...while the second waits in the accept queue
	}
	held.Close()
	var code int
	waitfor.Condition(t, 10*time.Second, "the waiting client served after the first closed", func() bool {
		select {
		case code = <-done:
			return true
		default:
			return false
		}
	})
	if code != http.StatusNotFound && code != http.StatusServiceUnavailable {
		t.Fatalf("waiting client got %d", code)
	}
}
