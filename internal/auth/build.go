package auth

import (
	"fmt"

	"github.com/tollgate/tollgate/dataplane"
	"github.com/tollgate/tollgate/store"
)

// IsAuthPlugin reports whether Build builds the plugin named name.
func IsAuthPlugin(name string) bool {
	switch name {
	case store.PluginJWT, store.PluginKeyAuth, store.PluginACL:
		return true
	}
	return false
}

// Build parses the config of an auth plugin instance and builds its
// policy, with the config's consumers. A policy does not depend on the
// route, so one may serve every route the instance applies to. A jwt
// policy is an io.Closer: close it once it is replaced. Plugins this
// package does not implement give ErrNotAuthPlugin.
func Build(p store.Plugin, consumers []store.Consumer, opts Options) (dataplane.Policy, error) {
	switch p.Name {
	case store.PluginJWT:
		cfg, err := ParseJWTConfig(p.Config)
		if err != nil {
			return nil, err
		}
		return policyOrNil(NewJWT(cfg, consumers, opts))
	case store.PluginKeyAuth:
		cfg, err := ParseKeyAuthConfig(p.Config)
		if err != nil {
			return nil, err
		}
		return policyOrNil(NewKeyAuth(cfg, consumers, opts))
	case store.PluginACL:
		cfg, err := ParseACLConfig(p.Config)
		if err != nil {
			return nil, err
		}
		return policyOrNil(NewACL(cfg, consumers, opts))
	}
	return nil, fmt.Errorf("%w: %q", ErrNotAuthPlugin, p.Name)
}

// policyOrNil returns a nil interface, not a typed nil, on error.
func policyOrNil[P dataplane.Policy](p P, err error) (dataplane.Policy, error) {
	if err != nil {
		return nil, err
	}
	return p, nil
}
