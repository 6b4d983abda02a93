package store

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// PathKind tells the forms of a route path apart.
type PathKind int

// The forms of Route.Paths entries.
const (
	// PathPrefix matches the path and everything under it.
	PathPrefix PathKind = iota
	// PathExact matches only the path itself ("=/health").
	PathExact
	// PathRegex matches with a regular expression: "~/v1/(?<id>[0-9]+)",
	// or a template with placeholders "/v1/products/{id}".
	PathRegex
)

// RoutePath is one parsed entry of Route.Paths.
type RoutePath struct {
	Kind PathKind
	// Value is the prefix or exact path, or the regex as written.
	Value string
	// Regexp matches a PathRegex path, anchored at the start.
	Regexp *regexp.Regexp
	// Literal is a prefix of every path Regexp matches ("" if unknown).
	Literal string
	// Captures are the names of Regexp's named groups, in order.
	Captures []string
}

// IsVariable reports whether name is a variable that templates may use
// besides a route's captures (see HeaderTransform).
func IsVariable(name string) bool {
	switch name {
	case "request_id", "consumer", "client_ip", "host", "method", "path", "route", "service":
		return true
	}
	return false
}

// ParseRoutePath parses an entry of Route.Paths (see Route.Paths for the
// forms).
func ParseRoutePath(p string) (RoutePath, error) {
	switch {
	case strings.HasPrefix(p, "~"):
		return parseRegexPath(p[1:])
	case strings.HasPrefix(p, "="):
		if !strings.HasPrefix(p[1:], "/") {
			return RoutePath{}, errors.New("an exact path must start with =/")
		}
		return RoutePath{Kind: PathExact, Value: p[1:]}, nil
	case !strings.HasPrefix(p, "/"):
		return RoutePath{}, errors.New("must start with /, =/ (exact) or ~ (regex)")
	case strings.ContainsAny(p, "{}"):
		return parseTemplatePath(p)
	}
	return RoutePath{Kind: PathPrefix, Value: p}, nil
}

// parseRegexPath compiles a regex path, anchored at the start.
func parseRegexPath(expr string) (RoutePath, error) {
	bare := strings.TrimPrefix(expr, "^")
	re, err := regexp.Compile("^(?:" + bare + ")")
	if err != nil {
		return RoutePath{}, fmt.Errorf("invalid regex: %w", err)
	}
	lit, _ := regexp.MustCompile(bare).LiteralPrefix()
	rp := RoutePath{Kind: PathRegex, Value: expr, Regexp: re, Literal: lit}
	for _, name := range re.SubexpNames() {
		if name == "" {
			continue
		}
		if slices.Contains(rp.Captures, name) {
			return RoutePath{}, fmt.Errorf("capture %q is named twice", name)
		}
		rp.Captures = append(rp.Captures, name)
	}
	return rp, checkCaptureNames(rp.Captures)
}

// parseTemplatePath turns /v1/products/{id} into a regex matching the
// whole path, each {name} one non-empty segment.
func parseTemplatePath(p string) (RoutePath, error) {
	parts, err := ParseTemplate(p)
	if err != nil {
		return RoutePath{}, err
	}
	var b strings.Builder
	b.WriteString("^")
	rp := RoutePath{Kind: PathRegex, Value: p}
	for i, part := range parts {
		if part.Var == "" {
			b.WriteString(regexp.QuoteMeta(part.Literal))
			if i == 0 {
				rp.Literal = part.Literal
			}
			continue
		}
		if slices.Contains(rp.Captures, part.Var) {
			return RoutePath{}, fmt.Errorf("capture %q is named twice", part.Var)
		}
		rp.Captures = append(rp.Captures, part.Var)
		fmt.Fprintf(&b, "(?P<%s>[^/]+)", part.Var)
	}
	b.WriteString("$")
	rp.Regexp = regexp.MustCompile(b.String()) // literals are quoted, names checked
	return rp, checkCaptureNames(rp.Captures)
}

// checkCaptureNames rejects captures that would shadow a variable.
func checkCaptureNames(names []string) error {
	for _, n := range names {
		if IsVariable(n) {
			return fmt.Errorf("capture %q shadows the variable of that name", n)
		}
	}
	return nil
}

// TemplatePart is a piece of a parsed template: literal text, or the name
// of a variable or capture to expand.
type TemplatePart struct {
	Literal string
	Var     string
}

// ParseTemplate splits a template into literals and {name} references;
// "{{" is a literal "{". Names are letters, digits and underscores, not
// starting with a digit.
func ParseTemplate(s string) ([]TemplatePart, error) {
	var parts []TemplatePart
	var lit strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '{' && i+1 < len(s) && s[i+1] == '{':
			lit.WriteByte('{')
			i++
		case c == '{':
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				return nil, fmt.Errorf("unclosed { at offset %d", i)
			}
			name := s[i+1 : i+end]
			if !validVarName(name) {
				return nil, fmt.Errorf("invalid variable name %q", name)
			}
			if lit.Len() > 0 {
				parts = append(parts, TemplatePart{Literal: lit.String()})
				lit.Reset()
			}
			parts = append(parts, TemplatePart{Var: name})
			i += end
		default:
			lit.WriteByte(c)
		}
	}
	if lit.Len() > 0 {
		parts = append(parts, TemplatePart{Literal: lit.String()})
	}
	return parts, nil
}

func validVarName(n string) bool {
	if n == "" || ('0' <= n[0] && n[0] <= '9') {
		return false
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		if c != '_' && !('a' <= c && c <= 'z') && !('A' <= c && c <= 'Z') && !('0' <= c && c <= '9') {
			return false
		}
	}
	return true
}
