// Package plugins turns the plugins of a config document into each
// route's policy chain: it decides which plugin instances apply to a route
// (a route's own beat its service's, which beat global ones of the same
// name), orders them by phase (authentication, authorization, rate
// limiting, then the rest) and builds each with its package's
// constructor.
package plugins

import (
	"errors"
	"fmt"
	"sort"

	"github.com/tollgate/tollgate/dataplane"
	"github.com/tollgate/tollgate/internal/ratelimit"
	"github.com/tollgate/tollgate/store"
)

// ErrUnknownPlugin means a config names a plugin this binary lacks.
var ErrUnknownPlugin = errors.New("unknown plugin")

// Builder builds policy chains; it holds what plugins need at run time.
type Builder struct {
	// Limiter decides rate limits (the cluster-wide limiter).
	Limiter ratelimit.Decider
}

// phase orders plugins within a chain: lower runs first.
func phase(name string) int {
	switch name {
	case "key-auth", "jwt":
		return 10
	case "acl":
		return 20
	case store.PluginRateLimit:
		return 30
	}
	return 50
}

// Applicable returns the plugins that apply to route r, one per plugin
// name, most specific scope winning, in chain order.
func Applicable(cfg *store.Config, r *store.Route) []store.Plugin {
	chosen := map[string]store.Plugin{}
	rank := map[string]int{}
	for _, p := range cfg.Plugins {
		var level int
		switch {
		case p.Route != "" && p.Route == r.Name:
			level = 3
		case p.Route == "" && p.Service != "" && p.Service == r.Service:
			level = 2
		case p.Route == "" && p.Service == "":
			level = 1
		default:
			continue
		}
		if level > rank[p.Name] {
			chosen[p.Name], rank[p.Name] = p, level
		}
	}
	out := make([]store.Plugin, 0, len(chosen))
	for _, p := range chosen {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool {
		if pi, pj := phase(out[i].Name), phase(out[j].Name); pi != pj {
			return pi < pj
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// Build returns route r's policy chain.
func (b *Builder) Build(cfg *store.Config, r *store.Route) ([]dataplane.Policy, error) {
	var chain []dataplane.Policy
	for _, p := range Applicable(cfg, r) {
		pol, err := b.build(p, r)
		if err != nil {
			return nil, fmt.Errorf("route %q: plugin %q: %w", r.Name, p.Name, err)
		}
		chain = append(chain, pol)
	}
	return chain, nil
}

func (b *Builder) build(p store.Plugin, r *store.Route) (dataplane.Policy, error) {
	switch p.Name {
	case store.PluginRateLimit:
		cfg, errs := store.ParseRateLimitConfig(orEmpty(p.Config))
		if len(errs) > 0 {
			return nil, fmt.Errorf("config: %s", errs[0])
		}
		if b.Limiter == nil {
			return nil, errors.New("no limiter configured")
		}
		return ratelimit.New(cfg, scope(p), b.Limiter)
	}
	return nil, fmt.Errorf("%w %q", ErrUnknownPlugin, p.Name)
}

// scope names where a plugin instance is attached; a limit shared by a
// service's or all routes counts them together.
func scope(p store.Plugin) string {
	switch {
	case p.Route != "":
		return "route:" + p.Route
	case p.Service != "":
		return "service:" + p.Service
	}
	return "global"
}

func orEmpty(raw []byte) []byte {
	if len(raw) == 0 {
		return []byte("{}")
	}
	return raw
}
