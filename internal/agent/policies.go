package agent

import (
	"sync"

	"github.com/tollgate/tollgate/dataplane"
	"github.com/tollgate/tollgate/internal/auth"
	"github.com/tollgate/tollgate/internal/plugins"
	"github.com/tollgate/tollgate/store"
)

// policySource builds each config version's policy chains once (so a
// plugin instance shared by many routes is one policy) and hands the data
// plane one route's chain at a time. It closes a version's policies one
// version after they stop being served, so requests still in flight on
// the previous version finish on open policies.
type policySource struct {
	builder *plugins.Builder

	mu     sync.Mutex
	cfg    *store.Config
	chains *plugins.Chains
	prev   *plugins.Chains
}

// policies implements dataplane.Options.Policies.
func (p *policySource) policies(cfg *store.Config, route *store.Route) ([]dataplane.Policy, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cfg != cfg {
		chains, err := p.builder.Build(cfg)
		if err != nil {
			return nil, err
		}
		if p.prev != nil {
			_ = p.prev.Close()
		}
		p.prev, p.chains, p.cfg = p.chains, chains, cfg
	}
	return append([]dataplane.Policy{stripIdentity{}}, p.chains.For(route.Name)...), nil
}

// close releases the policies of the last two versions.
func (p *policySource) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range []*plugins.Chains{p.prev, p.chains} {
		if c != nil {
			_ = c.Close()
		}
	}
}

// stripIdentity removes identity headers a client sent (X-User-Id,
// X-User-Scopes, X-Consumer) on every route, so only an auth policy can
// set them and an upstream behind a route without auth is never fooled.
type stripIdentity struct{}

func (s stripIdentity) Wrap(next dataplane.Handler) dataplane.Handler {
	return func(rc *dataplane.RequestContext) {
		s.Before(rc)
		next(rc)
	}
}

// Before strips the headers; the request always goes on. It makes
// stripIdentity a dataplane.InlinePolicy, which the epoll engine runs on
// its event loop.
func (stripIdentity) Before(rc *dataplane.RequestContext) bool {
	auth.StripIdentity(rc.Request.Header)
	return true
}
