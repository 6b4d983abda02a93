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
	"io"
	"sort"
	"sync"

	"github.com/tollgate/tollgate/dataplane"
	"github.com/tollgate/tollgate/internal/auth"
	"github.com/tollgate/tollgate/internal/cache"
	"github.com/tollgate/tollgate/internal/ratelimit"
	"github.com/tollgate/tollgate/internal/shape"
	"github.com/tollgate/tollgate/store"
)

// ErrUnknownPlugin means a config names a plugin this binary lacks.
var ErrUnknownPlugin = errors.New("unknown plugin")

// Builder builds policy chains; it holds what plugins need at run time.
type Builder struct {
	// Limiter decides rate limits (the cluster-wide limiter).
	Limiter ratelimit.Decider
	// Auth configures the jwt, key-auth and acl plugins; share one
	// auth.KeySets across versions so JWKS keys survive config changes.
	Auth auth.Options
	// Caches keeps the cache plugins' stores across config versions (so
	// a config change does not empty them) and purges them; share it
	// with the admin API. Nil: the Builder makes its own on first use.
	Caches *cache.Registry

	cachesOnce sync.Once
	ownCaches  *cache.Registry
}

// Chains are the policy chains of one config version, by route name.
type Chains struct {
	byRoute map[string][]dataplane.Policy
	closers []io.Closer
}

// For returns the chain of the named route, outermost policy first.
func (c *Chains) For(route string) []dataplane.Policy { return c.byRoute[route] }

// Close releases what the version's policies hold; call it once the
// version is replaced.
func (c *Chains) Close() error {
	var errs []error
	for _, cl := range c.closers {
		errs = append(errs, cl.Close())
	}
	return errors.Join(errs...)
}

// phase orders plugins within a chain: lower runs first.
func phase(name string) int {
	switch name {
	case store.PluginKeyAuth, store.PluginJWT:
		return 10
	case store.PluginACL:
		return 20
	case store.PluginRateLimit:
		return 30
	case store.PluginResponseShape:
		return 40 // outside a cache, so each group's view is cut from the full answer
	case store.PluginCache:
		return 45 // after auth and rate limits: keys may name the consumer
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

// Build builds every route's chain for cfg. Each plugin instance is
// built once and shared by the routes it applies to, so a global jwt
// plugin has one token cache, not one per route.
func (b *Builder) Build(cfg *store.Config) (*Chains, error) {
	c := &Chains{byRoute: make(map[string][]dataplane.Policy, len(cfg.Routes))}
	built := map[string]dataplane.Policy{}
	for i := range cfg.Routes {
		r := &cfg.Routes[i]
		for _, p := range Applicable(cfg, r) {
			id := store.PluginID(p)
			pol, ok := built[id]
			if !ok {
				var err error
				if pol, err = b.build(cfg, p); err != nil {
					c.Close()
					return nil, fmt.Errorf("plugin %q: %w", id, err)
				}
				built[id] = pol
				if cl, ok := pol.(io.Closer); ok {
					c.closers = append(c.closers, cl)
				}
			}
			c.byRoute[r.Name] = append(c.byRoute[r.Name], pol)
		}
	}
	return c, nil
}

func (b *Builder) build(cfg *store.Config, p store.Plugin) (dataplane.Policy, error) {
	switch {
	case p.Name == store.PluginRateLimit:
		rl, errs := store.ParseRateLimitConfig(orEmpty(p.Config))
		if len(errs) > 0 {
			return nil, fmt.Errorf("config: %s", errs[0])
		}
		if b.Limiter == nil {
			return nil, errors.New("no limiter configured")
		}
		return ratelimit.New(rl, scope(p), b.Limiter)
	case auth.IsAuthPlugin(p.Name):
		p.Config = orEmpty(p.Config)
		return auth.Build(p, cfg.Consumers, b.Auth)
	case p.Name == store.PluginResponseShape:
		sc, errs := store.ParseShapeConfig(orEmpty(p.Config))
		if len(errs) > 0 {
			return nil, fmt.Errorf("config: %s", errs[0])
		}
		return shape.New(sc, cfg.Consumers)
	case p.Name == store.PluginCache:
		cc, errs := store.ParseCacheConfig(orEmpty(p.Config))
		if len(errs) > 0 {
			return nil, fmt.Errorf("config: %s", errs[0])
		}
		return cache.New(cc, store.PluginID(p), b.caches()), nil
	}
	return nil, fmt.Errorf("%w %q", ErrUnknownPlugin, p.Name)
}

// caches returns Caches, or the Builder's own registry when it is nil.
func (b *Builder) caches() *cache.Registry {
	if b.Caches != nil {
		return b.Caches
	}
	b.cachesOnce.Do(func() { b.ownCaches = cache.NewRegistry() })
	return b.ownCaches
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
