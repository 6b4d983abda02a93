package admin

import (
	"net/http"
)

// RouteMatcher is implemented by a data plane that can tell which route
// a request would take. It is optional: without it GET /v1/routes/match
// answers 501.
type RouteMatcher interface {
	// MatchRoute returns the names of the route and service that serve a
	// request with method, host and path, or ok false if none does.
	MatchRoute(method, host, path string) (route, service string, ok bool)
}

// matchRoute answers which route the data plane would pick for
// ?method=&host=&path=, on this node's current config.
func (s *Server) matchRoute(w http.ResponseWriter, r *http.Request) {
	if s.deps.Matcher == nil {
		writeError(w, r, http.StatusNotImplemented, codeNotImplemented, errNoMatcher)
		return
	}
	q := r.URL.Query()
	method, host, path := q.Get("method"), q.Get("host"), q.Get("path")
	if method == "" || path == "" {
		writeError(w, r, http.StatusBadRequest, codeBadRequest, errMatchParams)
		return
	}
	if _, err := s.read(w, r); err != nil {
		fail(w, r, err)
		return
	}
	route, service, ok := s.deps.Matcher.MatchRoute(method, host, path)
	writeJSON(w, http.StatusOK, map[string]any{
		"matched": ok, "route": route, "service": service,
		"method": method, "host": host, "path": path,
	})
}
