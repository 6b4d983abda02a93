package agent

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
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

// TestRequestLimitsFromConfig starts a node with small header and body
// limits and shows its data plane answers 431 and 413 by them, with the
// gateway's error marker, while a request within both is proxied.
func TestRequestLimitsFromConfig(t *testing.T) {
	cfg := nodeConfig(t, "limited", nil, 1)
	cfg.MaxHeaderBytes, cfg.MaxRequestBodyBytes = 2048, 100
	a, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Stop()
	up := upstream(t, "u")
	waitfor.Condition(t, 10*time.Second, "the config applied", func() bool {
		resp, _ := putConfig(t, a.AdminAddr(), "application/yaml", configYAML(up.URL, "/a"), nil)
		return resp.StatusCode == http.StatusOK
	})
	waitfor.Condition(t, 5*time.Second, "the route served", func() bool { return a.Store().Current().Version >= 1 })
	send := func(header string, body string) *http.Response {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, "http://"+a.HTTPAddr()+"/a", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-Filler", header)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	if resp := send("small", "within"); resp.StatusCode != http.StatusOK {
		t.Errorf("within both limits: %d", resp.StatusCode)
	}
	cases := []struct {
		name         string
		header, body string
		status       int
	}{
		{"head over --max-header-bytes", strings.Repeat("h", 3000), "", http.StatusRequestHeaderFieldsTooLarge},
		{"body over --max-body-bytes", "small", strings.Repeat("b", 101), http.StatusRequestEntityTooLarge},
	}
	for _, c := range cases {
		resp := send(c.header, c.body)
		if resp.StatusCode != c.status || resp.Header.Get("X-Tollgate-Error") == "" {
			t.Errorf("%s: %d, X-Tollgate-Error %q; want %d from the gateway", c.name, resp.StatusCode, resp.Header.Get("X-Tollgate-Error"), c.status)
		}
	}
}
