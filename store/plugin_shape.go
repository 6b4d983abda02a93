package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// PluginResponseShape is the name of the response field-shaping plugin.
const PluginResponseShape = "response-shape"

// Limits of the response-shape plugin.
const (
	// DefaultShapeMaxBodyBytes is the largest response shaped by default.
	DefaultShapeMaxBodyBytes = 1 << 20
	// MaxShapeMaxBodyBytes bounds ShapeConfig.MaxBodyBytes.
	MaxShapeMaxBodyBytes = 64 << 20
	maxShapeFields       = 1000
)

// ShapeRule is a projection of a JSON response. Fields are dotted paths
// ("price.amount"); a path through an array applies to each element, and
// a body that is an array is projected element-wise. Include keeps only
// the listed fields (all when empty); Exclude then drops its fields.
type ShapeRule struct {
	Include []string `json:"include,omitempty"`
	Exclude []string `json:"exclude,omitempty"`
}

// Empty reports whether the rule keeps the response as it is.
func (r ShapeRule) Empty() bool { return len(r.Include) == 0 && len(r.Exclude) == 0 }

// ShapeConfig is the config of a response-shape plugin: it projects the
// JSON responses of the routes it applies to, without any change to the
// upstream. The rule of the first of the consumer's groups (in the
// consumer's order) that Groups names replaces the default rule; an empty
// group rule leaves that group's answers as they are.
//
//	plugins:
//	  - name: response-shape
//	    route: product
//	    config:
//	      exclude: [internal_notes]
//	      groups:
//	        mobile: {include: [id, name, price.amount, images.url]}
//
// Only 2xx JSON answers without a Content-Encoding, up to MaxBodyBytes,
// are shaped; anything else passes through unchanged.
type ShapeConfig struct {
	ShapeRule
	// Groups maps a consumer group to its rule.
	Groups map[string]ShapeRule `json:"groups,omitempty"`
	// MaxBodyBytes is the largest response buffered and shaped (default
	// DefaultShapeMaxBodyBytes, at most MaxShapeMaxBodyBytes).
	MaxBodyBytes int64 `json:"max_body_bytes,omitempty"`
}

// EffectiveMaxBodyBytes returns MaxBodyBytes with the default applied.
func (c ShapeConfig) EffectiveMaxBodyBytes() int64 {
	if c.MaxBodyBytes <= 0 {
		return DefaultShapeMaxBodyBytes
	}
	return c.MaxBodyBytes
}

// ParseShapeConfig decodes and validates a response-shape plugin config.
// Errors carry field paths relative to the plugin's config.
func ParseShapeConfig(raw json.RawMessage) (ShapeConfig, []FieldError) {
	var c ShapeConfig
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return c, []FieldError{{Message: "invalid response-shape config: " + err.Error()}}
	}
	var errs []FieldError
	errs = append(errs, checkShapeRule("", c.ShapeRule)...)
	for _, g := range slices.Sorted(maps.Keys(c.Groups)) {
		if g == "" {
			errs = append(errs, FieldError{Path: "groups", Message: "empty group name"})
		}
		errs = append(errs, checkShapeRule("groups."+g, c.Groups[g])...)
	}
	if c.MaxBodyBytes < 0 || c.MaxBodyBytes > MaxShapeMaxBodyBytes {
		errs = append(errs, FieldError{Path: "max_body_bytes", Message: fmt.Sprintf("must be between 0 and %d", MaxShapeMaxBodyBytes)})
	}
	if c.ShapeRule.Empty() && len(c.Groups) == 0 {
		errs = append(errs, FieldError{Message: "needs include, exclude or groups"})
	}
	return c, errs
}

// checkShapeRule checks the field paths of a rule at path p.
func checkShapeRule(p string, r ShapeRule) []FieldError {
	var errs []FieldError
	for _, list := range [...]struct {
		name   string
		fields []string
	}{{"include", r.Include}, {"exclude", r.Exclude}} {
		if len(list.fields) > maxShapeFields {
			errs = append(errs, FieldError{Path: joinPath(p, list.name), Message: fmt.Sprintf("at most %d fields", maxShapeFields)})
		}
		for i, f := range list.fields {
			if msg := checkFieldPath(f, list.fields[:i]); msg != "" {
				errs = append(errs, FieldError{Path: fmt.Sprintf("%s[%d]", joinPath(p, list.name), i), Message: msg})
			}
		}
	}
	return errs
}

// checkFieldPath returns why a dotted field path is invalid, or "".
func checkFieldPath(f string, before []string) string {
	if f == "" || slices.Contains(strings.Split(f, "."), "") {
		return fmt.Sprintf("invalid field path %q (dotted names, none empty)", f)
	}
	if slices.Contains(before, f) {
		return fmt.Sprintf("duplicate field %q", f)
	}
	return ""
}
