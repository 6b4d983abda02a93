package dataplane

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/tollgate/tollgate/store"
)

// compile builds the routing table of cfg. It does not modify cfg and does
// not keep references into it. Errors wrap ErrInvalidConfig.
func compile(cfg *store.Config) (*router, error) {
	if cfg == nil {
		return nil, fmt.Errorf("%w: nil config", ErrInvalidConfig)
	}
	r := &router{exact: map[string]*hostTable{}, wildcard: map[string]*hostTable{}}
	byName := make(map[string]*upstream, len(cfg.Services))
	for i := range cfg.Services {
		u, err := newUpstream(&cfg.Services[i])
		if err != nil {
			return nil, err
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
	svc := services[rt.Service]
	if svc == nil {
		return fmt.Errorf("%w: route %q: unknown service %q", ErrInvalidConfig, rt.Name, rt.Service)
	}
	methods, err := compileMethods(rt.Methods)
	if err != nil {
		return fmt.Errorf("route %q: %w", rt.Name, err)
	}
	tables, err := r.tablesFor(rt.Hosts)
	if err != nil {
		return fmt.Errorf("route %q: %w", rt.Name, err)
	}
	paths, err := routePaths(rt.Paths)
	if err != nil {
		return fmt.Errorf("route %q: %w", rt.Name, err)
	}
	info := &routeInfo{name: rt.Name, stripPath: rt.StripPath, service: svc}
	r.routes = append(r.routes, info)
	for i, p := range paths {
		if slices.Contains(paths[:i], p) {
			continue
		}
		cr := &compiledRoute{routeInfo: info, prefix: p, methods: methods, order: order}
		for _, t := range tables {
			t.add(cr)
		}
	}
	return nil
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

// routePaths checks a route's path prefixes; no paths means every path,
// which the tables key as "".
func routePaths(paths []string) ([]string, error) {
	if len(paths) == 0 {
		return []string{""}, nil
	}
	for _, p := range paths {
		if !strings.HasPrefix(p, "/") {
			return nil, fmt.Errorf("%w: path %q must start with /", ErrInvalidConfig, p)
		}
	}
	return paths, nil
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
	return &hostTable{prefixes: map[string][]*compiledRoute{}}
}

func (t *hostTable) add(cr *compiledRoute) {
	t.prefixes[cr.prefix] = append(t.prefixes[cr.prefix], cr)
	t.lengths.add(len(cr.prefix))
}

// sortCandidates orders every candidate list most specific first: routes
// with methods before routes without, then config order.
func (r *router) sortCandidates() {
	byOrder := func(a, b *compiledRoute) int {
		if a.methods != 0 && b.methods == 0 {
			return -1
		}
		if a.methods == 0 && b.methods != 0 {
			return 1
		}
		return cmp.Compare(a.order, b.order)
	}
	tables := slices.Collect(maps.Values(r.exact))
	tables = slices.AppendSeq(tables, maps.Values(r.wildcard))
	if r.anyHost != nil {
		tables = append(tables, r.anyHost)
	}
	for _, t := range tables {
		for _, list := range t.prefixes {
			slices.SortStableFunc(list, byOrder)
		}
	}
}
