package dataplane

import (
	"net/url"
	"strings"
)

// maxHostLen bounds the host names the router normalizes on the stack. DNS
// names are at most 253 bytes; a longer Host only matches host-less routes.
const maxHostLen = 255

// normalizeHost writes host into buf lower-cased, without port, IPv6
// brackets or trailing dot, and returns its length: 0 when host is empty or
// does not fit.
func normalizeHost(buf *[maxHostLen]byte, host string) int {
	host = strings.TrimSuffix(stripPort(host), ".")
	if len(host) > len(buf) {
		return 0
	}
	for i := 0; i < len(host); i++ {
		c := host[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	return len(host)
}

// canonicalHost is normalizeHost for config values, where allocating is fine.
func canonicalHost(host string) string {
	return strings.ToLower(strings.TrimSuffix(stripPort(host), "."))
}

// stripPort returns host without a ":port" suffix and without the brackets
// of an IPv6 literal. A bare IPv6 address (several colons) is kept whole.
func stripPort(host string) string {
	if strings.HasPrefix(host, "[") {
		if end := strings.IndexByte(host, ']'); end > 0 {
			return host[1:end]
		}
		return host
	}
	if i := strings.LastIndexByte(host, ':'); i >= 0 && strings.IndexByte(host, ':') == i {
		return host[:i]
	}
	return host
}

// methodSet is a set of HTTP methods as bits; the empty set allows any.
type methodSet uint16

// Bits of methodSet, one per method a route may list.
const (
	methodGet methodSet = 1 << iota
	methodHead
	methodPost
	methodPut
	methodPatch
	methodDelete
	methodOptions
	methodConnect
	methodTrace
)

// methodBit returns the bit of method, or 0 for a method no route can list.
func methodBit(method string) methodSet {
	switch method {
	case "GET":
		return methodGet
	case "HEAD":
		return methodHead
	case "POST":
		return methodPost
	case "PUT":
		return methodPut
	case "PATCH":
		return methodPatch
	case "DELETE":
		return methodDelete
	case "OPTIONS":
		return methodOptions
	case "CONNECT":
		return methodConnect
	case "TRACE":
		return methodTrace
	}
	return 0
}

// allows reports whether a request with method bit m passes the set.
func (s methodSet) allows(m methodSet) bool { return s == 0 || s&m != 0 }

// lengthSet records which path prefix lengths a host table holds, so that
// a lookup skips candidate lengths no prefix has without hashing them.
type lengthSet struct {
	bits [4]uint64 // lengths 0..255
	long bool      // some prefix is 256 bytes or longer
}

func (s *lengthSet) add(n int) {
	if n >= 256 {
		s.long = true
		return
	}
	s.bits[n>>6] |= 1 << (n & 63)
}

func (s *lengthSet) has(n int) bool {
	if n >= 256 {
		return s.long
	}
	return s.bits[n>>6]&(1<<(n&63)) != 0
}

// matcherSet is a route's header and query matchers; empty matches all.
type matcherSet struct {
	headers []valueMatcher // name is canonical
	query   []valueMatcher
}

// valueMatcher requires a header or query parameter, with one of values
// when there are any.
type valueMatcher struct {
	name   string
	values []string
}

func (m valueMatcher) accepts(v string) bool {
	if len(m.values) == 0 {
		return true
	}
	for _, want := range m.values {
		if v == want {
			return true
		}
	}
	return false
}

// count is the number of matchers, for specificity.
func (s *matcherSet) count() int { return len(s.headers) + len(s.query) }

// match reports whether q passes every matcher.
func (s *matcherSet) match(q *request) bool {
	for _, m := range s.headers {
		if !headerMatches(q.header[m.name], m) {
			return false
		}
	}
	for _, m := range s.query {
		if !queryMatches(q.rawQuery, m) {
			return false
		}
	}
	return true
}

func headerMatches(values []string, m valueMatcher) bool {
	for _, v := range values {
		if m.accepts(v) {
			return true
		}
	}
	return false
}

// queryMatches scans a raw query for the parameter without parsing it
// into a map; only escaped keys or values are unescaped.
func queryMatches(raw string, m valueMatcher) bool {
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		k, v, _ := strings.Cut(pair, "=")
		if k != m.name && !(needsUnescape(k) && unescapeQuery(k) == m.name) {
			continue
		}
		if needsUnescape(v) {
			v = unescapeQuery(v)
		}
		if m.accepts(v) {
			return true
		}
	}
	return false
}

func needsUnescape(s string) bool { return strings.ContainsAny(s, "%+") }

func unescapeQuery(s string) string {
	u, err := url.QueryUnescape(s)
	if err != nil {
		return s
	}
	return u
}
