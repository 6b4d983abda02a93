// Package cache is the response-caching plugin: a shared HTTP cache
// (RFC 9111) in a route's policy chain.
//
// It stores GET and HEAD responses that the upstream's Cache-Control,
// Expires and Vary let a shared cache store, answers later requests from
// memory while they are fresh (X-Cache: HIT, with Age), revalidates stale
// responses that carry an ETag or Last-Modified with a conditional request
// (a 304 refreshes them), and answers a client's own If-None-Match with a
// 304 when it matches. Concurrent misses on one key send one request
// upstream; the others wait for it and are served its response.
//
// Only responses with a Content-Length are stored: without one the policy
// cannot tell a body the upstream broke off from a complete one.
// Responses that set cookies are never stored. Each node has its own
// cache: a purge, or the invalidation after an unsafe request, clears
// this node's only.
//
// The package is split by concern: policy.go parses Cache-Control and
// computes storability, freshness and age; conditional.go evaluates
// validators; entry.go is a stored response and its Vary matching;
// store.go is the LRU with a byte cap; coalesce.go is the
// single flight of misses; registry.go keeps stores across config
// versions and purge.go purges them; plugin.go, fetch.go, capture.go and
// serve.go are the dataplane.Policy.
package cache
