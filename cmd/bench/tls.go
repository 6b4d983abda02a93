package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// benchCert is the self-signed certificate the proxies serve in a -tls
// run, as PEM and as the files nginx and the -also command read.
type benchCert struct {
	certPEM, keyPEM   []byte
	certFile, keyFile string
}

// newCertPEM makes a self-signed ECDSA P-256 certificate for localhost
// and 127.0.0.1, valid for a day, and returns it and its key as PEM.
func newCertPEM() (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generating the key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, nil, fmt.Errorf("generating the serial number: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "localhost"},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("creating the certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("encoding the key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), nil
}

// writeBenchCert makes the certificate of a -tls run and writes it and its
// key into dir as cert.pem and key.pem.
func writeBenchCert(dir string) (*benchCert, error) {
	certPEM, keyPEM, err := newCertPEM()
	if err != nil {
		return nil, err
	}
	c := &benchCert{certPEM: certPEM, keyPEM: keyPEM,
		certFile: filepath.Join(dir, "cert.pem"), keyFile: filepath.Join(dir, "key.pem")}
	if err := os.WriteFile(c.certFile, certPEM, 0o644); err != nil {
		return nil, fmt.Errorf("writing the certificate: %w", err)
	}
	if err := os.WriteFile(c.keyFile, keyPEM, 0o600); err != nil {
		return nil, fmt.Errorf("writing the key: %w", err)
	}
	return c, nil
}

// seedYAML is the certificates section of tollgate's seed config that
// serves c for SNI localhost (and, as the only certificate, for clients
// that send no SNI or an IP address). The PEM goes in as JSON strings,
// which YAML reads as double-quoted scalars.
func (c *benchCert) seedYAML() string {
	cert, _ := json.Marshal(string(c.certPEM)) // a string always marshals
	key, _ := json.Marshal(string(c.keyPEM))
	return fmt.Sprintf("certificates:\n  - name: bench\n    snis: [localhost]\n    cert: %s\n    key: %s\n", cert, key)
}

// nginxListen is the listen directive of nginx's proxy server, with TLS
// on c's files when c is not nil.
func nginxListen(c *benchCert) string {
	if c == nil {
		return "listen 127.0.0.1:%PORT% backlog=4096;"
	}
	return "listen 127.0.0.1:%PORT% ssl backlog=4096;\n" +
		"    ssl_certificate " + c.certFile + ";\n" +
		"    ssl_certificate_key " + c.keyFile + ";\n" +
		"    ssl_protocols TLSv1.2 TLSv1.3;\n" +
		// The cipher Go's server picks for an OpenSSL client (wrk): left
		// to itself nginx follows the client's order, AES-256-GCM.
		"    ssl_conf_command Ciphersuites TLS_AES_128_GCM_SHA256;\n" +
		"    ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256;"
}

// localURL is the base URL of a server on 127.0.0.1:port, https when
// secure.
func localURL(port int, secure bool) string {
	scheme := "http"
	if secure {
		scheme = "https"
	}
	return fmt.Sprintf("%s://127.0.0.1:%d", scheme, port)
}

// insecureTLS is the client side of a -tls run: the self-signed
// certificate is not verified (as wrk, and vegeta -insecure, do not), and
// the session is HTTP/1.1 with every proxy, as nginx offers no HTTP/2.
func insecureTLS() *tls.Config {
	return &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}}
}
