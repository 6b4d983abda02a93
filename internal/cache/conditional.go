package cache

import (
	"net/http"
	"strings"
)

// conditionalHeaders are the request fields that make a request
// conditional. The cache removes the client's before it fetches a response
// to store, so that it gets the full response, and evaluates them itself.
var conditionalHeaders = [...]string{"If-None-Match", "If-Modified-Since", "If-Match", "If-Unmodified-Since", "If-Range"}

// notModified reports whether a GET or HEAD with the header h may be
// answered 304 from a stored response with the header stored (RFC 9110
// 13.1.2 and 13.1.3, 13.2.2): If-None-Match matches its ETag by weak
// comparison, or, without If-None-Match, it was not modified since
// If-Modified-Since.
func notModified(h, stored http.Header) bool {
	if inm := h["If-None-Match"]; len(inm) > 0 {
		etag := stored.Get("Etag")
		return anyETag(inm) || (etag != "" && matchesETag(inm, etag))
	}
	ims := h.Get("If-Modified-Since")
	if ims == "" {
		return false
	}
	since, err := http.ParseTime(ims)
	if err != nil {
		return false
	}
	modified, err := http.ParseTime(stored.Get("Last-Modified"))
	if err != nil {
		return false
	}
	return !modified.After(since)
}

// matchesETag reports whether one of the entity-tags in the
// If-None-Match lines equals etag by weak comparison.
func matchesETag(lines []string, etag string) bool {
	want := opaqueTag(etag)
	for _, line := range lines {
		for t := range strings.SplitSeq(line, ",") {
			if t = strings.TrimSpace(t); t != "*" && t != "" && opaqueTag(t) == want {
				return true
			}
		}
	}
	return false
}

// anyETag reports whether If-None-Match is "*", which any stored
// representation matches.
func anyETag(lines []string) bool {
	return len(lines) == 1 && strings.TrimSpace(lines[0]) == "*"
}

// opaqueTag drops the weakness indicator of an entity-tag.
func opaqueTag(t string) string {
	return strings.TrimPrefix(t, "W/")
}

// setValidators makes h a conditional request for the stored header: its
// ETag in If-None-Match and its Last-Modified in If-Modified-Since.
func setValidators(h, stored http.Header) {
	if etag := stored.Get("Etag"); etag != "" {
		h["If-None-Match"] = []string{etag}
	}
	if lm := stored.Get("Last-Modified"); lm != "" {
		h["If-Modified-Since"] = []string{lm}
	}
}

// hasValidator reports whether a stored response can be revalidated.
func hasValidator(stored http.Header) bool {
	return stored.Get("Etag") != "" || stored.Get("Last-Modified") != ""
}
