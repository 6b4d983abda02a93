package dataplane

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// errConnect marks a failure to set up the connection to a target (dial or
// TLS handshake): the target never saw the request, so any method may be
// retried.
var errConnect = errors.New("connecting to the upstream failed")

// connectError is a dial or handshake failure; errors.Is finds both
// errConnect and the cause.
type connectError struct{ err error }

func (e *connectError) Error() string   { return e.err.Error() }
func (e *connectError) Unwrap() []error { return []error{errConnect, e.err} }

// transportKey identifies what a connection pool depends on. Services
// that share a key share a pool (which keeps connections per target).
type transportKey struct {
	scheme         string
	h2c            bool
	connectTimeout time.Duration
	readTimeout    time.Duration
	tls            string // upstreamTLS settings, "" for none
}

// connPool is a connection pool shared by upstreams: an *h1Client for plain
// HTTP/1.1, an *http.Transport for the rest.
type connPool interface {
	http.RoundTripper
	CloseIdleConnections()
}

// transportCache keeps one tuned pool per transportKey across config
// versions, so a config change does not drop keep-alive connections. It
// is used only under Gateway.updateMu.
type transportCache struct {
	maxIdlePerHost int
	idleTimeout    time.Duration
	pools          map[transportKey]connPool
}

// attach gives every upstream its pool, reusing the cached ones, and
// returns the pools no upstream uses any more. Requests still in flight on
// an older snapshot may use those; the caller only closes their idle
// connections, and the rest expire with the idle timeout.
func (c *transportCache) attach(ups []*upstream) (unused []connPool) {
	next := make(map[transportKey]connPool, len(ups))
	for _, u := range ups {
		key := u.transportKey()
		t := next[key]
		if t == nil {
			t = c.pools[key]
		}
		if t == nil {
			t = c.newTransport(key, u.tlsConfig)
		}
		next[key] = t
		if u.transport == nil { // a reused upstream keeps its pool
			u.transport = t
		}
	}
	for key, t := range c.pools {
		if next[key] != t {
			unused = append(unused, t)
		}
	}
	c.pools = next
	return unused
}

func (u *upstream) transportKey() transportKey {
	return transportKey{u.scheme, u.h2c, u.connectTimeout, u.readTimeout, u.tlsKey}
}

// closeIdle closes the idle connections of every pool.
func (c *transportCache) closeIdle() {
	for _, t := range c.pools {
		t.CloseIdleConnections()
	}
}

// newTransport builds a pool tuned for proxying: an h1Client for plain
// HTTP/1.1 upstreams (with an http.Transport for what it does not send
// itself), an http.Transport for TLS and h2c ones.
func (c *transportCache) newTransport(key transportKey, tlsConfig *tls.Config) connPool {
	t := c.newHTTPTransport(key, tlsConfig)
	if key.scheme == "http" && !key.h2c {
		return newH1Client(t, key.connectTimeout, key.readTimeout, c.idleTimeout, c.maxIdlePerHost)
	}
	return t
}

// newHTTPTransport builds an http.Transport tuned for proxying: no
// environment proxy, no transparent decompression, large keep-alive
// pools. Dial and handshake failures are marked with errConnect.
func (c *transportCache) newHTTPTransport(key transportKey, tlsConfig *tls.Config) *http.Transport {
	dialer := &net.Dialer{Timeout: key.connectTimeout, KeepAlive: 30 * time.Second}
	t := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			conn, err := dialer.DialContext(ctx, network, addr)
			if err != nil {
				return nil, &connectError{err}
			}
			return conn, nil
		},
		ForceAttemptHTTP2:      true,
		MaxIdleConnsPerHost:    c.maxIdlePerHost,
		IdleConnTimeout:        c.idleTimeout,
		TLSHandshakeTimeout:    key.connectTimeout,
		ResponseHeaderTimeout:  key.readTimeout,
		ExpectContinueTimeout:  time.Second,
		DisableCompression:     true,
		ReadBufferSize:         32 << 10,
		WriteBufferSize:        32 << 10,
		MaxResponseHeaderBytes: 1 << 20,
	}
	if key.h2c {
		t.Protocols = new(http.Protocols)
		t.Protocols.SetUnencryptedHTTP2(true)
	}
	if tlsConfig != nil {
		t.DialTLSContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			return dialTLS(ctx, dialer, tlsConfig, key.connectTimeout, network, addr)
		}
	}
	return t
}

// dialTLS dials and completes the TLS handshake within connectTimeout,
// sending the target's host as SNI unless the config names a server.
func dialTLS(ctx context.Context, d *net.Dialer, base *tls.Config, timeout time.Duration, network, addr string) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	raw, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, &connectError{err}
	}
	cfg := base
	if cfg.ServerName == "" {
		host, _, _ := net.SplitHostPort(addr)
		cfg = base.Clone()
		cfg.ServerName = host
	}
	conn := tls.Client(raw, cfg)
	if err := conn.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, &connectError{fmt.Errorf("tls handshake with %s: %w", addr, err)}
	}
	return conn, nil
}
