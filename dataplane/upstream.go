package dataplane

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/tollgate/tollgate/store"
)

// Defaults for a service's timeouts when the config leaves them zero.
const (
	defaultConnectTimeout = 5 * time.Second
	defaultTimeout        = 60 * time.Second
)

// upstream is a compiled service: where to send requests and how long to
// wait for them.
type upstream struct {
	name           string
	scheme, host   string // host includes the port, if any
	path, rawPath  string // the URL's base path, decoded and escaped; "" if none
	rawQuery       string // the URL's query, added before the request's
	connectTimeout time.Duration
	timeout        time.Duration // dial to response headers
	// transport is the shared connection pool; the gateway sets it after
	// compile and before publishing the router.
	transport http.RoundTripper
}

// newUpstream compiles a service. Errors wrap ErrInvalidConfig.
func newUpstream(s *store.Service) (*upstream, error) {
	u, err := url.Parse(s.URL)
	if err != nil {
		return nil, fmt.Errorf("%w: service %q: %w", ErrInvalidConfig, s.Name, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("%w: service %q: url %q needs an http or https scheme and a host", ErrInvalidConfig, s.Name, s.URL)
	}
	up := &upstream{
		name: s.Name, scheme: u.Scheme, host: u.Host, rawQuery: u.RawQuery,
		connectTimeout: orDefault(s.ConnectTimeout.Std(), defaultConnectTimeout),
		timeout:        orDefault(s.Timeout.Std(), defaultTimeout),
	}
	if u.Path != "" && u.Path != "/" {
		up.path, up.rawPath = u.Path, u.EscapedPath()
	}
	return up, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// target returns the upstream URL for a request URL in that matched prefix.
// With strip set the prefix is removed first; a path in the service URL
// is put in front.
func (u *upstream) target(in *url.URL, prefix string, strip bool) *url.URL {
	p, raw := in.Path, in.RawPath
	if strip {
		p = stripPrefix(p, prefix)
		if raw != "" {
			raw = stripPrefix(raw, prefix)
		}
	}
	out := &url.URL{Scheme: u.scheme, Host: u.host, Path: joinPath(u.path, p), RawQuery: u.query(in.RawQuery)}
	if raw != "" {
		// url.URL ignores RawPath when it does not encode Path.
		out.RawPath = joinPath(u.rawPath, raw)
	}
	return out
}

// query joins the service URL's query and the request's.
func (u *upstream) query(q string) string {
	switch {
	case u.rawQuery == "":
		return q
	case q == "":
		return u.rawQuery
	}
	return u.rawQuery + "&" + q
}

// stripPrefix removes a matched path prefix and keeps the result rooted: a
// prefix ending in '/' keeps that slash. The whole path stripped gives "".
func stripPrefix(path, prefix string) string {
	if prefix == "" || !strings.HasPrefix(path, prefix) {
		return path
	}
	if strings.HasSuffix(prefix, "/") {
		return path[len(prefix)-1:]
	}
	return path[len(prefix):]
}

// joinPath puts base (no trailing slash needed) in front of p, which is ""
// or starts with '/'.
func joinPath(base, p string) string {
	switch {
	case p == "" && base == "":
		return "/"
	case p == "":
		return base
	case base == "":
		return p
	}
	return strings.TrimSuffix(base, "/") + p
}
