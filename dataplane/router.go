package dataplane

import (
	"net/http"
	"regexp"
	"strings"
)

// router is a compiled, immutable routing table, safe for concurrent use.
//
// Routes are grouped first by host: one table per exact host, one per
// wildcard suffix ("*.example.com" is keyed ".example.com") and one for
// routes without hosts. Within a table, exact paths sit in a map, regex
// paths in a list, and prefixes in a map by prefix. match walks the host
// tables from most to least specific and, in each, tries the exact path,
// the regexes (each behind a literal-prefix check), then the request
// path's candidate prefixes from longest to shortest, so a lookup costs a
// few map probes that depend on the request, not on how many routes there
// are.
//
// Every candidate list is sorted by priority, then specificity, then
// config order. Without explicit priorities the first match wins; with
// them, the walk goes on only while a table may still hold a route of
// higher priority than the best so far (maxPriority).
type router struct {
	exact       map[string]*hostTable
	wildcard    map[string]*hostTable // key: the suffix after "*", e.g. ".example.com"
	anyHost     *hostTable            // routes without hosts; nil if there are none
	routes      []*routeInfo          // every route, in config order
	services    []*upstream           // every service, in config order
	maxPriority int                   // the highest priority of any route
}

// hostTable holds the routes reachable for one host key.
type hostTable struct {
	// prefixes maps a path prefix ("" for routes without paths) to its
	// candidates, best first.
	prefixes map[string][]*compiledRoute
	lengths  lengthSet
	exact    map[string][]*compiledRoute // exact paths
	regexes  []*compiledRoute            // regex paths, best first
	// maxPriority is the highest priority in the table, maxPrefix that of
	// its prefix routes.
	maxPriority, maxPrefix int
}

// routeInfo is what every path of one configured route shares.
type routeInfo struct {
	name      string
	stripPath bool
	service   *upstream
	rewrite   *rewrite   // nil: keep the path
	mirror    *mirror    // nil: no mirroring
	maxBody   int64      // request body limit; 0: none
	chain     []Policy   // the route's policies, outermost first
	matchers  matcherSet // headers and query
	priority  int
	// handler is chain wrapped around the proxy. The gateway sets it after
	// compile and before publishing the router.
	handler Handler
}

// pathKind tells how a compiledRoute matches the path.
type pathKind uint8

const (
	kindPrefix pathKind = iota
	kindExact
	kindRegex
)

// compiledRoute is one (route, path) pair: what match returns.
type compiledRoute struct {
	*routeInfo
	kind    pathKind
	prefix  string         // the prefix or exact path; "" when the route has no paths
	re      *regexp.Regexp // kindRegex
	literal string         // a prefix of every path re matches
	methods methodSet      // empty: any method
	rank    int            // specificity: the number of method, header and query matchers
	order   int            // index of the route in the config, for ties
}

// request is what routing looks at, gathered once per request.
type request struct {
	method   methodSet
	path     string
	header   http.Header
	rawQuery string
}

// allows reports whether the route's non-path matchers accept q.
func (cr *compiledRoute) allows(q *request) bool {
	return cr.methods.allows(q.method) && cr.matchers.match(q)
}

// beats reports whether cr wins over best: only a higher priority beats a
// match found earlier, which is the more specific one.
func beats(cr, best *compiledRoute) bool {
	return best == nil || cr.priority > best.priority
}

// match returns the best route for a request without headers or query,
// or nil. host may carry a port and any case. It does not allocate.
func (r *router) match(method, host, path string) *compiledRoute {
	return r.matchRequest(&request{method: methodBit(method), path: path}, host)
}

// route returns the best route for an HTTP request, or nil.
func (r *router) route(req *http.Request) *compiledRoute {
	q := request{method: methodBit(req.Method), path: req.URL.Path, header: req.Header, rawQuery: req.URL.RawQuery}
	return r.matchRequest(&q, req.Host)
}

// matchRequest tries the host tables of host, then the host-less table.
func (r *router) matchRequest(q *request, host string) *compiledRoute {
	var best *compiledRoute
	var buf [maxHostLen]byte
	if n := normalizeHost(&buf, host); n > 0 {
		best = r.matchHost(buf[:n], q)
		if best != nil && best.priority >= r.maxPriority {
			return best
		}
	}
	if r.anyHost == nil {
		return best
	}
	return r.anyHost.match(q, best)
}

// matchHost tries the exact table of host, then its wildcard tables from
// the longest suffix to the shortest.
func (r *router) matchHost(host []byte, q *request) *compiledRoute {
	var best *compiledRoute
	if t := r.exact[string(host)]; t != nil {
		best = t.match(q, nil)
	}
	if len(r.wildcard) == 0 {
		return best
	}
	for i := 1; i < len(host); i++ {
		if best != nil && best.priority >= r.maxPriority {
			return best
		}
		if host[i] != '.' {
			continue
		}
		if t := r.wildcard[string(host[i:])]; t != nil {
			best = t.match(q, best)
		}
	}
	return best
}

// match returns the better of best and the table's best route for q.
func (t *hostTable) match(q *request, best *compiledRoute) *compiledRoute {
	if best != nil && best.priority >= t.maxPriority {
		return best
	}
	if len(t.exact) > 0 {
		if cr := firstAllowed(t.exact[q.path], q); cr != nil && beats(cr, best) {
			best = cr
		}
	}
	for _, cr := range t.regexes {
		if best != nil && cr.priority <= best.priority {
			break
		}
		if strings.HasPrefix(q.path, cr.literal) && cr.allows(q) && cr.re.MatchString(q.path) {
			best = cr
			break
		}
	}
	return t.matchPrefix(q, best)
}

// matchPrefix tries the prefixes of path that may match, longest first:
// the whole path, then at each '/' both the prefix ending in '/' and the
// one ending just before it (a segment boundary), and last "" (no paths).
func (t *hostTable) matchPrefix(q *request, best *compiledRoute) *compiledRoute {
	path := q.path
	done := func() bool { return best != nil && best.priority >= t.maxPrefix }
	try := func(prefix string) {
		if cr := t.lookup(q, prefix); cr != nil && beats(cr, best) {
			best = cr
		}
	}
	if done() {
		return best
	}
	try(path)
	for i := len(path) - 1; i >= 0 && !done(); i-- {
		if path[i] != '/' {
			continue
		}
		if i+1 < len(path) {
			try(path[:i+1])
		}
		if i > 0 && !done() {
			try(path[:i])
		}
	}
	if path != "" && !done() {
		try("")
	}
	return best
}

// lookup returns the first candidate for exactly prefix that allows q.
func (t *hostTable) lookup(q *request, prefix string) *compiledRoute {
	if !t.lengths.has(len(prefix)) {
		return nil
	}
	return firstAllowed(t.prefixes[prefix], q)
}

func firstAllowed(list []*compiledRoute, q *request) *compiledRoute {
	for _, cr := range list {
		if cr.allows(q) {
			return cr
		}
	}
	return nil
}
