package auth

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/tollgate/tollgate/store"
)

// Plugin configs. The types live in store, which validates documents on
// write; these aliases let callers stay within this package.
type (
	// JWTConfig configures a jwt policy.
	JWTConfig = store.JWTConfig
	// KeyAuthConfig configures a key-auth policy.
	KeyAuthConfig = store.KeyAuthConfig
	// ACLConfig configures an acl policy.
	ACLConfig = store.ACLConfig
)

// ParseJWTConfig decodes a jwt plugin config strictly (unknown fields are
// errors) and validates it. Errors wrap ErrInvalidConfig and name fields
// by path, such as "algorithms[1]: unsupported \"none\"".
func ParseJWTConfig(raw json.RawMessage) (JWTConfig, error) {
	c, errs := store.ParseJWTConfig(raw)
	return c, fieldErrors(store.PluginJWT, errs)
}

// ParseKeyAuthConfig decodes and validates a key-auth plugin config like
// ParseJWTConfig.
func ParseKeyAuthConfig(raw json.RawMessage) (KeyAuthConfig, error) {
	c, errs := store.ParseKeyAuthConfig(raw)
	return c, fieldErrors(store.PluginKeyAuth, errs)
}

// ParseACLConfig decodes and validates an acl plugin config like
// ParseJWTConfig.
func ParseACLConfig(raw json.RawMessage) (ACLConfig, error) {
	c, errs := store.ParseACLConfig(raw)
	return c, fieldErrors(store.PluginACL, errs)
}

// fieldErrors joins field errors into one error wrapping ErrInvalidConfig.
func fieldErrors(plugin string, errs []store.FieldError) error {
	if len(errs) == 0 {
		return nil
	}
	parts := make([]string, len(errs))
	for i, fe := range errs {
		parts[i] = fe.String()
	}
	return fmt.Errorf("%w: %s: %s", ErrInvalidConfig, plugin, strings.Join(parts, "; "))
}

// revalidate checks a config built in code (not parsed) by its JSON form,
// so that constructors enforce the same rules as the store.
func revalidate[T any](plugin string, cfg T, parse func(json.RawMessage) (T, []store.FieldError)) error {
	raw, err := json.Marshal(cfg)
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrInvalidConfig, plugin, err)
	}
	_, errs := parse(raw)
	return fieldErrors(plugin, errs)
}
