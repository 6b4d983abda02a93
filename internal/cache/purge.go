package cache

import "strings"

// Purger drops cached responses on this node. *Registry implements it
// for all cache plugin instances; the admin API may declare the subset
// it needs. Each method returns the number of cache keys dropped.
type Purger interface {
	// PurgeAll drops everything cached.
	PurgeAll() int
	// PurgeRoute drops every response cached for the named route.
	PurgeRoute(route string) int
	// PurgeKey drops the responses cached for a request target of a
	// route ("" for every route), whatever the method, host, consumer,
	// key headers and Vary. A target with a query ("/items?page=2")
	// matches exactly; one without ("/items") matches the path with any
	// query. The path is matched as escaped in the request.
	PurgeKey(route, target string) int
}

var (
	_ Purger = (*Registry)(nil)
	_ Purger = (*Store)(nil)
)

// PurgeAll implements Purger.
func (r *Registry) PurgeAll() int {
	return r.sum(func(s *Store) int { return s.PurgeAll() })
}

// PurgeRoute implements Purger.
func (r *Registry) PurgeRoute(route string) int {
	return r.sum(func(s *Store) int { return s.PurgeRoute(route) })
}

// PurgeKey implements Purger.
func (r *Registry) PurgeKey(route, target string) int {
	return r.sum(func(s *Store) int { return s.PurgeKey(route, target) })
}

// sum applies purge to every Store and adds up the keys dropped.
func (r *Registry) sum(purge func(*Store) int) int {
	n := 0
	for _, s := range r.all() {
		n += purge(s)
	}
	return n
}

// PurgeAll implements Purger.
func (s *Store) PurgeAll() int {
	return s.dropWhere(func(*node) bool { return true })
}

// PurgeRoute implements Purger.
func (s *Store) PurgeRoute(route string) int {
	return s.dropWhere(func(n *node) bool { return n.res.route == route })
}

// PurgeKey implements Purger.
func (s *Store) PurgeKey(route, target string) int {
	path, query, exact := strings.Cut(target, "?")
	if route == "" {
		return s.dropWhere(func(n *node) bool {
			return n.res.path == path && (!exact || n.res.query == query)
		})
	}
	return s.dropPath(resource{route: route, path: path}, query, exact)
}

// invalidate drops what is cached for one request target of a route, as
// after a successful unsafe request to it (RFC 9111 4.4).
func (s *Store) invalidate(res resource) int {
	return s.dropPath(resource{route: res.route, path: res.path}, res.query, true)
}

// dropPath drops the keys of route and path, with query when exact.
func (s *Store) dropPath(p resource, query string, exact bool) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for nd := range s.byPath[p] {
		if !exact || nd.res.query == query {
			s.drop(nd)
			n++
		}
	}
	return n
}

// dropWhere drops every key whose node matches.
func (s *Store) dropWhere(match func(*node) bool) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, nd := range s.nodes {
		if match(nd) {
			s.drop(nd)
			n++
		}
	}
	return n
}
