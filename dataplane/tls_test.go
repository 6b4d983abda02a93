package dataplane

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/tollgate/tollgate/store"
)

// selfSigned returns a PEM certificate and key for names, and the parsed
// certificate (its own root).
func selfSigned(t *testing.T, names ...string) (string, string, *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: names[0]}, DNSNames: names,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})), cert
}

// serveTLS serves gw on a TLS listener and returns its address; it checks
// at cleanup (after the gateway shut down) that ServeTLS ended properly.
func serveTLS(t *testing.T, gw *testGateway) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- gw.ServeTLS(ln) }()
	t.Cleanup(func() {
		ctx, cancel := contextWithTimeout()
		defer cancel()
		_ = gw.Shutdown(ctx)
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("ServeTLS returned %v", err)
		}
	})
	return ln.Addr().String()
}

func tlsClient(t *testing.T, cfg *tls.Config) *http.Client {
	tr := &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

func TestTLSTerminationSNIAndHTTP2(t *testing.T) {
	echo := newEcho(t)
	aCert, aKey, aX := selfSigned(t, "a.test")
	bCert, bKey, bX := selfSigned(t, "*.b.test")
	cfg := oneRoute(1, echo.URL, store.Route{})
	cfg.Certificates = []store.Certificate{
		{Name: "a", Cert: aCert, Key: aKey, SNIs: []string{"a.test"}},
		{Name: "b", Cert: bCert, Key: bKey, SNIs: []string{"*.b.test"}},
	}
	gw := startGateway(t, cfg, Options{})
	addr := serveTLS(t, gw)
	roots := x509.NewCertPool()
	roots.AddCert(aX)
	roots.AddCert(bX)

	for _, tc := range []struct{ sni, want string }{{"a.test", "a.test"}, {"shop.b.test", "*.b.test"}} {
		t.Run(tc.sni, func(t *testing.T) {
			c := tlsClient(t, &tls.Config{RootCAs: roots, ServerName: tc.sni})
			resp, err := c.Get("https://" + addr + "/x")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if got := resp.TLS.PeerCertificates[0].DNSNames[0]; got != tc.want {
				t.Errorf("served certificate for %q, want %q", got, tc.want)
			}
			if resp.ProtoMajor != 2 || resp.TLS.NegotiatedProtocol != "h2" {
				t.Errorf("protocol %s, ALPN %q; want HTTP/2", resp.Proto, resp.TLS.NegotiatedProtocol)
			}
			seen := decodeSeen(t, body)
			if seen.Header.Get("X-Forwarded-Proto") != "https" || seen.Header.Get("Via") != "2 tollgate" {
				t.Errorf("upstream headers %v", seen.Header)
			}
		})
	}

	c := tlsClient(t, &tls.Config{InsecureSkipVerify: true, ServerName: "unknown.test"})
	resp, err := c.Get("https://" + addr + "/x")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.TLS.PeerCertificates[0].DNSNames[0]; got != "a.test" {
		t.Errorf("unknown SNI got %q, want the first certificate", got)
	}

	old := tlsClient(t, &tls.Config{RootCAs: roots, ServerName: "a.test", MaxVersion: tls.VersionTLS11})
	if resp, err := old.Get("https://" + addr + "/x"); err == nil {
		resp.Body.Close()
		t.Error("a TLS 1.1 client was served")
	}
}

// startTLSGateway serves a gateway with one route to an echo upstream
// over TLS, with a certificate for a.test; it returns the gateway, its TLS
// address and a pool that trusts the certificate.
func startTLSGateway(t *testing.T) (*testGateway, string, *x509.CertPool) {
	echo := newEcho(t)
	cert, key, x := selfSigned(t, "a.test")
	cfg := oneRoute(1, echo.URL, store.Route{})
	cfg.Certificates = []store.Certificate{{Name: "a", Cert: cert, Key: key, SNIs: []string{"a.test"}}}
	gw := startGateway(t, cfg, Options{})
	addr := serveTLS(t, gw)
	roots := x509.NewCertPool()
	roots.AddCert(x)
	return gw, addr, roots
}

// TestTLSHTTP1 checks clients that negotiate http/1.1 by ALPN, or offer
// no ALPN at all: they are served over TLS by the gateway's own HTTP/1.1
// server, keep-alive included, and the upstream learns the request came
// over https.
func TestTLSHTTP1(t *testing.T) {
	_, addr, roots := startTLSGateway(t)
	for _, alpn := range [][]string{{"http/1.1"}, nil} {
		conns := 0
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: "a.test", NextProtos: alpn},
			DialContext: func(ctx context.Context, network, a string) (net.Conn, error) {
				conns++
				return (&net.Dialer{}).DialContext(ctx, network, a)
			}}
		t.Cleanup(tr.CloseIdleConnections)
		c := &http.Client{Transport: tr}
		for range 3 {
			resp, err := c.Get("https://" + addr + "/x")
			if err != nil {
				t.Fatalf("ALPN %q: %v", alpn, err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != http.StatusOK || resp.ProtoMajor != 1 {
				t.Fatalf("ALPN %q: %s %d %v", alpn, resp.Proto, resp.StatusCode, err)
			}
			seen := decodeSeen(t, body)
			if seen.Header.Get("X-Forwarded-Proto") != "https" || seen.Header.Get("Via") != "1.1 tollgate" {
				t.Errorf("ALPN %q: upstream headers %v", alpn, seen.Header)
			}
		}
		if conns != 1 {
			t.Errorf("ALPN %q: %d connections for 3 requests, want 1 (keep-alive)", alpn, conns)
		}
	}
}

func TestTLSCertificateRotation(t *testing.T) {
	echo := newEcho(t)
	first, firstKey, _ := selfSigned(t, "a.test")
	second, secondKey, secondX := selfSigned(t, "a.test")
	cfg := oneRoute(1, echo.URL, store.Route{})
	cfg.Certificates = []store.Certificate{{Name: "a", Cert: first, Key: firstKey, SNIs: []string{"a.test"}}}
	gw := startGateway(t, cfg, Options{})
	addr := serveTLS(t, gw)

	next := oneRoute(2, echo.URL, store.Route{})
	next.Certificates = []store.Certificate{{Name: "a", Cert: second, Key: secondKey, SNIs: []string{"a.test"}}}
	if err := gw.Update(next); err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(secondX)
	resp, err := tlsClient(t, &tls.Config{RootCAs: roots, ServerName: "a.test"}).Get("https://" + addr + "/")
	if err != nil {
		t.Fatalf("new certificate not served: %v", err)
	}
	resp.Body.Close()
}

func TestUpstreamTLS(t *testing.T) {
	up := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("secure " + r.TLS.ServerName))
	}))
	t.Cleanup(up.Close)
	bundle := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: up.Certificate().Raw}))
	tests := []struct {
		name string
		tls  *store.UpstreamTLS
		code int
		body string
	}{
		{"ca bundle", &store.UpstreamTLS{CABundle: bundle}, 200, "secure "}, // no SNI for an IP
		{"ca bundle and server name", &store.UpstreamTLS{CABundle: bundle, ServerName: "example.com"}, 200, "secure example.com"},
		{"system roots", nil, 502, ""},
		{"wrong server name", &store.UpstreamTLS{CABundle: bundle, ServerName: "other.test"}, 502, ""},
		{"skip verify", &store.UpstreamTLS{InsecureSkipVerify: true}, 200, "secure "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := oneRoute(1, up.URL, store.Route{})
			cfg.Services[0].TLS = tt.tls
			gw := startGateway(t, cfg, Options{})
			resp, body := gw.get(t, "/")
			if tt.code != 200 {
				checkGatewayError(t, resp, body, tt.code, "upstream_unavailable")
				return
			}
			if resp.StatusCode != 200 || string(body) != tt.body {
				t.Errorf("%d %q, want %q", resp.StatusCode, body, tt.body)
			}
		})
	}
}
