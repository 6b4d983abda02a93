// Package dataplane is tollgate's request path: the HTTP listeners, the
// compiled router, the per-route policy chain, the reverse proxy with its
// upstream pools, balancers, health checks, retries and mirrors, gateway
// errors and the access log.
//
// A Gateway serves from an immutable snapshot compiled from a *store.Config.
// Update compiles a new config and publishes it with one atomic pointer
// store; a request loads the snapshot once and finishes on it, so the
// control plane never blocks the request path.
//
// # Request path
//
// ServeHTTP checks the header limit (431), finds the route (router.go:
// host tables, then exact, regex and prefix paths, header and query
// matchers, priority), checks the body limit (413) and runs the route's
// chain: Options.Policies (auth, rate limits, ...), then the route's header
// transforms (transform.go), then the proxy (proxy.go). The proxy takes a
// circuit-breaker slot, starts a mirror copy if the route has one
// (mirror.go), picks a target with the service's balancer (balancer.go),
// retries as the service allows (retry.go) and streams the answer back,
// trailers included (response.go), or switches protocols for a WebSocket
// (upgrade.go). Every failure maps to one gateway error in classify
// (errors.go).
//
// # Upstream state across versions
//
// A compiled service (upstream.go) holds per-target state: health
// (active checks in health.go, passive ejection in target.go), requests in
// flight and the breaker count. Update reuses the compiled service of the
// previous version when the service's definition is unchanged, so that
// state and its health-check goroutines carry over; a changed or removed
// service's goroutines are stopped before Update returns, and Shutdown
// stops them all. Connection pools are shared by transport settings
// across versions (transport.go).
//
// # Listeners
//
// Serve speaks HTTP/1.1 and h2c (for gRPC clients); ServeTLS terminates
// TLS with the config's certificates chosen by SNI (tls.go), TLS 1.2 at
// least, HTTP/2 over ALPN.
//
// On Linux, the HTTP/1.1 of Serve and ServeTLS (after a handshake on a
// goroutine, evtls_linux.go) runs on event loops by default
// (Options.Engine, evloop_linux.go): one per CPU, each waiting in
// epoll_wait on its clients and its own upstream connections, running the
// request path above synchronously for the requests it can serve without
// blocking (no body, inline policies only: see InlinePolicy) and handing
// every other connection, bytes read included, to the goroutine server
// (h1server.go). Where the kernel allows io_uring, a loop queues its sends
// and submits each pass's in one system call (evring_linux.go).
package dataplane
