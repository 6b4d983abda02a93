package dataplane

import (
	"fmt"
	"maps"
	"net/http"
	"net/textproto"
	"slices"

	"github.com/tollgate/tollgate/store"
)

// transformPolicy applies a route's header transforms: the request's
// before the rest of the chain, the response's when the answer's headers
// are written (gateway errors included).
type transformPolicy struct {
	req, resp *headerOps
}

var _ Policy = (*transformPolicy)(nil)

// newTransformPolicy compiles a route's header transforms; nil when the
// route has none.
func newTransformPolicy(rt *store.Route) (*transformPolicy, error) {
	req, err := compileHeaderOps(rt.RequestHeaders)
	if err != nil {
		return nil, fmt.Errorf("request_headers: %w", err)
	}
	resp, err := compileHeaderOps(rt.ResponseHeaders)
	if err != nil {
		return nil, fmt.Errorf("response_headers: %w", err)
	}
	if req == nil && resp == nil {
		return nil, nil
	}
	return &transformPolicy{req: req, resp: resp}, nil
}

var _ InlinePolicy = (*transformPolicy)(nil)

// Wrap implements Policy.
func (p *transformPolicy) Wrap(next Handler) Handler {
	return func(rc *RequestContext) {
		p.Before(rc)
		next(rc)
	}
}

// Before transforms the request's headers and puts the response's
// transform in front of rc.Writer; the request always goes on. It makes
// the transforms an InlinePolicy, which the event loops run.
func (p *transformPolicy) Before(rc *RequestContext) bool {
	if p.req != nil {
		p.req.apply(rc.Request.Header, rc)
	}
	if p.resp != nil {
		rc.hw = headerWriter{ResponseWriter: rc.Writer, ops: p.resp, rc: rc}
		rc.Writer = &rc.hw
	}
	return true
}

// headerOps is a compiled store.HeaderTransform; names are canonical and
// each step is sorted by name, so the result does not depend on map order.
type headerOps struct {
	remove []string
	rename [][2]string
	set    []headerValue
	add    []headerValue
}

type headerValue struct {
	name  string
	value template
}

func compileHeaderOps(t *store.HeaderTransform) (*headerOps, error) {
	if t == nil {
		return nil, nil
	}
	ops := &headerOps{}
	for _, name := range t.Remove {
		ops.remove = append(ops.remove, textproto.CanonicalMIMEHeaderKey(name))
	}
	for _, from := range slices.Sorted(maps.Keys(t.Rename)) {
		ops.rename = append(ops.rename, [2]string{textproto.CanonicalMIMEHeaderKey(from), textproto.CanonicalMIMEHeaderKey(t.Rename[from])})
	}
	var err error
	if ops.set, err = compileHeaderValues(t.Set); err != nil {
		return nil, fmt.Errorf("set: %w", err)
	}
	if ops.add, err = compileHeaderValues(t.Add); err != nil {
		return nil, fmt.Errorf("add: %w", err)
	}
	return ops, nil
}

func compileHeaderValues(m map[string]string) ([]headerValue, error) {
	var out []headerValue
	for _, name := range slices.Sorted(maps.Keys(m)) {
		t, err := compileTemplate(m[name])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		out = append(out, headerValue{textproto.CanonicalMIMEHeaderKey(name), t})
	}
	return out, nil
}

// apply runs remove, rename, set and add on h for the request rc.
func (o *headerOps) apply(h http.Header, rc *RequestContext) {
	for _, name := range o.remove {
		if name == "Content-Type" || name == "Date" {
			h[name] = nil // net/http would add these back unless present and empty
			continue
		}
		delete(h, name)
	}
	for _, r := range o.rename {
		if vv := h[r[0]]; len(vv) > 0 {
			delete(h, r[0])
			h[r[1]] = append(h[r[1]], vv...)
		}
	}
	for _, s := range o.set {
		h[s.name] = []string{s.value.headerValue(rc)}
	}
	for _, a := range o.add {
		h[a.name] = append(h[a.name], a.value.headerValue(rc))
	}
}

// headerWriter applies response header transforms just before the status
// line is written. It is embedded in RequestContext.
type headerWriter struct {
	http.ResponseWriter
	ops  *headerOps
	rc   *RequestContext
	done bool
}

// WriteHeader transforms the headers of a final status and writes it.
func (w *headerWriter) WriteHeader(code int) {
	if !w.done && code >= 200 {
		w.done = true
		w.ops.apply(w.Header(), w.rc)
	}
	w.ResponseWriter.WriteHeader(code)
}

// Write writes the status first if needed, so the transform applies.
func (w *headerWriter) Write(b []byte) (int, error) {
	if !w.done {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

// Flush passes on a flush, writing the status first if needed.
func (w *headerWriter) Flush() {
	if !w.done {
		w.WriteHeader(http.StatusOK)
	}
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *headerWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
