package cache

import (
	"net/http"

	"github.com/tollgate/tollgate/dataplane"
)

// notModifiedFields are the stored fields a 304 from the cache carries
// (RFC 9110 15.4.5).
var notModifiedFields = [...]string{"Cache-Control", "Content-Location", "Date", "Etag", "Expires", "Last-Modified", "Vary"}

// hit answers the request from e: with Age and X-Cache: HIT, and with a
// 304 when the client's own conditional fields match e.
func (p *Policy) hit(rc *dataplane.RequestContext, e *entry) {
	rc.CacheStatus = StatusHit
	h := rc.Writer.Header()
	age := []string{ageSeconds(e.age(p.now()))}
	if notModified(rc.Request.Header, e.header) {
		for _, name := range notModifiedFields {
			if vv, ok := e.header[name]; ok {
				h[name] = vv
			}
		}
		h["Age"], h[headerXCache] = age, []string{StatusHit}
		rc.Writer.WriteHeader(http.StatusNotModified)
		return
	}
	for name, vv := range e.header {
		h[name] = vv
	}
	h["Age"], h[headerXCache] = age, []string{StatusHit}
	rc.Writer.WriteHeader(e.status)
	if rc.Request.Method != http.MethodHead && len(e.body) > 0 {
		_, _ = rc.Writer.Write(e.body)
	}
}
