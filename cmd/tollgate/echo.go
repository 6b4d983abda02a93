package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// runEcho serves a demo upstream: every request is answered with a JSON
// description of itself, so a user can see what the gateway forwarded.
func runEcho(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("echo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:9001", "listen address")
	name := fs.String("name", "echo", "name reported in responses")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintf(stderr, "echo: %v\n", err)
		return 1
	}
	slog.Info("echo upstream listening", "addr", ln.Addr().String(), "name", *name)
	srv := &http.Server{Handler: echoHandler(*name), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
		<-sig
		srv.Close()
	}()
	if err := srv.Serve(ln); err != nil && err != http.ErrServerClosed {
		fmt.Fprintf(stderr, "echo: %v\n", err)
		return 1
	}
	return 0
}

func echoHandler(name string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"upstream": name,
			"method":   r.Method,
			"host":     r.Host,
			"path":     r.URL.Path,
			"query":    r.URL.RawQuery,
			"headers":  r.Header,
			"body":     string(body),
		})
	})
}
