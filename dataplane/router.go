package dataplane

// router is a compiled, immutable routing table, safe for concurrent use.
//
// Routes are grouped first by host: one table per exact host, one per
// wildcard suffix ("*.example.com" is keyed ".example.com") and one for
// routes without hosts. Within a table they are grouped by path prefix.
// match walks the host tables from most to least specific and, in each,
// the request path's candidate prefixes from longest to shortest (the
// whole path, then at every '/'), so a lookup costs a few map probes that
// depend on the request, not on how many routes there are.
//
// Later matchers extend this shape: regex paths become an ordered list per
// hostTable tried after the prefix map, header matchers a predicate on
// compiledRoute checked with the methods, and priority the first key of
// the candidate order (see sortCandidates).
type router struct {
	exact    map[string]*hostTable
	wildcard map[string]*hostTable // key: the suffix after "*", e.g. ".example.com"
	anyHost  *hostTable            // routes without hosts; nil if there are none
	routes   []*routeInfo          // every route, in config order
	services []*upstream           // every service, in config order
}

// hostTable holds the routes reachable for one host key.
type hostTable struct {
	// prefixes maps a path prefix ("" for routes without paths) to its
	// candidates, most specific first.
	prefixes map[string][]*compiledRoute
	lengths  lengthSet
}

// routeInfo is what every path of one configured route shares.
type routeInfo struct {
	name      string
	stripPath bool
	service   *upstream
	chain     []Policy // the route's policies, outermost first; empty for now
	// handler is chain wrapped around the proxy. The gateway sets it after
	// compile and before publishing the router.
	handler Handler
}

// compiledRoute is one (route, path) pair: what match returns.
type compiledRoute struct {
	*routeInfo
	prefix  string    // the matched path prefix; "" when the route has no paths
	methods methodSet // empty: any method
	order   int       // index of the route in the config, for ties
}

// match returns the most specific route for the request, or nil. host may
// carry a port and any case. It does not allocate.
func (r *router) match(method, host, path string) *compiledRoute {
	m := methodBit(method)
	var buf [maxHostLen]byte
	if n := normalizeHost(&buf, host); n > 0 {
		if cr := r.matchHost(buf[:n], m, path); cr != nil {
			return cr
		}
	}
	if r.anyHost == nil {
		return nil
	}
	return r.anyHost.match(m, path)
}

// matchHost tries the exact table of host, then its wildcard tables from
// the longest suffix to the shortest.
func (r *router) matchHost(host []byte, m methodSet, path string) *compiledRoute {
	if t := r.exact[string(host)]; t != nil {
		if cr := t.match(m, path); cr != nil {
			return cr
		}
	}
	if len(r.wildcard) == 0 {
		return nil
	}
	for i := 1; i < len(host); i++ {
		if host[i] != '.' {
			continue
		}
		if t := r.wildcard[string(host[i:])]; t != nil {
			if cr := t.match(m, path); cr != nil {
				return cr
			}
		}
	}
	return nil
}

// match tries the prefixes of path that may match, longest first: the
// whole path, then at each '/' both the prefix ending in '/' and the one
// ending just before it (a segment boundary), and last "" (no paths).
func (t *hostTable) match(m methodSet, path string) *compiledRoute {
	if cr := t.lookup(m, path); cr != nil {
		return cr
	}
	for i := len(path) - 1; i >= 0; i-- {
		if path[i] != '/' {
			continue
		}
		if i+1 < len(path) {
			if cr := t.lookup(m, path[:i+1]); cr != nil {
				return cr
			}
		}
		if i > 0 {
			if cr := t.lookup(m, path[:i]); cr != nil {
				return cr
			}
		}
	}
	if path == "" {
		return nil
	}
	return t.lookup(m, "")
}

// lookup returns the first candidate for exactly prefix that allows m.
func (t *hostTable) lookup(m methodSet, prefix string) *compiledRoute {
	if !t.lengths.has(len(prefix)) {
		return nil
	}
	for _, cr := range t.prefixes[prefix] {
		if cr.methods.allows(m) {
			return cr
		}
	}
	return nil
}
