package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// PluginRateLimit is the name of the rate-limiting plugin.
const PluginRateLimit = "rate-limit"

// RateLimitConfig is the config of a rate-limit plugin: at most Limit
// requests per Window for each distinct key, counted across the cluster.
//
//	plugins:
//	  - name: rate-limit
//	    route: orders
//	    config: {limit: 100, window: minute, key: [consumer, ip]}
type RateLimitConfig struct {
	// Limit is the number of requests admitted per window (> 0).
	Limit int64 `json:"limit"`
	// Window is "second", "minute", "hour" or a duration such as "10s".
	Window string `json:"window"`
	// Key lists what identifies a caller: "consumer", "ip", "route",
	// "service" or "header:<Name>". The parts are joined. Default: ["ip"].
	Key []string `json:"key,omitempty"`
}

// WindowDuration returns the window as a duration.
func (c RateLimitConfig) WindowDuration() (time.Duration, error) {
	switch c.Window {
	case "second":
		return time.Second, nil
	case "minute":
		return time.Minute, nil
	case "hour":
		return time.Hour, nil
	case "":
		return 0, fmt.Errorf("is required (second, minute, hour or a duration)")
	}
	d, err := time.ParseDuration(c.Window)
	if err != nil || d < time.Millisecond || d%time.Millisecond != 0 || d > 24*time.Hour {
		return 0, fmt.Errorf("must be second, minute, hour or a whole number of milliseconds up to 24h, not %q", c.Window)
	}
	return d, nil
}

// KeyParts returns Key, or the default when it is empty.
func (c RateLimitConfig) KeyParts() []string {
	if len(c.Key) == 0 {
		return []string{"ip"}
	}
	return c.Key
}

// ParseRateLimitConfig decodes and validates a rate-limit plugin config.
// Errors carry field paths relative to the plugin's config.
func ParseRateLimitConfig(raw json.RawMessage) (RateLimitConfig, []FieldError) {
	var c RateLimitConfig
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return c, []FieldError{{Message: "invalid rate-limit config: " + err.Error()}}
	}
	var errs []FieldError
	if c.Limit <= 0 {
		errs = append(errs, FieldError{Path: "limit", Message: "must be greater than 0"})
	}
	if _, err := c.WindowDuration(); err != nil {
		errs = append(errs, FieldError{Path: "window", Message: err.Error()})
	}
	for i, k := range c.Key {
		name, ok := strings.CutPrefix(k, "header:")
		if (ok && name == "") || (!ok && k != "consumer" && k != "ip" && k != "route" && k != "service") {
			errs = append(errs, FieldError{Path: fmt.Sprintf("key[%d]", i),
				Message: fmt.Sprintf("must be consumer, ip, route, service or header:<Name>, not %q", k)})
		}
	}
	return c, errs
}
