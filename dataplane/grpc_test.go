package dataplane

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/tollgate/tollgate/store"
)

// grpcFrame is one length-prefixed gRPC message (uncompressed).
func grpcFrame(msg string) []byte {
	b := make([]byte, 5, 5+len(msg))
	binary.BigEndian.PutUint32(b[1:], uint32(len(msg)))
	return append(b, msg...)
}

// readGRPCFrame reads one length-prefixed gRPC message.
func readGRPCFrame(r io.Reader) (string, error) {
	var head [5]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		return "", err
	}
	msg := make([]byte, binary.BigEndian.Uint32(head[1:]))
	if _, err := io.ReadFull(r, msg); err != nil {
		return "", err
	}
	return string(msg), nil
}

// h2cProtocols speaks only HTTP/2 without TLS (prior knowledge).
func h2cProtocols() *http.Protocols {
	p := new(http.Protocols)
	p.SetUnencryptedHTTP2(true)
	return p
}

// newGRPCUpstream is a hand-written gRPC server over h2c with a unary
// method (Greet), a failing one (Fail) and a bidirectional stream (Echo).
func newGRPCUpstream(t *testing.T) string {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor != 2 || r.Header.Get("Content-Type") != "application/grpc" || r.Header.Get("Te") != "trailers" {
			http.Error(w, fmt.Sprintf("not gRPC: %s %v", r.Proto, r.Header), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/grpc")
		switch r.URL.Path {
		case "/test.Greeter/Greet":
			name, err := readGRPCFrame(r.Body)
			if err != nil {
				return
			}
			_, _ = w.Write(grpcFrame("hello, " + name))
			w.Header().Set(http.TrailerPrefix+"Grpc-Status", "0")
			w.Header().Set(http.TrailerPrefix+"X-Served-By", "upstream")
		case "/test.Greeter/Fail":
			w.WriteHeader(http.StatusOK)
			w.Header().Set(http.TrailerPrefix+"Grpc-Status", "3")
			w.Header().Set(http.TrailerPrefix+"Grpc-Message", "bad name")
		case "/test.Greeter/Echo":
			w.WriteHeader(http.StatusOK)
			w.(http.Flusher).Flush()
			for {
				msg, err := readGRPCFrame(r.Body)
				if err != nil {
					break
				}
				_, _ = w.Write(grpcFrame("echo " + msg))
				w.(http.Flusher).Flush()
			}
			w.Header().Set(http.TrailerPrefix+"Grpc-Status", "0")
		}
	}))
	srv.Config.Protocols = h2cProtocols()
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.URL
}

// grpcClient speaks h2c to the gateway.
func grpcClient(t *testing.T) *http.Client {
	tr := &http.Transport{Protocols: h2cProtocols()}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

func grpcRequest(url string, body io.Reader) *http.Request {
	req, _ := http.NewRequest("POST", url, body)
	req.Header.Set("Content-Type", "application/grpc")
	req.Header.Set("Te", "trailers")
	return req
}

func grpcGateway(t *testing.T) *testGateway {
	cfg := oneRoute(1, newGRPCUpstream(t), store.Route{Paths: []string{"/test.Greeter/"}})
	cfg.Services[0].Protocol = store.ProtocolH2C
	return startGateway(t, cfg, Options{})
}

func TestGRPCUnary(t *testing.T) {
	gw := grpcGateway(t)
	client := grpcClient(t)
	resp, err := client.Do(grpcRequest(gw.url+"/test.Greeter/Greet", bytes.NewReader(grpcFrame("tollgate"))))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	msg, err := readGRPCFrame(resp.Body)
	if err != nil || msg != "hello, tollgate" || resp.ProtoMajor != 2 {
		t.Fatalf("reply %q %v over %s", msg, err, resp.Proto)
	}
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		t.Fatal(err)
	}
	if resp.Trailer.Get("Grpc-Status") != "0" || resp.Trailer.Get("X-Served-By") != "upstream" {
		t.Errorf("trailers %v", resp.Trailer)
	}

	resp, err = client.Do(grpcRequest(gw.url+"/test.Greeter/Fail", bytes.NewReader(grpcFrame("x"))))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		t.Fatal(err)
	}
	if resp.Trailer.Get("Grpc-Status") != "3" || resp.Trailer.Get("Grpc-Message") != "bad name" {
		t.Errorf("error trailers %v (headers %v)", resp.Trailer, resp.Header)
	}
}

func TestGRPCBidiStream(t *testing.T) {
	gw := grpcGateway(t)
	pr, pw := io.Pipe()
	resp, err := grpcClient(t).Do(grpcRequest(gw.url+"/test.Greeter/Echo", pr))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	// Each reply arrives before the next message is sent: both directions
	// stream through the gateway.
	for i := range 5 {
		want := fmt.Sprintf("msg %d", i)
		if _, err := pw.Write(grpcFrame(want)); err != nil {
			t.Fatal(err)
		}
		got, err := readGRPCFrame(resp.Body)
		if err != nil || got != "echo "+want {
			t.Fatalf("reply %d: %q %v", i, got, err)
		}
	}
	pw.Close()
	if _, err := readGRPCFrame(resp.Body); !errors.Is(err, io.EOF) {
		t.Fatalf("after the client closed: %v, want EOF", err)
	}
	if resp.Trailer.Get("Grpc-Status") != "0" {
		t.Errorf("trailers %v", resp.Trailer)
	}
}
