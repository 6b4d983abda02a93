package store

import (
	"encoding/json"
	"fmt"
)

// checkPluginConfig validates a plugin config against the schema of the
// plugin it names, with paths relative to the config. known is false for
// a plugin whose schema the store does not know.
func checkPluginConfig(name string, raw json.RawMessage) (errs []FieldError, known bool) {
	switch name {
	case PluginRateLimit:
		_, errs = ParseRateLimitConfig(raw)
		return errs, true
	}
	return nil, false
}

// pluginConfig validates plugins[i].config against its plugin's schema.
func (v *validator) pluginConfig(i int, pl Plugin) {
	raw := pl.Config
	if len(raw) == 0 {
		raw = json.RawMessage("{}")
	}
	errs, _ := checkPluginConfig(pl.Name, raw)
	for _, fe := range errs {
		path := fmt.Sprintf("plugins[%d].config", i)
		if fe.Path != "" {
			path += "." + fe.Path
		}
		v.errs = append(v.errs, FieldError{Path: path, Message: fe.Message})
	}
}
