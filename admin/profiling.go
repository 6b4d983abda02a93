package admin

import (
	"net/http"
	"net/http/pprof"
)

// registerProfiling serves the Go runtime's profiles (net/http/pprof)
// under /debug/pprof/, behind the admin API's authentication like every
// other route: CPU, heap, goroutine, mutex and block profiles, and
// execution traces, of a live node under its real load.
//
//	go tool pprof -http :0 'http://127.0.0.1:8081/debug/pprof/profile?seconds=20'
func registerProfiling(m *http.ServeMux) {
	m.HandleFunc("GET /debug/pprof/", pprof.Index)
	m.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	m.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	m.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	m.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
}
