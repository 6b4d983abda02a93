package admin_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/agent"
	"github.com/tollgate/tollgate/internal/waitfor"
)

// These tests drive the admin API of real in-process agents (store, Raft,
// gossip and data plane on loopback port 0): no component is mocked.

func testLogger(t *testing.T) *slog.Logger {
	if os.Getenv("TOLLGATE_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, nil)).With("test", t.Name())
	}
	return slog.New(slog.DiscardHandler)
}

func nodeConfig(t *testing.T, id string, join []string, expect int) agent.Config {
	return agent.Config{
		NodeID: id, DataDir: t.TempDir(), HTTPAddr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0",
		RaftAddr: "127.0.0.1:0", GossipAddr: "127.0.0.1:0", Join: join, BootstrapExpect: expect,
		ApplyTimeout: 5 * time.Second, HeartbeatTimeout: 300 * time.Millisecond,
		ElectionTimeout: 300 * time.Millisecond, GossipInterval: 200 * time.Millisecond,
		Logger: testLogger(t),
	}
}

// node is a running agent and a client for its admin API.
type node struct {
	*agent.Agent
	t     *testing.T
	base  string
	token string
}

// startNode starts a single-node cluster (after edit changes its config)
// and waits until it leads.
func startNode(t *testing.T, edit func(*agent.Config)) *node {
	t.Helper()
	cfg := nodeConfig(t, "solo", nil, 1)
	if edit != nil {
		edit(&cfg)
	}
	a, err := agent.Start(cfg)
	if err != nil {
		t.Fatalf("start agent: %v", err)
	}
	t.Cleanup(func() { a.Stop() })
	waitfor.Condition(t, 10*time.Second, "leadership", a.Node().IsLeader)
	return newNode(t, a)
}

func newNode(t *testing.T, a *agent.Agent) *node {
	_, port, _ := net.SplitHostPort(a.AdminAddr())
	return &node{Agent: a, t: t, base: "http://127.0.0.1:" + port}
}

// startCluster starts n agents that join each other and waits for a leader.
func startCluster(t *testing.T, n int) []*node {
	t.Helper()
	var nodes []*node
	var join []string
	for i := 0; i < n; i++ {
		a, err := agent.Start(nodeConfig(t, fmt.Sprintf("node%d", i+1), join, n))
		if err != nil {
			t.Fatalf("start node%d: %v", i+1, err)
		}
		t.Cleanup(func() { a.Stop() })
		nodes = append(nodes, newNode(t, a))
		join = append(join, a.GossipAddr())
	}
	waitfor.Condition(t, 15*time.Second, "a leader and 3 voters", func() bool {
		l := leaderOf(nodes)
		return l != nil && len(l.Node().Status().Members) == n && allVoters(l)
	})
	return nodes
}

func allVoters(n *node) bool {
	for _, m := range n.Node().Status().Members {
		if m.Suffrage != "voter" {
			return false
		}
	}
	return true
}

func leaderOf(nodes []*node) *node {
	for _, n := range nodes {
		if n.Node().IsLeader() {
			return n
		}
	}
	return nil
}

func followerOf(nodes []*node) *node {
	for _, n := range nodes {
		if !n.Node().IsLeader() {
			return n
		}
	}
	return nil
}

// resp is an admin API answer.
type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) String() string { return fmt.Sprintf("%d %s", r.status, r.body) }

// json decodes the body into v.
func (r resp) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

// errorBody is the JSON error shape.
type errorBody struct {
	Error struct {
		Code      string `json:"code"`
		Message   string `json:"message"`
		RequestID string `json:"request_id"`
		Fields    []struct {
			Path    string `json:"path"`
			Message string `json:"message"`
		} `json:"fields"`
		Details map[string]any `json:"details"`
	} `json:"error"`
}

func (r resp) apiError(t *testing.T) errorBody {
	t.Helper()
	var e errorBody
	r.json(t, &e)
	if e.Error.Code == "" || e.Error.Message == "" || e.Error.RequestID == "" {
		t.Fatalf("not a JSON error: %s", r.body)
	}
	return e
}

// do sends a request; body may be a string (sent as is) or a value
// (sent as JSON). headers are name, value pairs.
func (n *node) do(method, path string, body any, headers ...string) resp {
	n.t.Helper()
	var rd io.Reader
	ct := ""
	switch b := body.(type) {
	case nil:
	case string:
		rd, ct = strings.NewReader(b), "application/json"
	case []byte:
		rd, ct = bytes.NewReader(b), "application/json"
	default:
		j, err := json.Marshal(b)
		if err != nil {
			n.t.Fatal(err)
		}
		rd, ct = bytes.NewReader(j), "application/json"
	}
	req, err := http.NewRequest(method, n.base+path, rd)
	if err != nil {
		n.t.Fatal(err)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	if n.token != "" {
		req.Header.Set("Authorization", "Bearer "+n.token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	c := http.Client{Timeout: 30 * time.Second}
	res, err := c.Do(req)
	if err != nil {
		n.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{status: res.StatusCode, header: res.Header, body: b}
}

// must sends a request and fails the test unless it answers want.
func (n *node) must(want int, method, path string, body any, headers ...string) resp {
	n.t.Helper()
	r := n.do(method, path, body, headers...)
	if r.status != want {
		n.t.Fatalf("%s %s: got %s, want %d", method, path, r, want)
	}
	return r
}

// putConfig replaces the config through n and returns the answer. A
// write whose leader lost its leadership before it committed has an
// unknown outcome (a 5xx); a whole-document PUT is safe to repeat, so it
// is sent again until it is acknowledged or 10 s have passed. A slow,
// shared machine can starve Raft's heartbeats long enough for that.
func (n *node) putConfig(doc string) resp {
	n.t.Helper()
	var r resp
	waitfor.Condition(n.t, 10*time.Second, "PUT /v1/config acknowledged", func() bool {
		r = n.do("PUT", "/v1/config", doc)
		return r.status < 500
	})
	if r.status != 200 {
		n.t.Fatalf("PUT /v1/config: got %s, want 200", r)
	}
	return r
}

// version is the store's current config version.
func (n *node) version() uint64 { return n.Store().Current().Version }

// baseDoc is a small valid document: two services, two routes (one
// using each), a consumer and a plugin scoped to a route.
const baseDoc = `{
  "services": [
    {"name": "orders", "url": "http://127.0.0.1:9001"},
    {"name": "users", "url": "http://127.0.0.1:9002"}
  ],
  "routes": [
    {"name": "orders", "service": "orders", "paths": ["/orders"]},
    {"name": "users", "service": "users", "paths": ["/users"], "methods": ["GET"]}
  ],
  "consumers": [{"username": "alice"}],
  "plugins": [{"name": "key-auth", "route": "orders"}]
}`

// seed puts baseDoc and returns the version it got.
func (n *node) seed() uint64 {
	n.t.Helper()
	n.putConfig(baseDoc)
	return n.version()
}

func quoted(v uint64) string { return fmt.Sprintf("%q", fmt.Sprint(v)) }

func itoa(v uint64) string { return fmt.Sprint(v) }

// selfSignedPair returns a freshly generated PEM certificate and key.
func selfSignedPair(t *testing.T, cn string) (certPEM, keyPEM string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn}, DNSNames: []string{cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
}
