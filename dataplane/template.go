package dataplane

import (
	"net/url"
	"strings"

	"github.com/tollgate/tollgate/store"
)

// variable is what a template reference expands to.
type variable uint8

const (
	varLiteral variable = iota
	varRequestID
	varConsumer
	varClientIP
	varHost
	varMethod
	varPath
	varRoute
	varService
	varCapture // a path capture, by name
)

// lookupVariable returns the variable named name, or varLiteral if it is
// not one (then it names a capture).
func lookupVariable(name string) variable {
	switch name {
	case "request_id":
		return varRequestID
	case "consumer":
		return varConsumer
	case "client_ip":
		return varClientIP
	case "host":
		return varHost
	case "method":
		return varMethod
	case "path":
		return varPath
	case "route":
		return varRoute
	case "service":
		return varService
	}
	return varLiteral
}

// template is a compiled store template: literals and references.
type template []tmplPart

type tmplPart struct {
	lit  string   // varLiteral
	v    variable // what to expand
	name string   // varCapture: the capture's name
}

// compileTemplate parses s (see store.ParseTemplate).
func compileTemplate(s string) (template, error) {
	parts, err := store.ParseTemplate(s)
	if err != nil {
		return nil, err
	}
	t := make(template, len(parts))
	for i, p := range parts {
		switch {
		case p.Var == "":
			t[i] = tmplPart{lit: p.Literal}
		case lookupVariable(p.Var) != varLiteral:
			t[i] = tmplPart{v: lookupVariable(p.Var)}
		default:
			t[i] = tmplPart{v: varCapture, name: p.Var}
		}
	}
	return t, nil
}

// escaper encodes an expanded value for where the template is used.
type escaper func(dst []byte, v string) []byte

func appendRaw(dst []byte, v string) []byte { return append(dst, v...) }

func appendPathEscaped(dst []byte, v string) []byte {
	return append(dst, (&url.URL{Path: v}).EscapedPath()...)
}

func appendQueryEscaped(dst []byte, v string) []byte { return append(dst, url.QueryEscape(v)...) }

// appendHeaderSafe drops control characters, so that a value built from
// the request (a decoded capture) cannot split a header.
func appendHeaderSafe(dst []byte, v string) []byte {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c >= 0x20 && c != 0x7f || c == '\t' {
			dst = append(dst, c)
		}
	}
	return dst
}

// expand appends the template's value for rc to dst; references are
// encoded by esc, literals are copied.
func (t template) expand(dst []byte, rc *RequestContext, esc escaper) []byte {
	for _, p := range t {
		if p.v == varLiteral {
			dst = append(dst, p.lit...)
			continue
		}
		dst = esc(dst, rc.variable(p))
	}
	return dst
}

// headerValue expands the template for a header value.
func (t template) headerValue(rc *RequestContext) string {
	if len(t) == 1 && t[0].v == varLiteral {
		return t[0].lit
	}
	return string(t.expand(make([]byte, 0, 64), rc, appendHeaderSafe))
}

// variable returns the value of a template reference for the request.
func (rc *RequestContext) variable(p tmplPart) string {
	r := rc.Request
	switch p.v {
	case varRequestID:
		return rc.RequestID
	case varConsumer:
		return rc.Consumer
	case varClientIP:
		return clientIP(r)
	case varHost:
		return r.Host
	case varMethod:
		return r.Method
	case varPath:
		return r.URL.Path
	case varRoute:
		return rc.Route()
	case varService:
		return rc.Service()
	case varCapture:
		return rc.capture(p.name)
	}
	return ""
}

// capture returns the named capture of the matched regex path, "" when
// there is none. The submatches are computed once per request.
func (rc *RequestContext) capture(name string) string {
	cr := rc.route
	if cr == nil || cr.re == nil {
		return ""
	}
	loc := rc.submatches()
	i := cr.re.SubexpIndex(name)
	if i < 0 || 2*i+1 >= len(loc) || loc[2*i] < 0 {
		return ""
	}
	return rc.path[loc[2*i]:loc[2*i+1]]
}

// submatches returns the regex path's submatch indexes in rc.path.
func (rc *RequestContext) submatches() []int {
	if rc.loc == nil {
		rc.loc = rc.route.re.FindStringSubmatchIndex(rc.path)
		if rc.loc == nil {
			rc.loc = []int{} // no match (a policy changed the path): no captures
		}
	}
	return rc.loc
}

// rewrite is a compiled Route.Rewrite: a path template and a query
// template (after the first '?').
type rewrite struct {
	path, query template
}

func compileRewrite(s string) (*rewrite, error) {
	if s == "" {
		return nil, nil
	}
	t, err := compileTemplate(s)
	if err != nil {
		return nil, err
	}
	rw := &rewrite{path: t}
	for i, p := range t {
		if p.v != varLiteral {
			continue
		}
		if before, after, ok := strings.Cut(p.lit, "?"); ok {
			rw.path = append(append(template{}, t[:i]...), tmplPart{lit: before})
			rw.query = append(template{{lit: after}}, t[i+1:]...)
			break
		}
	}
	return rw, nil
}

// target builds the upstream URL of a rewritten request: the expanded
// path under the service's base path, then the template's query followed
// by the request's.
func (rw *rewrite) target(rc *RequestContext, up *upstream) *url.URL {
	p := string(rw.path.expand(nil, rc, appendRaw))
	raw := string(rw.path.expand(nil, rc, appendPathEscaped))
	q := string(rw.query.expand(nil, rc, appendQueryEscaped))
	switch orig := rc.Request.URL.RawQuery; {
	case q == "":
		q = orig
	case orig != "":
		q += "&" + orig
	}
	return up.targetPath(p, raw, q)
}
