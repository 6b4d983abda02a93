package dataplane

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/tollgate/tollgate/store"
)

// newStreamEcho starts an upstream that sends its headers at once and then
// echoes the request body piece by piece as it arrives.
func newStreamEcho(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		_ = rc.EnableFullDuplex()
		w.WriteHeader(http.StatusOK)
		_ = rc.Flush()
		buf := make([]byte, 16<<10)
		for {
			n, err := r.Body.Read(buf)
			if n > 0 {
				_, _ = w.Write(buf[:n])
				_ = rc.Flush()
			}
			if err != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestStreamingBothWays sends 2 MB in lockstep: each 64 KB piece must come
// back through the gateway before the next is sent, which only works if
// neither direction is buffered whole.
func TestStreamingBothWays(t *testing.T) {
	const piece, pieces = 64 << 10, 32
	gw := startGateway(t, oneRoute(1, newStreamEcho(t).URL, store.Route{}), Options{})
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()

	data := make([]byte, piece*pieces)
	rng := rand.NewChaCha8([32]byte{1})
	_, _ = rng.Read(data)
	pr, pw := io.Pipe()
	echoed := make(chan int, pieces)
	go writePieces(ctx, pw, data, piece, echoed)

	req, _ := http.NewRequestWithContext(ctx, "POST", gw.url+"/echo", pr)
	resp, err := gw.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got := make([]byte, 0, len(data))
	buf := make([]byte, piece)
	for i := range pieces {
		if _, err := io.ReadFull(resp.Body, buf); err != nil {
			t.Fatalf("piece %d: %v", i, err)
		}
		got = append(got, buf...)
		echoed <- i
	}
	if rest, err := io.ReadAll(resp.Body); err != nil || len(rest) != 0 {
		t.Fatalf("after the last piece: %d bytes, %v", len(rest), err)
	}
	if sha256.Sum256(got) != sha256.Sum256(data) {
		t.Error("echoed body differs from the one sent")
	}
}

// writePieces writes data to pw one piece at a time, waiting for a signal
// on echoed after each.
func writePieces(ctx context.Context, pw *io.PipeWriter, data []byte, piece int, echoed <-chan int) {
	for off := 0; off < len(data); off += piece {
		if _, err := pw.Write(data[off : off+piece]); err != nil {
			return
		}
		select {
		case <-echoed:
		case <-ctx.Done():
			pw.CloseWithError(ctx.Err())
			return
		}
	}
	pw.Close()
}

// TestLargeBodies sends and receives 2 MB of known length.
func TestLargeBodies(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789abcdef"), 128<<10)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sum := sha256.New()
		n, _ := io.Copy(sum, r.Body)
		w.Header().Set("X-Upload", fmt.Sprintf("%d:%x", n, sum.Sum(nil)))
		w.Header().Set("Content-Length", fmt.Sprint(len(data)))
		_, _ = w.Write(data)
	}))
	t.Cleanup(up.Close)
	gw := startGateway(t, oneRoute(1, up.URL, store.Route{}), Options{})

	resp, err := gw.client.Post(gw.url+"/up", "application/octet-stream", bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("%d:%x", len(data), sha256.Sum256(data))
	if resp.Header.Get("X-Upload") != want || !bytes.Equal(got, data) || resp.ContentLength != int64(len(data)) {
		t.Errorf("upload %s (want %s), download %d bytes, Content-Length %d", resp.Header.Get("X-Upload"), want, len(got), resp.ContentLength)
	}
}
