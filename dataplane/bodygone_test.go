package dataplane

import (
	"fmt"
	"log/slog"
	"net/http"
	"testing"

	"github.com/tollgate/tollgate/store"
)

// TestClientGoneDuringBodyIsLogged499: a client that sends a request head
// and part of its body, then leaves, is logged as 499 on its route, on
// every engine: the event loops wait for such a body before they start
// the request, the goroutine server while it streams it.
func TestClientGoneDuringBodyIsLogged499(t *testing.T) {
	gw := startGateway(t, oneRoute(1, newTextEcho(t), store.Route{Name: "r", Paths: []string{"/"}}), Options{})
	// More than the passive check's threshold of consecutive failures:
	// a client leaving says nothing about the target, which stays in.
	for i := range defaultConsecutiveFailures + 1 {
		c := confDial(t, gw.addr)
		path := fmt.Sprintf("/partial/%d", i)
		if err := c.write("POST " + path + " HTTP/1.1\r\nHost: tollgate.test\r\nContent-Length: 100\r\n\r\n0123456789"); err != nil {
			t.Fatal(err)
		}
		c.c.Close()
		gw.logs.waitLog(t, func(r map[string]slog.Value) bool {
			return r["path"].String() == path && r["status"].Int64() == statusClientClosed && r["route"].String() == "r"
		})
	}
	if resp, body := gw.get(t, "/after"); resp.StatusCode != 200 {
		t.Fatalf("after clients left mid-body: %d %s, want the target still in rotation", resp.StatusCode, body)
	}
}

// TestMalformedBodyIs400: a request whose chunked body breaks its framing
// gets the gateway's 400, with Connection: close, on every engine, and
// says nothing about the target. (It got a 502 blaming the upstream, and
// for a while an empty 200.)
func TestMalformedBodyIs400(t *testing.T) {
	gw := startGateway(t, oneRoute(1, newTextEcho(t), store.Route{Name: "r", Paths: []string{"/"}}), Options{})
	for i := range defaultConsecutiveFailures + 1 {
		c := confDial(t, gw.addr)
		resp, body := c.do(t, "POST", "POST /bad HTTP/1.1\r\nHost: tollgate.test\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\nhello\r\n0\r\n\r\n")
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get(headerError) == "" || !resp.Close {
			t.Fatalf("#%d: %d %v %q, want the gateway's 400 and the connection closed", i, resp.StatusCode, resp.Header, body)
		}
	}
	if resp, body := gw.get(t, "/after"); resp.StatusCode != 200 {
		t.Fatalf("after malformed bodies: %d %s, want the target still in rotation", resp.StatusCode, body)
	}
}
