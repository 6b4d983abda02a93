package dataplane

import (
	"cmp"
	"fmt"
	"maps"
	"math"
	"net/textproto"
	"slices"
	"strings"

	"github.com/tollgate/tollgate/store"
)

// compile builds the routing table of cfg. It does not modify cfg and does
// not keep references into it. Errors wrap ErrInvalidConfig.
func compile(cfg *store.Config) (*router, error) {
	return compileWith(cfg, nil)
}

// compileWith is compile reusing the upstreams in prev (by name) whose
// service definition did not change, so that their health state, counters
// and health checks carry over.
func compileWith(cfg *store.Config, prev map[string]*upstream) (*router, error) {
	if cfg == nil {
		return nil, fmt.Errorf("%w: nil config", ErrInvalidConfig)
	}
	r := &router{exact: map[string]*hostTable{}, wildcard: map[string]*hostTable{}, maxPriority: math.MinInt}
	byName := make(map[string]*upstream, len(cfg.Services))
	for i := range cfg.Services {
		u, err := newUpstream(&cfg.Services[i])
		if err != nil {
			return nil, err
		}
		if old := prev[u.name]; old != nil && old.fingerprint == u.fingerprint {
			u = old
		}
		byName[u.name] = u
		r.services = append(r.services, u)
	}
	for i := range cfg.Routes {
		if err := r.add(&cfg.Routes[i], i, byName); err != nil {
			return nil, err
		}
	}
	r.sortCandidates()
	return r, nil
}

// add compiles one route into every host table it belongs to.
func (r *router) add(rt *store.Route, order int, services map[string]*upstream) error {
	info, methods, err := newRouteInfo(rt, services)
	if err != nil {
		return fmt.Errorf("%w: route %q: %w", ErrInvalidConfig, rt.Name, err)
	}
	tables, err := r.tablesFor(rt.Hosts)
	if err != nil {
		return fmt.Errorf("route %q: %w", rt.Name, err)
	}
	paths, err := routePaths(rt.Paths)
	if err != nil {
		return fmt.Errorf("%w: route %q: %w", ErrInvalidConfig, rt.Name, err)
	}
	if info.rewrite, err = compileRewrite(rt.Rewrite); err != nil {
		return fmt.Errorf("%w: route %q: rewrite: %w", ErrInvalidConfig, rt.Name, err)
	}
	r.routes = append(r.routes, info)
	r.maxPriority = max(r.maxPriority, info.priority)
	rank := info.matchers.count()
	if methods != 0 {
		rank++
	}
	for i, p := range paths {
		if slices.ContainsFunc(paths[:i], func(q store.RoutePath) bool { return q.Kind == p.Kind && q.Value == p.Value }) {
			continue
		}
		cr := &compiledRoute{routeInfo: info, kind: pathKind(p.Kind), prefix: p.Value, re: p.Regexp,
			literal: p.Literal, methods: methods, rank: rank, order: order}
		if p.Kind == store.PathRegex {
			cr.prefix = ""
		}
		for _, t := range tables {
			t.add(cr)
		}
	}
	return nil
}

// newRouteInfo compiles what every path of a route shares.
func newRouteInfo(rt *store.Route, services map[string]*upstream) (*routeInfo, methodSet, error) {
	svc, err := routeService(rt, services)
	if err != nil {
		return nil, 0, err
	}
	methods, err := compileMethods(rt.Methods)
	if err != nil {
		return nil, 0, err
	}
	info := &routeInfo{name: rt.Name, stripPath: rt.StripPath, service: svc, priority: rt.Priority,
		maxBody: rt.MaxBodyBytes, matchers: compileMatchers(rt)}
	if info.mirror, err = compileMirror(rt.Mirror, services); err != nil {
		return nil, 0, err
	}
	if pol, err := newTransformPolicy(rt); err != nil {
		return nil, 0, err
	} else if pol != nil {
		info.chain = append(info.chain, pol)
	}
	if agg, err := compileAggregate(rt, services); err != nil {
		return nil, 0, err
	} else if agg != nil {
		info.chain = append(info.chain, agg) // answers in place of the proxy
	}
	return info, methods, nil
}

// compileMatchers turns header and query matchers into sorted lists.
func compileMatchers(rt *store.Route) matcherSet {
	var m matcherSet
	for _, name := range slices.Sorted(maps.Keys(rt.Headers)) {
		m.headers = append(m.headers, valueMatcher{textproto.CanonicalMIMEHeaderKey(name), rt.Headers[name]})
	}
	for _, name := range slices.Sorted(maps.Keys(rt.Query)) {
		m.query = append(m.query, valueMatcher{name, rt.Query[name]})
	}
	return m
}

// tablesFor returns the host tables of a route's hosts, creating them as
// needed; a route without hosts goes to the host-less table.
func (r *router) tablesFor(hosts []string) ([]*hostTable, error) {
	if len(hosts) == 0 {
		if r.anyHost == nil {
			r.anyHost = newHostTable()
		}
		return []*hostTable{r.anyHost}, nil
	}
	tables := make([]*hostTable, 0, len(hosts))
	for _, h := range hosts {
		key, table, err := hostKey(h)
		if err != nil {
			return nil, err
		}
		m := r.exact
		if table == wildcardHost {
			m = r.wildcard
		}
		t := m[key]
		if t == nil {
			t = newHostTable()
			m[key] = t
		}
		if !slices.Contains(tables, t) {
			tables = append(tables, t)
		}
	}
	return tables, nil
}

// routePaths parses a route's paths; no paths means every path, which the
// tables key as the prefix "".
func routePaths(paths []string) ([]store.RoutePath, error) {
	if len(paths) == 0 {
		return []store.RoutePath{{Kind: store.PathPrefix}}, nil
	}
	out := make([]store.RoutePath, len(paths))
	for i, p := range paths {
		rp, err := store.ParseRoutePath(p)
		if err != nil {
			return nil, fmt.Errorf("path %q: %w", p, err)
		}
		out[i] = rp
	}
	return out, nil
}

// hostKind tells exact host names from "*." wildcards.
type hostKind int

const (
	exactHost hostKind = iota
	wildcardHost
)

// hostKey returns the table key of a configured host.
func hostKey(h string) (string, hostKind, error) {
	h = canonicalHost(h)
	kind := exactHost
	if strings.HasPrefix(h, "*.") {
		h, kind = h[1:], wildcardHost
	}
	if h == "" || h == "." || strings.ContainsAny(h, "*/ ") {
		return "", kind, fmt.Errorf("%w: invalid host %q", ErrInvalidConfig, h)
	}
	return h, kind, nil
}

// compileMethods turns a method list into a set; empty means any.
func compileMethods(methods []string) (methodSet, error) {
	var s methodSet
	for _, m := range methods {
		bit := methodBit(m)
		if bit == 0 {
			return 0, fmt.Errorf("%w: unknown method %q", ErrInvalidConfig, m)
		}
		s |= bit
	}
	return s, nil
}

func newHostTable() *hostTable {
	return &hostTable{prefixes: map[string][]*compiledRoute{}, maxPriority: math.MinInt, maxPrefix: math.MinInt}
}

func (t *hostTable) add(cr *compiledRoute) {
	t.maxPriority = max(t.maxPriority, cr.priority)
	switch cr.kind {
	case kindExact:
		if t.exact == nil {
			t.exact = map[string][]*compiledRoute{}
		}
		t.exact[cr.prefix] = append(t.exact[cr.prefix], cr)
	case kindRegex:
		t.regexes = append(t.regexes, cr)
	default:
		t.prefixes[cr.prefix] = append(t.prefixes[cr.prefix], cr)
		t.lengths.add(len(cr.prefix))
		t.maxPrefix = max(t.maxPrefix, cr.priority)
	}
}

// byPriority orders candidates best first: higher priority, then more
// matchers, then config order.
func byPriority(a, b *compiledRoute) int {
	if c := cmp.Compare(b.priority, a.priority); c != 0 {
		return c
	}
	if c := cmp.Compare(b.rank, a.rank); c != 0 {
		return c
	}
	return cmp.Compare(a.order, b.order)
}

// sortCandidates orders every candidate list best first.
func (r *router) sortCandidates() {
	tables := slices.Collect(maps.Values(r.exact))
	tables = slices.AppendSeq(tables, maps.Values(r.wildcard))
	if r.anyHost != nil {
		tables = append(tables, r.anyHost)
	}
	for _, t := range tables {
		for _, list := range t.prefixes {
			slices.SortStableFunc(list, byPriority)
		}
		for _, list := range t.exact {
			slices.SortStableFunc(list, byPriority)
		}
		// Regexes and templates are tried in this order, and the first
		// that matches wins: the same rule as the others' lists, so that
		// among equal priorities the route with more matchers goes first
		// and otherwise the one written first.
		slices.SortStableFunc(t.regexes, byPriority)
	}
}
