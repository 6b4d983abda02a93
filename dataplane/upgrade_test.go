package dataplane

import (
	"bufio"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/tollgate/tollgate/store"
)

// wsAccept is the Sec-WebSocket-Accept answer to key (RFC 6455).
func wsAccept(key string) string {
	h := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(h[:])
}

// writeFrame writes one final text frame with a payload under 126 bytes,
// masked when mask is set (client to server).
func writeFrame(w io.Writer, payload []byte, mask bool) error {
	head := []byte{0x81, byte(len(payload))}
	body := append([]byte(nil), payload...)
	if mask {
		key := [4]byte{1, 2, 3, 4}
		head[1] |= 0x80
		head = append(head, key[:]...)
		for i := range body {
			body[i] ^= key[i%4]
		}
	}
	_, err := w.Write(append(head, body...))
	return err
}

// readFrame reads one frame with a payload under 126 bytes.
func readFrame(r io.Reader) (opcode byte, payload []byte, err error) {
	var head [2]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		return 0, nil, err
	}
	n := int(head[1] & 0x7f)
	var key [4]byte
	masked := head[1]&0x80 != 0
	if masked {
		if _, err := io.ReadFull(r, key[:]); err != nil {
			return 0, nil, err
		}
	}
	payload = make([]byte, n)
	if _, err := io.ReadFull(r, payload); err != nil {
		return 0, nil, err
	}
	if masked {
		for i := range payload {
			payload[i] ^= key[i%4]
		}
	}
	return head[0] & 0x0f, payload, nil
}

// newWSEcho is a WebSocket server that echoes text frames until a close.
func newWSEcho(t *testing.T) string {
	return newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "websocket" || r.Header.Get("Connection") != "Upgrade" {
			http.Error(w, "not an upgrade: "+fmt.Sprint(r.Header), http.StatusBadRequest)
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		fmt.Fprintf(brw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
			wsAccept(r.Header.Get("Sec-WebSocket-Key")))
		_ = brw.Flush()
		for {
			op, msg, err := readFrame(brw)
			if err != nil || op == 0x8 {
				return
			}
			if err := writeFrame(conn, append([]byte("echo: "), msg...), false); err != nil {
				return
			}
		}
	})).URL
}

func TestWebSocketEcho(t *testing.T) {
	gw := startGateway(t, oneRoute(1, newWSEcho(t), store.Route{Name: "ws", Paths: []string{"/ws"}}), Options{})
	conn, err := net.Dial("tcp", gw.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(waitTimeout))
	const key = "dGhlIHNhbXBsZSBub25jZQ=="
	fmt.Fprintf(conn, "GET /ws/chat HTTP/1.1\r\nHost: gw.test\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n"+
		"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n", key)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Sec-WebSocket-Accept") != wsAccept(key) ||
		resp.Header.Get("Upgrade") != "websocket" || resp.Header.Get(headerRequestID) == "" {
		t.Fatalf("handshake: %d %v", resp.StatusCode, resp.Header)
	}
	for _, msg := range []string{"hello", "second message"} {
		if err := writeFrame(conn, []byte(msg), true); err != nil {
			t.Fatal(err)
		}
		op, got, err := readFrame(br)
		if err != nil || op != 1 || string(got) != "echo: "+msg {
			t.Fatalf("echo of %q: op %d %q %v", msg, op, got, err)
		}
	}
	_, _ = conn.Write([]byte{0x88, 0x80, 0, 0, 0, 0}) // masked close
	if _, err := br.ReadByte(); err != io.EOF {
		t.Errorf("after close: %v, want EOF", err)
	}
	rec := gw.logs.waitLog(t, func(r map[string]slog.Value) bool { return r["route"].String() == "ws" })
	if rec["status"].Int64() != http.StatusSwitchingProtocols {
		t.Errorf("logged status %v", rec["status"])
	}
}

func TestUpgradeRefused(t *testing.T) {
	echo := newEcho(t) // answers 200 to anything
	gw := startGateway(t, oneRoute(1, echo.URL, store.Route{}), Options{})
	resp, body := rawRequest(t, gw.addr, "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if got := decodeSeen(t, body).Header.Get("Upgrade"); got != "websocket" {
		t.Errorf("upstream saw Upgrade %q", got)
	}
}
