// Package shape implements the response-shape plugin: a policy that keeps
// or drops fields of a route's JSON responses (dotted paths, arrays
// projected element-wise), per route and per consumer group, without any
// change to the upstream. See store.ShapeConfig for the config.
package shape

import (
	"fmt"
	"net/http"

	"github.com/tollgate/tollgate/dataplane"
	"github.com/tollgate/tollgate/store"
)

// Policy is the response-shape plugin's policy. It runs after the
// authentication policies, which set the consumer whose groups choose the
// rule.
type Policy struct {
	def        *rule            // nil: the default keeps the answer as it is
	byConsumer map[string]*rule // the rule of the consumer's first group that has one
	limit      int64
}

var _ dataplane.Policy = (*Policy)(nil)

// New builds a response-shape policy from a validated config and the
// config's consumers, deciding once for every consumer which rule applies.
func New(cfg store.ShapeConfig, consumers []store.Consumer) (*Policy, error) {
	if cfg.MaxBodyBytes < 0 || cfg.MaxBodyBytes > store.MaxShapeMaxBodyBytes {
		return nil, fmt.Errorf("response-shape: max_body_bytes %d out of range", cfg.MaxBodyBytes)
	}
	p := &Policy{def: compileRule(cfg.ShapeRule), byConsumer: map[string]*rule{}, limit: cfg.EffectiveMaxBodyBytes()}
	groups := make(map[string]*rule, len(cfg.Groups))
	for name, r := range cfg.Groups {
		groups[name] = compileRule(r)
	}
	for _, c := range consumers {
		for _, g := range c.Groups {
			if r, ok := groups[g]; ok {
				p.byConsumer[c.Username] = r
				break
			}
		}
	}
	return p, nil
}

// ruleFor returns the rule for a consumer ("" when anonymous); nil means
// the answer is not shaped.
func (p *Policy) ruleFor(consumer string) *rule {
	if r, ok := p.byConsumer[consumer]; ok && consumer != "" {
		return r
	}
	return p.def
}

// Name names the policy in recorded spans (dataplane.Named).
func (p *Policy) Name() string { return "response-shape" }

// Wrap shapes the answer of next when a rule applies. It asks the
// upstream for an uncompressed answer, which it can shape.
func (p *Policy) Wrap(next dataplane.Handler) dataplane.Handler {
	return func(rc *dataplane.RequestContext) {
		r := p.ruleFor(rc.Consumer)
		if r == nil || rc.Request.Method == http.MethodHead {
			next(rc)
			return
		}
		rc.Request.Header.Del("Accept-Encoding")
		orig := rc.Writer
		w := &writer{ResponseWriter: orig, rule: r, limit: p.limit}
		rc.Writer = w
		next(rc)
		w.finish()
		rc.Writer = orig
	}
}
