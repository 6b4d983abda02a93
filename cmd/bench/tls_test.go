package main

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/store"
)

func TestBenchCertHandshake(t *testing.T) {
	c, err := writeBenchCert(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		t.Fatalf("the written files are not a key pair: %v", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(c.certPEM) {
		t.Fatal("the certificate PEM does not parse")
	}
	for _, name := range []string{"localhost", "127.0.0.1"} {
		for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
			client, server := net.Pipe()
			srvErr := make(chan error, 1)
			go func() {
				srvErr <- tls.Server(server, &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}).Handshake()
			}()
			cl := tls.Client(client, &tls.Config{RootCAs: roots, ServerName: name, MinVersion: version, MaxVersion: version})
			if err := cl.Handshake(); err != nil {
				t.Errorf("%s, TLS %x: %v", name, version, err)
			}
			client.Close() // not cl.Close: its close_notify would wait for a reader
			if err := <-srvErr; err != nil && !t.Failed() {
				t.Errorf("%s, TLS %x: server: %v", name, version, err)
			}
			server.Close()
		}
	}
}

func TestBenchCertSeed(t *testing.T) {
	c, err := writeBenchCert(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := store.Decode([]byte(tollgateSeed("http://127.0.0.1:1", c)), "application/yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("the seed with the certificate is not valid: %v", err)
	}
	if len(cfg.Certificates) != 1 || cfg.Certificates[0].Cert != string(c.certPEM) || cfg.Certificates[0].Key != string(c.keyPEM) {
		t.Errorf("the seed's certificates are %+v", cfg.Certificates)
	}
}

func TestNginxProxyConfTLS(t *testing.T) {
	c := &benchCert{certFile: "/run/cert.pem", keyFile: "/run/key.pem"}
	conf := nginxProxyConf("http://127.0.0.1:9", c)
	for _, want := range []string{
		"listen 127.0.0.1:%PORT% ssl backlog=4096;",
		"ssl_certificate /run/cert.pem;",
		"ssl_certificate_key /run/key.pem;",
		"ssl_protocols TLSv1.2 TLSv1.3;",
		"worker_processes 2;",
		"keepalive 128;",
	} {
		if !strings.Contains(conf, want) {
			t.Errorf("TLS conf lacks %q:\n%s", want, conf)
		}
	}
	if plain := nginxProxyConf("http://127.0.0.1:9", nil); strings.Contains(plain, "ssl") {
		t.Errorf("plain conf mentions ssl:\n%s", plain)
	}
}
