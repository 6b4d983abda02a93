package dataplane

import (
	"net"
	"net/http"
	"time"
)

// transportKey identifies what a connection pool depends on: where it dials
// and how long dialing may take. Services that share a key share a pool.
type transportKey struct {
	scheme, host   string
	connectTimeout time.Duration
}

// transportCache keeps one tuned http.Transport per transportKey across
// config versions, so a config change does not drop keep-alive pools. It is
// used only under Gateway.updateMu.
type transportCache struct {
	maxIdlePerHost int
	idleTimeout    time.Duration
	pools          map[transportKey]*http.Transport
}

// attach gives every upstream its pool, reusing the cached ones, and
// returns the pools no upstream uses any more. Requests still in flight on
// an older snapshot may use those; the caller only closes their idle
// connections, and the rest expire with the idle timeout.
func (c *transportCache) attach(ups []*upstream) (unused []*http.Transport) {
	next := make(map[transportKey]*http.Transport, len(ups))
	for _, u := range ups {
		key := transportKey{u.scheme, u.host, u.connectTimeout}
		t := next[key]
		if t == nil {
			t = c.pools[key]
		}
		if t == nil {
			t = c.newTransport(key)
		}
		next[key] = t
		u.transport = t
	}
	for key, t := range c.pools {
		if next[key] != t {
			unused = append(unused, t)
		}
	}
	c.pools = next
	return unused
}

// closeIdle closes the idle connections of every pool.
func (c *transportCache) closeIdle() {
	for _, t := range c.pools {
		t.CloseIdleConnections()
	}
}

// newTransport builds a pool tuned for proxying: no environment proxy, no
// transparent decompression, large keep-alive pools.
func (c *transportCache) newTransport(key transportKey) *http.Transport {
	dialer := &net.Dialer{Timeout: key.connectTimeout, KeepAlive: 30 * time.Second}
	return &http.Transport{
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConnsPerHost:   c.maxIdlePerHost,
		IdleConnTimeout:       c.idleTimeout,
		TLSHandshakeTimeout:   key.connectTimeout,
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true,
		ReadBufferSize:        32 << 10,
		WriteBufferSize:       32 << 10,
	}
}
