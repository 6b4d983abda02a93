package dataplane

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/store"
)

// TestH1RejectedUploadStillReadable pins that a client still sending a
// body the gateway refused (413 on its declared length) reads the 413,
// rather than a connection reset: the server must not close a socket with
// unread input at once (the kernel would answer it with RST, and the
// client lose the response it had not read yet).
func TestH1RejectedUploadStillReadable(t *testing.T) {
	up := newConfUpstream(t)
	gw := startGateway(t, oneRoute(1, up.url, store.Route{Paths: []string{"/"}}), Options{MaxRequestBodyBytes: 1 << 10})
	for i := range 5 {
		conn, err := net.Dial("tcp", gw.addr)
		if err != nil {
			t.Fatal(err)
		}
		_ = conn.SetDeadline(time.Now().Add(waitTimeout))
		const size = 8 << 20
		head := "POST /echo HTTP/1.1\r\nHost: tollgate.test\r\nContent-Length: " + strconv.Itoa(size) + "\r\n\r\n"
		// The whole body is sent before the answer is read, as a simple
		// client does; writes fail once the gateway has closed.
		_, _ = io.WriteString(conn, head)
		_, _ = io.Copy(conn, io.LimitReader(zeroReader{}, size))
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("attempt %d: reading the answer to an oversized upload: %v", i, err)
		}
		body, _ := io.ReadAll(resp.Body)
		conn.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(body), "body_too_large") {
			t.Fatalf("attempt %d: %d %q, want 413 body_too_large", i, resp.StatusCode, body)
		}
	}
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
