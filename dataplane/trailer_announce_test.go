package dataplane

import (
	"bufio"
	"io"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/store"
)

// TestTrailerAnnouncedAsUpstreamDid: the Trailer field of a chunked
// answer lists the fields the upstream announced in its own, on every
// engine; trailer fields it sent without announcing them are passed on
// after the body, as net/http's reverse proxy does, but not announced.
// (The event loops, which read such a body whole before they answer,
// announced every field of the trailer section the upstream sent.)
func TestTrailerAnnouncedAsUpstreamDid(t *testing.T) {
	addr := rawUpstream(t, func(c net.Conn, br *bufio.Reader) {
		for {
			head, err := readHead(br)
			if err != nil {
				return
			}
			announce := ""
			if strings.HasPrefix(head, "GET /announced ") {
				announce = "Trailer: X-Declared\r\n"
			}
			io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"+announce+"\r\n"+
				"7\r\npayload\r\n0\r\nX-Declared: 1\r\nX-Extra: 2\r\n\r\n")
		}
	})
	gw := startGateway(t, oneRoute(1, "http://"+addr, store.Route{Paths: []string{"/"}}), Options{})
	c := confDial(t, gw.addr)
	for _, tt := range []struct {
		path      string
		announced []string
	}{
		{"/announced", []string{"X-Declared"}},
		{"/unannounced", nil},
	} {
		if err := c.write("GET " + tt.path + " HTTP/1.1\r\nHost: tollgate.test\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		_ = c.c.SetReadDeadline(time.Now().Add(waitTimeout))
		resp, err := http.ReadResponse(c.br, &http.Request{Method: "GET"})
		if err != nil {
			t.Fatal(err)
		}
		// Before the body is read, resp.Trailer holds the names the
		// Trailer field announced, without values.
		announced := slices.Sorted(maps.Keys(resp.Trailer))
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || string(body) != "payload" {
			t.Fatalf("%s: %d %q %v", tt.path, resp.StatusCode, body, err)
		}
		if !slices.Equal(announced, tt.announced) {
			t.Errorf("%s: Trailer announces %q, want %q, as the upstream did", tt.path, announced, tt.announced)
		}
		if resp.Trailer.Get("X-Declared") != "1" || resp.Trailer.Get("X-Extra") != "2" {
			t.Errorf("%s: trailer %v, want X-Declared: 1 and X-Extra: 2 passed on", tt.path, resp.Trailer)
		}
	}
}
