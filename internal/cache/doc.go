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
// A response with a Content-Length is stored when its body reached that
// length. One without (chunked) is stored, with the Content-Length of
// what was received, only when the data plane reports that it delivered
// the body to its end (dataplane.RequestContext.ResponseComplete): a body
// the upstream broke off is never stored. Bodies over max_entry_bytes
// stream through uncached either way. Responses that set cookies are never stored. Each node has its own
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
