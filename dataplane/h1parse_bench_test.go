package dataplane

import (
	"bufio"
	"net/http"
	"strings"
	"testing"
)

// The heads make bench exchanges: wrk's request, and nginx's answer.
const (
	benchRequestHead  = "GET /item HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n"
	benchResponseHead = "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Fri, 27 Nov 2026 10:26:45 GMT\r\n" +
		"Content-Type: application/json\r\nContent-Length: 59\r\nConnection: keep-alive\r\n\r\n"
)

// BenchmarkParseRequest compares the server's fast request parser with
// http.ReadRequest on the same buffered head; BenchmarkParseResponse the
// client's response parser with http.ReadResponse. Run with -benchmem:
//
//	go test -run '^$' -bench 'Parse(Request|Response)' -benchmem ./dataplane
func BenchmarkParseRequest(b *testing.B) {
	src := strings.NewReader("")
	br := bufio.NewReaderSize(src, 4096)
	b.Run("tollgate", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			src.Reset(benchRequestHead)
			br.Reset(src)
			_, _ = br.Peek(1)
			if _, ok := readBufferedRequest(br, 1<<20); !ok {
				b.Fatal("declined")
			}
		}
	})
	b.Run("net-http", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			src.Reset(benchRequestHead)
			br.Reset(src)
			if _, err := http.ReadRequest(br); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkParseResponse(b *testing.B) {
	src := strings.NewReader("")
	br := bufio.NewReaderSize(src, h1BufferSize)
	req := &http.Request{Method: "GET"}
	b.Run("tollgate", func(b *testing.B) {
		b.ReportAllocs()
		var scratch []byte
		for b.Loop() {
			src.Reset(benchResponseHead)
			br.Reset(src)
			head, err := readMessageHead(br, &scratch, h1MaxHeaderBytes)
			if err != nil {
				b.Fatal(err)
			}
			if _, _, err := parseResponseHead(head, req); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("net-http", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			src.Reset(benchResponseHead)
			br.Reset(src)
			if _, err := http.ReadResponse(br, req); err != nil {
				b.Fatal(err)
			}
		}
	})
}
