package cache

import (
	"net/http"
	"time"

	"github.com/tollgate/tollgate/dataplane"
)

// fetch passes the request on to the upstream (through next) without the
// client's conditional fields, streams the response to the client while
// capturing it, and stores it when it may. A stale entry, when not nil,
// is revalidated: the upstream's 304 refreshes it and it is served. fetch
// returns the entry stored (or refreshed), nil when none.
func (p *Policy) fetch(rc *dataplane.RequestContext, next dataplane.Handler, k key, stale *entry) *entry {
	in, w := rc.Request, rc.Writer
	out := in.Clone(in.Context())
	for _, name := range conditionalHeaders {
		delete(out.Header, name)
	}
	if stale != nil {
		setValidators(out.Header, stale.header)
	}
	auth := authenticated(rc)
	c := newCapture(w, in, auth, p, stale != nil)
	rc.Request, rc.Writer, rc.CacheStatus = out, c, StatusMiss
	reqTime := p.now()
	next(rc)
	c.delivered = rc.ResponseComplete()
	rc.Request, rc.Writer = in, w
	switch {
	case !c.wroteHeader:
		return nil // nothing came back (the client left)
	case c.swallowed:
		return p.refresh(rc, k, stale, c, reqTime)
	}
	e := p.keep(c, in.Header, reqTime)
	if e == nil || !p.store.put(k.full, k.res, e) {
		if c.passable() {
			p.store.markPass(k.full, k.res, c.respTime.Add(passTTL))
		}
		if stale != nil {
			p.store.remove(k.full) // the new response replaces it
		}
		return nil
	}
	return e
}

// keep builds the entry of a captured response, or returns nil when it
// is not to be stored: not storable, not complete, or neither fresh
// under the config nor revalidatable.
func (p *Policy) keep(c *capture, req http.Header, reqTime time.Time) *entry {
	if !c.storable || !c.complete() {
		return nil
	}
	h := c.stored()
	if c.fresh.ttl(p.ttl, p.maxTTL) <= 0 && !hasValidator(h) {
		return nil
	}
	body := c.storedBody(h)
	return newEntry(c.status, h, body, req, c.fresh, initialAge(c.header, reqTime, c.respTime), c.respTime)
}

// passable reports whether a response that was not stored tells that
// the resource is not cacheable (so misses on it need not wait for each
// other), rather than that this one attempt failed.
func (c *capture) passable() bool {
	understood, _ := statusClass(c.status)
	return understood && !c.failed && (!c.storable || c.tooBig || c.complete())
}

// refresh updates a stale entry with the fields of the upstream's 304
// (RFC 9111 4.3.4), stores it if it may still be stored, and serves it.
func (p *Policy) refresh(rc *dataplane.RequestContext, k key, stale *entry, c *capture, reqTime time.Time) *entry {
	h := stale.header.Clone()
	for name, vv := range c.stored() {
		if name != "Content-Length" {
			h[name] = vv
		}
	}
	f, ok := analyze(stale.status, h, authenticated(rc), c.respTime)
	e := newEntry(stale.status, h, stale.body, rc.Request.Header, f, initialAge(c.header, reqTime, c.respTime), c.respTime)
	stored := ok && (f.ttl(p.ttl, p.maxTTL) > 0 || hasValidator(h)) && p.store.put(k.full, k.res, e)
	if !stored {
		p.store.remove(k.full)
	}
	p.hit(rc, e)
	if !stored {
		return nil
	}
	return e
}

// authenticated reports whether a request carries credentials: an
// Authorization field, or a consumer an auth policy identified (which
// may have removed the field before the cache saw it).
func authenticated(rc *dataplane.RequestContext) bool {
	_, ok := rc.Request.Header["Authorization"]
	return ok || rc.Consumer != ""
}
