package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// PluginCache is the name of the response-caching plugin.
const PluginCache = "cache"

// Defaults and bounds of the cache plugin.
const (
	// DefaultCacheMemoryBytes is an instance's memory cap by default.
	DefaultCacheMemoryBytes = 64 << 20
	// DefaultCacheMaxEntryBytes is the largest cached response by default.
	DefaultCacheMaxEntryBytes = 1 << 20
)

// CacheConfig is the config of a cache plugin: a shared HTTP cache
// (RFC 9111) in front of the routes it applies to. It stores GET and HEAD
// responses that the upstream's Cache-Control, Expires and Vary allow a
// shared cache to store, revalidates stale ones with If-None-Match, and
// answers X-Cache: HIT, MISS or BYPASS.
//
//	plugins:
//	  - name: cache
//	    route: catalog
//	    config: {ttl: 30s, max_ttl: 10m, memory_bytes: 134217728, key: [consumer]}
//
// The cache key is always the method, route, host, path and query; Key
// adds request facts to it so that responses that depend on them are
// never served to another caller.
type CacheConfig struct {
	// TTL is the freshness given to a response without Cache-Control
	// max-age/s-maxage or Expires whose status is heuristically cacheable
	// (200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501). Default 0:
	// such responses are not cached.
	TTL Duration `json:"ttl,omitempty"`
	// MaxTTL caps the freshness an upstream grants (max-age, s-maxage,
	// Expires). Default 0: no cap.
	MaxTTL Duration `json:"max_ttl,omitempty"`
	// MaxEntryBytes is the largest body cached; larger responses stream
	// through uncached. Default DefaultCacheMaxEntryBytes.
	MaxEntryBytes int64 `json:"max_entry_bytes,omitempty"`
	// MemoryBytes caps the memory of this plugin instance's cache; the
	// least recently used responses are evicted to stay under it.
	// Default DefaultCacheMemoryBytes.
	MemoryBytes int64 `json:"memory_bytes,omitempty"`
	// Key lists what else identifies a cached response: "consumer" (the
	// authenticated consumer) or "header:<Name>" (a request header).
	Key []string `json:"key,omitempty"`
}

// EffectiveMemoryBytes returns MemoryBytes with the default applied.
func (c CacheConfig) EffectiveMemoryBytes() int64 {
	if c.MemoryBytes <= 0 {
		return DefaultCacheMemoryBytes
	}
	return c.MemoryBytes
}

// EffectiveMaxEntryBytes returns MaxEntryBytes with the default applied,
// never above the memory cap.
func (c CacheConfig) EffectiveMaxEntryBytes() int64 {
	n := c.MaxEntryBytes
	if n <= 0 {
		n = DefaultCacheMaxEntryBytes
	}
	return min(n, c.EffectiveMemoryBytes())
}

// ParseCacheConfig decodes and validates a cache plugin config. Errors
// carry field paths relative to the plugin's config; an unknown field is
// reported at its own path.
func ParseCacheConfig(raw json.RawMessage) (CacheConfig, []FieldError) {
	var c CacheConfig
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return c, []FieldError{{Message: "invalid cache config: must be an object: " + err.Error()}}
	}
	targets := map[string]any{
		"ttl": &c.TTL, "max_ttl": &c.MaxTTL, "max_entry_bytes": &c.MaxEntryBytes,
		"memory_bytes": &c.MemoryBytes, "key": &c.Key,
	}
	var errs []FieldError
	for _, name := range slices.Sorted(maps.Keys(fields)) {
		target, ok := targets[name]
		if !ok {
			errs = append(errs, FieldError{Path: name, Message: fmt.Sprintf("unknown field (known: %s)",
				strings.Join(slices.Sorted(maps.Keys(targets)), ", "))})
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(fields[name]))
		dec.DisallowUnknownFields()
		if err := dec.Decode(target); err != nil {
			errs = append(errs, FieldError{Path: name, Message: "invalid value: " + err.Error()})
		}
	}
	if len(errs) > 0 {
		return c, errs
	}
	return c, c.check()
}

// check validates the decoded values.
func (c CacheConfig) check() []FieldError {
	var errs []FieldError
	add := func(path, format string, args ...any) {
		errs = append(errs, FieldError{Path: path, Message: fmt.Sprintf(format, args...)})
	}
	if c.TTL < 0 {
		add("ttl", "must not be negative")
	}
	if c.MaxTTL < 0 {
		add("max_ttl", "must not be negative")
	}
	if c.MaxTTL > 0 && c.TTL > c.MaxTTL {
		add("ttl", "must not exceed max_ttl (%s)", time.Duration(c.MaxTTL))
	}
	if c.MemoryBytes < 0 {
		add("memory_bytes", "must not be negative")
	}
	if c.MaxEntryBytes < 0 {
		add("max_entry_bytes", "must not be negative")
	} else if c.MaxEntryBytes > c.EffectiveMemoryBytes() {
		add("max_entry_bytes", "must not exceed memory_bytes (%d)", c.EffectiveMemoryBytes())
	}
	for i, k := range c.Key {
		if msg := checkCacheKeyPart(k, c.Key[:i]); msg != "" {
			add(fmt.Sprintf("key[%d]", i), "%s", msg)
		}
	}
	return errs
}

// checkCacheKeyPart returns why one key part is invalid, or "".
func checkCacheKeyPart(k string, before []string) string {
	name, isHeader := strings.CutPrefix(k, "header:")
	switch {
	case k == "query":
		return `the query string is always part of the key; use "consumer" or "header:<Name>"`
	case isHeader && !validHeaderName(name):
		return fmt.Sprintf("invalid header name %q", name)
	case !isHeader && k != "consumer":
		return fmt.Sprintf("must be consumer or header:<Name>, not %q", k)
	}
	for _, b := range before {
		if strings.EqualFold(b, k) {
			return fmt.Sprintf("duplicate key part %q", k)
		}
	}
	return ""
}
