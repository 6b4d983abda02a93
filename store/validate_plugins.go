package store

import (
	"encoding/json"
	"fmt"
	"strings"
)

// checkPluginConfig validates a plugin config against the schema of the
// plugin it names, with paths relative to the config. known is false for
// a plugin whose schema the store does not know.
func checkPluginConfig(name string, raw json.RawMessage) (errs []FieldError, known bool) {
	switch name {
	case PluginRateLimit:
		_, errs = ParseRateLimitConfig(raw)
		return errs, true
	case PluginCache:
		_, errs = ParseCacheConfig(raw)
		return errs, true
	case PluginJWT, PluginKeyAuth, PluginACL:
		return nil, true // validated with the consumers, in validate_auth.go
	case PluginResponseShape:
		_, errs = ParseShapeConfig(raw)
		return errs, true
	}
	return nil, false
}

// KnownPlugins lists the plugin names this version of tollgate runs.
func KnownPlugins() []string {
	return []string{PluginJWT, PluginKeyAuth, PluginACL, PluginRateLimit, PluginResponseShape, PluginCache}
}

// pluginConfig validates plugins[i].config against its plugin's schema.
func (v *validator) pluginConfig(i int, pl Plugin) {
	raw := pl.Config
	if len(raw) == 0 {
		raw = json.RawMessage("{}")
	}
	errs, known := checkPluginConfig(pl.Name, raw)
	if !known && pl.Name != "" {
		v.addf(fmt.Sprintf("plugins[%d].name", i), "unknown plugin %q (known: %s)", pl.Name, strings.Join(KnownPlugins(), ", "))
		return
	}
	for _, fe := range errs {
		path := fmt.Sprintf("plugins[%d].config", i)
		if fe.Path != "" {
			path += "." + fe.Path
		}
		v.errs = append(v.errs, FieldError{Path: path, Message: fe.Message})
	}
}
