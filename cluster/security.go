package cluster

import (
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"
)

// KeySize is the length in bytes of a cluster key.
const KeySize = 32

// tlsServerName is the name every node's certificate carries; peers are
// authenticated by the cluster CA, not by address.
const tlsServerName = "tollgate-node"

// ErrBadKey means a cluster key is not KeySize bytes of base64.
var ErrBadKey = errors.New("cluster key must be 32 bytes, base64-encoded")

// GenerateKey returns a new random cluster key, base64-encoded.
func GenerateKey() string {
	b := make([]byte, KeySize)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return base64.StdEncoding.EncodeToString(b)
}

// ParseKeys decodes a comma-separated list of base64 cluster keys. The
// first is the primary key; the others are still accepted, for rotation.
func ParseKeys(list string) ([][]byte, error) {
	var keys [][]byte
	for _, s := range strings.Split(list, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		k, err := base64.StdEncoding.DecodeString(s)
		if err != nil || len(k) != KeySize {
			return nil, ErrBadKey
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// derive expands a cluster key into a purpose-specific secret.
func derive(key []byte, purpose string) []byte {
	out, err := hkdf.Key(sha256.New, key, nil, "tollgate "+purpose, KeySize)
	if err != nil {
		panic(fmt.Sprintf("hkdf: %v", err)) // only fails for absurd lengths
	}
	return out
}

// gossipKeys derives memberlist's AES keys, primary first.
func gossipKeys(keys [][]byte) [][]byte {
	out := make([][]byte, len(keys))
	for i, k := range keys {
		out[i] = derive(k, "gossip")
	}
	return out
}

// clusterCA is a certificate authority derived deterministically from a
// cluster key: every node holding the key derives the same CA, so nodes
// prove membership by presenting a certificate it signed.
type clusterCA struct {
	cert *x509.Certificate
	key  ed25519.PrivateKey
}

func newClusterCA(key []byte) (*clusterCA, error) {
	priv := ed25519.NewKeyFromSeed(derive(key, "raft ca"))
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "tollgate cluster CA"},
		NotBefore:             time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:              time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, priv.Public(), priv)
	if err != nil {
		return nil, fmt.Errorf("create cluster CA: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse cluster CA: %w", err)
	}
	return &clusterCA{cert: cert, key: priv}, nil
}

// issue signs a fresh node certificate valid for client and server use.
func (ca *clusterCA) issue(nodeID string) (tls.Certificate, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("node key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("serial: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: nodeID},
		DNSNames:     []string{tlsServerName},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(10 * 365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, pub, ca.key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("sign node certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: priv}, nil
}

// peerTLS holds the mutual-TLS settings for the Raft port.
type peerTLS struct {
	server *tls.Config
	client *tls.Config
}

// newPeerTLS builds mutual TLS from the cluster keys: this node presents
// a certificate from the primary key's CA and trusts the CAs of all keys.
// It returns nil when no key is configured.
func newPeerTLS(keys [][]byte, nodeID string) (*peerTLS, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	pool := x509.NewCertPool()
	var primary *clusterCA
	for i, k := range keys {
		ca, err := newClusterCA(k)
		if err != nil {
			return nil, err
		}
		pool.AddCert(ca.cert)
		if i == 0 {
			primary = ca
		}
	}
	cert, err := primary.issue(nodeID)
	if err != nil {
		return nil, err
	}
	return &peerTLS{
		server: &tls.Config{
			Certificates: []tls.Certificate{cert}, ClientCAs: pool,
			ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS13,
		},
		client: &tls.Config{
			Certificates: []tls.Certificate{cert}, RootCAs: pool,
			ServerName: tlsServerName, MinVersion: tls.VersionTLS13,
		},
	}, nil
}
