// Package dataplane is tollgate's request path: the HTTP listeners, the
// compiled router, the per-route policy chain, the reverse proxy with its
// upstream connection pools, gateway errors and the access log.
//
// A Gateway serves from an immutable snapshot compiled from a *store.Config.
// Update compiles a new config and publishes it with one atomic pointer
// store; a request loads the snapshot once and finishes on it, so the
// control plane never blocks the request path.
package dataplane
