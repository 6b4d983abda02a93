package store

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// selfSignedPair returns a freshly generated PEM certificate and key.
func selfSignedPair(t testing.TB, cn string) (certPEM, keyPEM string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: cn},
		DNSNames:              []string{cn},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	keyPEM = string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
	return certPEM, keyPEM
}

// validConfig is a small, valid document without certificates.
func validConfig(tag string) *Config {
	return &Config{
		Services: []Service{
			{Name: "users", URL: "http://127.0.0.1:9001", Timeout: Duration(2 * time.Second)},
			{Name: "orders", URL: "https://orders.internal/base", ConnectTimeout: Duration(250 * time.Millisecond)},
		},
		Routes: []Route{
			{Name: "users-" + tag, Service: "users", Paths: []string{"/users"}, Methods: []string{"GET"}},
			{Name: "orders", Service: "orders", Hosts: []string{"*.example.com"}, Paths: []string{"/orders"}, StripPath: true},
		},
		Consumers: []Consumer{{Username: "alice", Groups: []string{"admins"}}},
		Plugins: []Plugin{
			{Name: "rate-limit", Route: "orders", Config: json.RawMessage(`{"limit":10,"window":"minute"}`)},
			{Name: "key-auth"},
		},
	}
}

// newStore opens a store in a fresh temporary directory.
func newStore(t testing.TB, limit int) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "store.db")
	return openAt(t, path, limit), path
}

// openAt opens the store at path and closes it at the end of the test
// unless the test closed it first.
func openAt(t testing.TB, path string, limit int) *Store {
	t.Helper()
	s, err := Open(Options{Path: path, HistoryLimit: limit, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() { _ = s.Close() }) // a second Close of bbolt is a no-op
	return s
}

var testTime = time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)

func putCmd(cfg *Config, ifVersion *uint64) Command {
	return Command{Type: CmdPutConfig, IfVersion: ifVersion, Config: cfg, Time: testTime, Author: "tester"}
}

func ptr[T any](v T) *T { return &v }

// applyRaw applies data as a command log entry at index and decodes the result.
func applyRaw(t testing.TB, s *Store, index uint64, data []byte) (uint64, error) {
	t.Helper()
	res := s.Apply(&raft.Log{Index: index, Term: 1, Type: raft.LogCommand, Data: data})
	b, ok := res.([]byte)
	if !ok {
		t.Fatalf("Apply returned %T, want []byte", res)
	}
	return DecodeResult(b)
}

func apply(t testing.TB, s *Store, index uint64, cmd Command) (uint64, error) {
	t.Helper()
	data, err := cmd.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return applyRaw(t, s, index, data)
}

// mustApply applies cmd and fails unless it produced version want.
func mustApply(t testing.TB, s *Store, index uint64, cmd Command, want uint64) {
	t.Helper()
	v, err := apply(t, s, index, cmd)
	if err != nil || v != want {
		t.Fatalf("apply index %d: version %d, err %v; want version %d", index, v, err, want)
	}
}

// memSink is an in-memory raft.SnapshotSink.
type memSink struct {
	bytes.Buffer
	closed, cancelled bool
}

var _ raft.SnapshotSink = (*memSink)(nil)

func (m *memSink) ID() string    { return "mem" }
func (m *memSink) Close() error  { m.closed = true; return nil }
func (m *memSink) Cancel() error { m.cancelled = true; return nil }

// failingSink fails every write.
type failingSink struct{ memSink }

func (f *failingSink) Write([]byte) (int, error) { return 0, errors.New("disk full") }

// snapshotBytes takes a snapshot of s and persists it into memory.
func snapshotBytes(t testing.TB, s *Store) []byte {
	t.Helper()
	snap, err := s.Snapshot()
	if err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	defer snap.Release()
	var sink memSink
	if err := snap.Persist(&sink); err != nil {
		t.Fatalf("Persist: %v", err)
	}
	if !sink.closed || sink.cancelled {
		t.Fatalf("sink closed=%v cancelled=%v, want closed only", sink.closed, sink.cancelled)
	}
	return sink.Bytes()
}

// trackingCloser records whether Restore closed its reader.
type trackingCloser struct {
	io.Reader
	closed bool
}

func (c *trackingCloser) Close() error { c.closed = true; return nil }

// asValidationError fails unless err is a *ValidationError.
func asValidationError(t testing.TB, err error) *ValidationError {
	t.Helper()
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("error %v (%T), want *ValidationError", err, err)
	}
	return ve
}

// hasError reports whether errs holds an error at path whose message
// contains msg.
func hasError(errs []FieldError, path, msg string) bool {
	for _, fe := range errs {
		if fe.Path == path && strings.Contains(fe.Message, msg) {
			return true
		}
	}
	return false
}

// normalize returns a copy of c in a canonical form for comparing documents
// by meaning: empty lists become nil and plugin configs are re-encoded
// compactly with sorted keys.
func normalize(t testing.TB, c *Config) *Config {
	t.Helper()
	if c == nil {
		return nil
	}
	out := *c
	out.Services = nilIfEmpty(c.Services)
	out.Routes = nilIfEmpty(c.Routes)
	for i := range out.Routes {
		r := &out.Routes[i]
		r.Hosts, r.Paths, r.Methods = nilIfEmpty(r.Hosts), nilIfEmpty(r.Paths), nilIfEmpty(r.Methods)
	}
	out.Consumers = nilIfEmpty(c.Consumers)
	for i := range out.Consumers {
		out.Consumers[i].Groups = nilIfEmpty(out.Consumers[i].Groups)
	}
	out.Plugins = nilIfEmpty(c.Plugins)
	for i := range out.Plugins {
		p := &out.Plugins[i]
		if len(p.Config) == 0 {
			p.Config = nil
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(p.Config))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("plugin config %q: %v", p.Config, err)
		}
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("plugin config %q: %v", p.Config, err)
		}
		p.Config = b
	}
	out.Certificates = nilIfEmpty(c.Certificates)
	for i := range out.Certificates {
		out.Certificates[i].SNIs = nilIfEmpty(out.Certificates[i].SNIs)
	}
	return &out
}

// nilIfEmpty returns nil for an empty slice and a copy otherwise.
func nilIfEmpty[T any](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	return append([]T(nil), s...)
}

func assertSameConfig(t testing.TB, got, want *Config) {
	t.Helper()
	if g, w := normalize(t, got), normalize(t, want); !reflect.DeepEqual(g, w) {
		gj, _ := json.Marshal(g)
		wj, _ := json.Marshal(w)
		t.Fatalf("config differs\n got: %s\nwant: %s", gj, wj)
	}
}
