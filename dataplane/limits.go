package dataplane

import (
	"fmt"
	"net/http"
)

// serverHeaderLimit is the header limit given to net/http: twice the
// gateway's own, so that requests between the two get the gateway's JSON
// 431 from checkHeaderSize. Beyond it net/http answers a plain 431 itself.
func serverHeaderLimit(limit int) int { return 2 * min(limit, maxHeaderLimit) }

// maxHeaderLimit bounds Options.MaxHeaderBytes where it is doubled, so
// that a huge limit cannot overflow into a small or negative one.
const maxHeaderLimit = 1 << 30

// headerSize approximates the size of the request head as sent: the
// request line and every header line.
func headerSize(r *http.Request) int {
	n := len(r.Method) + len(r.RequestURI) + len(r.Proto) + 4
	n += len("Host: ") + len(r.Host) + 2
	for k, vv := range r.Header {
		for _, v := range vv {
			n += len(k) + len(v) + 4
		}
	}
	return n
}

// limitBody rejects a request whose declared body exceeds the route's
// limit (or the gateway's) before anything is sent upstream, and arms the
// limit for bodies of unknown length.
func (g *Gateway) limitBody(rc *RequestContext) error {
	r := rc.Request
	limit := g.opts.MaxRequestBodyBytes
	if rc.route.maxBody > 0 {
		limit = rc.route.maxBody
	}
	if limit <= 0 {
		return nil
	}
	if r.ContentLength > limit {
		return fmt.Errorf("%w: %d bytes declared, the limit is %d", errBodyTooLarge, r.ContentLength, limit)
	}
	rc.bodyLimit = limit
	return nil
}
