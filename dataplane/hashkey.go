package dataplane

import (
	"net/http"
	"net/textproto"
	"strings"

	"github.com/tollgate/tollgate/store"
)

// hashSource is what the consistent-hash balancer hashes.
type hashSource int

const (
	hashIP hashSource = iota
	hashHeader
	hashCookie
	hashConsumer
)

// hashSpec is a service's consistent-hash key.
type hashSpec struct {
	source hashSource
	name   string // canonical header name, or cookie name
}

func newHashSpec(s *store.Service) hashSpec {
	switch s.HashOn {
	case "header":
		return hashSpec{hashHeader, textproto.CanonicalMIMEHeaderKey(s.HashOnHeader)}
	case "cookie":
		return hashSpec{hashCookie, s.HashOnCookie}
	case "consumer":
		return hashSpec{source: hashConsumer}
	}
	return hashSpec{source: hashIP}
}

// key returns the hash of the request's key; without a header, cookie or
// consumer it falls back to the client address.
func (h hashSpec) key(rc *RequestContext) uint64 {
	var v string
	switch h.source {
	case hashHeader:
		if vv := rc.Request.Header[h.name]; len(vv) > 0 {
			v = vv[0]
		}
	case hashCookie:
		v = cookieValue(rc.Request.Header["Cookie"], h.name)
	case hashConsumer:
		v = rc.Consumer
	}
	if v == "" {
		v = clientIP(rc.Request)
	}
	return fnv1a(v)
}

// cookieValue finds a cookie in Cookie headers without parsing them all.
func cookieValue(headers []string, name string) string {
	for _, line := range headers {
		for line != "" {
			var part string
			part, line, _ = strings.Cut(line, ";")
			part = textproto.TrimString(part)
			if k, v, ok := strings.Cut(part, "="); ok && k == name {
				return strings.Trim(v, `"`)
			}
		}
	}
	return ""
}

// clientIP is the address of the client's side of the connection.
func clientIP(r *http.Request) string {
	addr := r.RemoteAddr
	if i := strings.LastIndexByte(addr, ':'); i >= 0 {
		addr = addr[:i]
	}
	return strings.Trim(addr, "[]")
}
