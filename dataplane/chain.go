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

// chainHandler wraps last in chain, so that chain[0] runs first.
func chainHandler(chain []Policy, last Handler) Handler {
	h := last
	for i := len(chain) - 1; i >= 0; i-- {
		h = chain[i].Wrap(h)
	}
	return h
}
