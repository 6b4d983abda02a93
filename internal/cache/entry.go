package cache

import (
	"net/http"
	"slices"
	"strings"
	"time"
)

// entryOverhead is what an entry is charged beyond its header and body:
// an estimate of its structs, slices and map.
const entryOverhead = 256

// entry is one stored response. It is immutable once built: hits on many
// goroutines share it, and a refresh builds a new one.
type entry struct {
	status   int
	header   http.Header // stored fields; every value slice has len == cap
	body     []byte
	vary     []string // canonical names of the request fields in Vary
	varyVals []string // the request's values of those fields
	fresh    freshness
	initAge  time.Duration // corrected initial age (RFC 9111 4.2.3)
	respTime time.Time     // when the response (or its 304) arrived
	size     int64         // bytes charged against the memory cap
}

// newEntry builds an entry of a response to a request with the header
// req. It takes ownership of header and body.
func newEntry(status int, header http.Header, body []byte, req http.Header, f freshness, initAge time.Duration, respTime time.Time) *entry {
	header = detachHeader(header)
	e := &entry{status: status, header: header, body: body, fresh: f, initAge: initAge, respTime: respTime}
	e.vary = varyNames(header)
	e.varyVals = make([]string, len(e.vary))
	for i, name := range e.vary {
		e.varyVals[i] = varyValue(req, name)
	}
	e.size = entryOverhead + int64(len(body))
	for k, vv := range header {
		e.size += int64(len(k))
		for _, v := range vv {
			e.size += int64(len(v)) + 16
		}
	}
	for _, v := range e.varyVals {
		e.size += int64(len(v))
	}
	return e
}

// detachHeader copies h into one new map, names and values in one new
// string: what the upstream client parsed are slices of the whole
// response head, which a stored entry must not keep alive (its size
// counts only its own fields). Each value slice has no spare capacity, so
// an Add by a later writer copies it.
func detachHeader(h http.Header) http.Header {
	names := make([]string, 0, len(h)) // one order for both passes
	n, fields := 0, 0
	for k, vv := range h {
		names = append(names, k)
		n += len(k)
		for _, v := range vv {
			n += len(v)
		}
		fields += len(vv)
	}
	var b strings.Builder
	b.Grow(n)
	for _, k := range names {
		b.WriteString(k)
		for _, v := range h[k] {
			b.WriteString(v)
		}
	}
	all, at := b.String(), 0
	take := func(s string) string { at += len(s); return all[at-len(s) : at] }
	out := make(http.Header, len(h))
	values := make([]string, fields)
	for _, k := range names {
		vv, name := h[k], take(k)
		dst := values[:len(vv):len(vv)]
		values = values[len(vv):]
		for i, v := range vv {
			dst[i] = take(v)
		}
		out[name] = dst
	}
	return out
}

// age is the entry's current_age at now (RFC 9111 4.2.3).
func (e *entry) age(now time.Time) time.Duration {
	return e.initAge + max(now.Sub(e.respTime), 0)
}

// matches reports whether the entry may answer a request with the header
// h: every field its Vary names has the same value (RFC 9111 4.1).
func (e *entry) matches(h http.Header) bool {
	for i, name := range e.vary {
		if varyValue(h, name) != e.varyVals[i] {
			return false
		}
	}
	return true
}

// sameVary reports whether e and o vary on the same fields and values.
func (e *entry) sameVary(o *entry) bool {
	return slices.Equal(e.vary, o.vary) && slices.Equal(e.varyVals, o.varyVals)
}

// varyNames returns the canonical field names in Vary, sorted, without
// duplicates. A response with a Content-Encoding varies on
// Accept-Encoding even when the upstream forgot to say so.
func varyNames(h http.Header) []string {
	var names []string
	for _, line := range h["Vary"] {
		for name := range strings.SplitSeq(line, ",") {
			if name = strings.TrimSpace(name); name != "" {
				names = append(names, http.CanonicalHeaderKey(name))
			}
		}
	}
	if len(h["Content-Encoding"]) > 0 {
		names = append(names, "Accept-Encoding")
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// varyValue is a request field's value for matching: its lines joined,
// each trimmed, and "" only when the field is absent.
func varyValue(h http.Header, name string) string {
	vv, ok := h[name]
	if !ok {
		return ""
	}
	var b strings.Builder
	b.WriteByte('=')
	for i, v := range vv {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strings.TrimSpace(v))
	}
	return b.String()
}
