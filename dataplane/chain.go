package dataplane

// Handler serves a request that matched a route: a policy's step, or the
// proxy at the end of the chain.
type Handler func(rc *RequestContext)

// Policy is one step of a route's policy chain: authentication, rate
// limiting, transformation, caching. Policies are composed when a config is
// compiled, not per request.
type Policy interface {
	// Wrap returns a Handler that applies the policy and then either calls
	// next to continue the chain, or answers the request itself (for
	// example with rc.Reject) and returns without calling next. The
	// returned Handler is called concurrently and must not keep rc after
	// it returns.
	Wrap(next Handler) Handler
}

// InlinePolicy is a Policy whose whole work happens before the rest of
// the chain runs, synchronously and without I/O: stripping or adding
// request headers, or refusing the request. The epoll engine runs such
// policies on its event loop; a route with any other kind of policy is
// served by goroutines (see evloop_linux.go). Its Wrap must be
// equivalent to calling Before and then next if Before returned true.
//
// A policy whose Before may wait in some configurations (a JWT policy
// that fetches key sets, say) also has a method Inline() bool, which says
// false for those; the route is then served by goroutines.
type InlinePolicy interface {
	Policy
	// Before does the policy's work on rc and reports whether the request
	// goes on; when it returns false the policy has answered the request
	// (with rc.Reject). It must not keep rc, rc.Request or its Header
	// once it returns: the event loop reuses them for the connection's
	// next request.
	Before(rc *RequestContext) bool
}

// chainHandler wraps last in chain, so that chain[0] runs first.
func chainHandler(chain []Policy, last Handler) Handler {
	h := last
	for i := len(chain) - 1; i >= 0; i-- {
		h = chain[i].Wrap(h)
	}
	return h
}
