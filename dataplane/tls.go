package dataplane

import (
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/tollgate/tollgate/store"
)

// errNoCertificate fails a TLS handshake when the config holds no
// certificate at all.
var errNoCertificate = errors.New("no certificate configured")

// ServeTLS answers HTTPS on ln until Shutdown, and then returns
// http.ErrServerClosed. Certificates come from the config being served
// (Certificate.SNIs, chosen per handshake, so an Update rotates them at
// once); the minimum version is TLS 1.2 and HTTP/2 is offered over ALPN.
// Connections that negotiate HTTP/2 are served by net/http; the others by
// the gateway's HTTP/1.1 server, as on a plain listener. It may be called
// for several listeners.
func (g *Gateway) ServeTLS(ln net.Listener) error {
	tlsConfig := &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: g.certificate,
		NextProtos:     []string{"h2", "http/1.1"},
	}
	s := newH1Server(g, ln)
	s.tls = tlsConfig
	s.h2.TLSConfig = tlsConfig.Clone() // net/http's HTTP/2 setup writes to it
	s.h2.Protocols = new(http.Protocols)
	s.h2.Protocols.SetHTTP2(true)
	s.h2.Protocols.SetHTTP1(true)
	return s.run("tls", true)
}

// certificate picks the certificate for a handshake from the current
// snapshot: the exact SNI, then a "*." wildcard for its first label, then
// the fallback.
func (g *Gateway) certificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	snap := g.snap.Load()
	if snap == nil || snap.certs.fallback == nil {
		return nil, errNoCertificate
	}
	return snap.certs.lookup(hello.ServerName), nil
}

// certTable is the certificates of one config by SNI.
type certTable struct {
	exact    map[string]*tls.Certificate
	wildcard map[string]*tls.Certificate // key: ".example.com" for "*.example.com"
	// fallback answers a handshake without a matching SNI: the first
	// certificate without SNIs, or else the first certificate.
	fallback *tls.Certificate
}

func (c *certTable) lookup(serverName string) *tls.Certificate {
	name := strings.ToLower(strings.TrimSuffix(serverName, "."))
	if cert := c.exact[name]; cert != nil {
		return cert
	}
	if i := strings.IndexByte(name, '.'); i > 0 {
		if cert := c.wildcard[name[i:]]; cert != nil {
			return cert
		}
	}
	return c.fallback
}

// certCache keeps parsed certificates across versions by the hash of their
// PEM, so an Update does not parse unchanged ones again. Used under
// Gateway.updateMu.
type certCache map[[32]byte]*tls.Certificate

// compileCerts parses the config's certificates into a table, and returns
// the cache of those in use. Errors wrap ErrInvalidConfig.
func compileCerts(certs []store.Certificate, cache certCache) (certTable, certCache, error) {
	t := certTable{exact: map[string]*tls.Certificate{}, wildcard: map[string]*tls.Certificate{}}
	next := make(certCache, len(certs))
	var firstWithoutSNI *tls.Certificate
	for i, c := range certs {
		key := sha256.Sum256([]byte(c.Cert + "\x00" + c.Key))
		cert := cache[key]
		if cert == nil {
			pair, err := tls.X509KeyPair([]byte(c.Cert), []byte(c.Key))
			if err != nil {
				return certTable{}, nil, fmt.Errorf("%w: certificate %q: %w", ErrInvalidConfig, c.Name, err)
			}
			cert = &pair
		}
		next[key] = cert
		if i == 0 {
			t.fallback = cert
		}
		if len(c.SNIs) == 0 && firstWithoutSNI == nil {
			firstWithoutSNI = cert
		}
		for _, sni := range c.SNIs {
			name := strings.ToLower(strings.TrimSuffix(sni, "."))
			if suffix, ok := strings.CutPrefix(name, "*"); ok {
				t.wildcard[suffix] = cert
			} else {
				t.exact[name] = cert
			}
		}
	}
	if firstWithoutSNI != nil {
		t.fallback = firstWithoutSNI
	}
	return t, next, nil
}
