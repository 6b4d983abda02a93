package cache

import (
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/tollgate/tollgate/dataplane"
	"github.com/tollgate/tollgate/store"
)

// Cache statuses, in the X-Cache header and RequestContext.CacheStatus.
// A response served from the cache after a 304 from the upstream, or to
// a request that waited for another's miss, is a HIT.
const (
	StatusHit    = "HIT"
	StatusMiss   = "MISS"
	StatusBypass = "BYPASS"
)

const headerXCache = "X-Cache"

// passTTL is how long misses on a key are not coalesced once its
// response turned out not cacheable, so that requests to an uncacheable
// resource do not queue behind each other. Such misses are still stored
// if their response is cacheable after all.
const passTTL = 30 * time.Second

// Policy is a cache plugin instance in one config version: a
// dataplane.Policy and an io.Closer. Instances with the same plugin id
// share a Store across versions through the Registry.
type Policy struct {
	reg    *Registry
	id     string
	store  *Store
	parts  []keyPart
	ttl    time.Duration
	maxTTL time.Duration
	// maxEntry is the largest body stored.
	maxEntry int64
	now      func() time.Time
	once     sync.Once
}

var _ dataplane.Policy = (*Policy)(nil)

// keyPart is one configured addition to the cache key.
type keyPart struct {
	consumer bool
	header   string // canonical name, when not consumer
}

// New builds the policy of plugin id (store.PluginID) for cfg, on the
// Store that reg keeps for id. Close it when its config version is
// replaced.
func New(cfg store.CacheConfig, id string, reg *Registry) *Policy {
	p := &Policy{
		reg: reg, id: id, ttl: cfg.TTL.Std(), maxTTL: cfg.MaxTTL.Std(),
		maxEntry: cfg.EffectiveMaxEntryBytes(), now: reg.now,
	}
	spec := make([]string, 0, len(cfg.Key))
	for _, k := range cfg.Key {
		part := keyPart{consumer: k == "consumer"}
		if name, ok := strings.CutPrefix(k, "header:"); ok {
			part.header = http.CanonicalHeaderKey(name)
		}
		p.parts = append(p.parts, part)
		spec = append(spec, "header:"+part.header)
		if part.consumer {
			spec[len(spec)-1] = "consumer"
		}
	}
	p.store = reg.acquire(id, strings.Join(spec, ","), cfg.EffectiveMemoryBytes())
	return p
}

// Close releases the policy's hold on its Store; the Store is dropped
// once no version uses the plugin any more.
func (p *Policy) Close() error {
	p.once.Do(func() { p.reg.release(p.id, p.store) })
	return nil
}

// Store returns the policy's Store.
func (p *Policy) Store() *Store { return p.store }

// Name names the policy in recorded spans (dataplane.Named).
func (p *Policy) Name() string { return "cache" }

// Wrap answers GET and HEAD requests from the cache when it can, and
// otherwise passes them on and stores what comes back.
func (p *Policy) Wrap(next dataplane.Handler) dataplane.Handler {
	return func(rc *dataplane.RequestContext) {
		if bypasses(rc.Request) {
			p.bypass(rc, next)
			return
		}
		rules := parseRequestRules(rc.Request.Header)
		if rc.Request.Method == http.MethodHead {
			// A fresh response to GET answers HEAD as well.
			k := p.key(rc, http.MethodGet)
			if e, _ := p.store.get(k.full, rc.Request.Header, p.now()); p.usable(e, rules) {
				p.hit(rc, e)
				return
			}
		}
		p.lookup(rc, next, p.key(rc, rc.Request.Method), rules)
	}
}

// lookup serves a fresh stored response, or fetches one: as the leader
// of the misses on the key, or after waiting for the leader when its
// response does not do.
func (p *Policy) lookup(rc *dataplane.RequestContext, next dataplane.Handler, k key, rules requestRules) {
	e, pass := p.store.get(k.full, rc.Request.Header, p.now())
	if p.usable(e, rules) {
		p.hit(rc, e)
		return
	}
	if pass {
		p.fetch(rc, next, k, revalidatable(e))
		return
	}
	f, leader := p.store.flights.join(k.full)
	if leader {
		var stored *entry
		defer func() { p.store.flights.finish(k.full, f, stored) }()
		stored = p.fetch(rc, next, k, revalidatable(e))
		return
	}
	// The leader's response is newer than this request: no-cache and
	// max-age are satisfied by it.
	if got, ok := f.wait(rc.Request.Context()); ok && got != nil && got.matches(rc.Request.Header) &&
		p.usable(got, requestRules{maxAge: -1}) {
		p.hit(rc, got)
		return
	}
	// Not cacheable, failed or another variant: go to the upstream alone.
	e, _ = p.store.get(k.full, rc.Request.Header, p.now())
	if p.usable(e, rules) {
		p.hit(rc, e)
		return
	}
	p.fetch(rc, next, k, revalidatable(e))
}

// usable reports whether e may answer a request with rules: it is fresh
// under the plugin's ttl and max_ttl, and young enough for the request.
func (p *Policy) usable(e *entry, rules requestRules) bool {
	if e == nil || rules.noCache {
		return false
	}
	age := e.age(p.now())
	if rules.maxAge >= 0 && age > time.Duration(rules.maxAge)*time.Second {
		return false
	}
	return e.fresh.ttl(p.ttl, p.maxTTL) > age
}

// revalidatable returns e if it can be revalidated, else nil.
func revalidatable(e *entry) *entry {
	if e != nil && hasValidator(e.header) {
		return e
	}
	return nil
}

// bypass passes a request the cache does not serve, and drops what is
// cached for its target after a successful unsafe request (RFC 9111 4.4).
func (p *Policy) bypass(rc *dataplane.RequestContext, next dataplane.Handler) {
	rc.CacheStatus = StatusBypass
	req, w := rc.Request, rc.Writer
	sw := &statusWriter{ResponseWriter: w}
	rc.Writer = sw
	next(rc)
	rc.Writer = w
	if unsafeMethod(req.Method) && sw.status >= 200 && sw.status < 400 {
		p.store.invalidate(resourceOf(rc.Route(), req))
	}
}

// unsafeMethod reports whether a method may change the resource.
func unsafeMethod(m string) bool {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return false
	}
	return true
}

// key is a request's cache key and the resource it names.
type key struct {
	full string
	res  resource
}

// key builds the cache key of rc for method: method, route, host, path
// and query, then the configured parts, separated by NUL bytes (which
// neither header values nor escaped paths contain).
func (p *Policy) key(rc *dataplane.RequestContext, method string) key {
	r := rc.Request
	res := resourceOf(rc.Route(), r)
	var b strings.Builder
	b.Grow(len(method) + len(res.route) + len(r.Host) + len(res.path) + len(res.query) + 8)
	for _, s := range [...]string{method, res.route, strings.ToLower(r.Host), res.path, res.query} {
		b.WriteString(s)
		b.WriteByte(0)
	}
	for _, part := range p.parts {
		if part.consumer {
			b.WriteString(rc.Consumer)
		} else {
			b.WriteString(strings.Join(r.Header[part.header], ","))
		}
		b.WriteByte(0)
	}
	return key{full: b.String(), res: res}
}

// resourceOf is what a request to route targets.
func resourceOf(route string, r *http.Request) resource {
	return resource{route: route, path: r.URL.EscapedPath(), query: r.URL.RawQuery}
}
