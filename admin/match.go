package admin

import (
	"encoding/json"
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
		"plugins": s.routePlugins(route),
	})
}

// matchedPlugin is one plugin of a matched route's chain.
type matchedPlugin struct {
	Name string `json:"name"`
	// Scope is where the instance is attached: "route", "service" or
	// "global".
	Scope  string          `json:"scope"`
	Config json.RawMessage `json:"config,omitempty"`
}

// routePlugins lists the plugins that run for the named route, in chain
// order, on this node's config; empty without a route or Deps.Chain.
func (s *Server) routePlugins(name string) []matchedPlugin {
	out := []matchedPlugin{}
	cfg := s.deps.Config.Current()
	if s.deps.Chain == nil || name == "" || cfg == nil {
		return out
	}
	for i := range cfg.Routes {
		if cfg.Routes[i].Name != name {
			continue
		}
		for _, p := range s.deps.Chain(cfg, &cfg.Routes[i]) {
			scope := "global"
			switch {
			case p.Route != "":
				scope = "route"
			case p.Service != "":
				scope = "service"
			}
			out = append(out, matchedPlugin{Name: p.Name, Scope: scope, Config: p.Config})
		}
	}
	return out
}
