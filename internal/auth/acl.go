package auth

import (
	"net/http"
	"slices"

	"github.com/tollgate/tollgate/dataplane"
	"github.com/tollgate/tollgate/store"
)

// ACL is the acl plugin's policy: it lets through the authenticated
// consumers whose groups the config allows. It runs after an
// authentication policy, which sets RequestContext.Consumer.
type ACL struct {
	allowed map[string]bool // consumer username → may pass
}

var _ dataplane.Policy = (*ACL)(nil)

// NewACL builds an acl policy, deciding once for every consumer from its
// groups: refused if any is denied; with an allow list, refused unless
// one is allowed.
func NewACL(cfg ACLConfig, consumers []store.Consumer, _ Options) (*ACL, error) {
	if err := revalidate(store.PluginACL, cfg, store.ParseACLConfig); err != nil {
		return nil, err
	}
	p := &ACL{allowed: make(map[string]bool, len(consumers))}
	for _, c := range consumers {
		p.allowed[c.Username] = permitted(cfg, c.Groups)
	}
	return p, nil
}

// permitted applies the allow and deny lists to a consumer's groups.
func permitted(cfg ACLConfig, groups []string) bool {
	inAny := func(list []string) bool {
		return slices.ContainsFunc(groups, func(g string) bool { return slices.Contains(list, g) })
	}
	if inAny(cfg.Deny) {
		return false
	}
	return len(cfg.Allow) == 0 || inAny(cfg.Allow)
}

// Name names the policy in recorded spans (dataplane.Named).
func (p *ACL) Name() string { return "auth:acl" }

// Wrap answers 403 for an anonymous request or a consumer the ACL does
// not allow, and otherwise runs next.
func (p *ACL) Wrap(next dataplane.Handler) dataplane.Handler {
	return func(rc *dataplane.RequestContext) {
		if p.Before(rc) {
			next(rc)
		}
	}
}

// Before lets the request on if its consumer is allowed, and answers 403
// otherwise (a dataplane.InlinePolicy).
func (p *ACL) Before(rc *dataplane.RequestContext) bool {
	switch {
	case rc.Consumer == "":
		reject(rc, http.StatusForbidden, "forbidden", errNoConsumer.Error(), "")
	case !p.allowed[rc.Consumer]:
		reject(rc, http.StatusForbidden, "forbidden", errConsumerDenied.Error(), "")
	default:
		return true
	}
	return false
}
