package dataplane

import (
	"bytes"
	"crypto/sha256"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tollgate/tollgate/store"
)

// mirrorConfig routes /m to the primary at primaryURL, mirrored to
// shadowURL.
func mirrorConfig(primaryURL, shadowURL string, m store.Mirror) *store.Config {
	m.Service = "shadow"
	return &store.Config{
		Version:  1,
		Services: []store.Service{{Name: "primary", URL: primaryURL}, {Name: "shadow", URL: shadowURL}},
		Routes: []store.Route{
			{Name: "mirrored", Service: "primary", Paths: []string{"/m"}, Mirror: &m},
			{Name: "plain", Service: "primary", Paths: []string{"/p"}},
		},
	}
}

// timedGet fetches url and returns the status, body and latency.
func timedGet(t *testing.T, c *http.Client, url string) (int, string, time.Duration) {
	t.Helper()
	start := time.Now()
	code, body, err := fetch(c, url)
	if err != nil {
		t.Fatal(err)
	}
	return code, body, time.Since(start)
}

func median(d []time.Duration) time.Duration {
	slices.Sort(d)
	return d[len(d)/2]
}

func TestMirrorDownOrSlowChangesNothing(t *testing.T) {
	primary := newNamed(t, "primary")
	slow := newBlockingUpstream(t, "shadow")
	for _, tc := range []struct{ name, shadow string }{
		{"down", "http://" + freePort(t)},
		{"slow", slow.URL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gw := startGateway(t, mirrorConfig(primary.URL, tc.shadow, store.Mirror{MaxInFlight: 2}), Options{})
			var plain, mirrored []time.Duration
			for range 30 {
				code, body, d := timedGet(t, gw.client, gw.url+"/p")
				plain = append(plain, d)
				code2, body2, d2 := timedGet(t, gw.client, gw.url+"/m")
				mirrored = append(mirrored, d2)
				if code != 200 || body != "primary" || code2 != code || body2 != body {
					t.Fatalf("plain %d %q, mirrored %d %q", code, body, code2, body2)
				}
			}
			// Generous: the copies must not add their latency (the slow
			// shadow never answers while this runs).
			if pm, mm := median(plain), median(mirrored); mm > 3*pm+20*time.Millisecond {
				t.Errorf("median latency mirrored %v vs plain %v", mm, pm)
			}
		})
	}
	// The two copies hold both slots until the gateway shuts down, so no
	// third can be sent.
	recv(t, slow.arrived, "the first copy")
	recv(t, slow.arrived, "the second copy")
	if n := len(slow.arrived); n != 0 {
		t.Errorf("the slow shadow got %d more copies, want 2 in all (max_in_flight; the rest dropped)", n)
	}
}

// bodyRecorder is an upstream that reports the hash of every body it gets.
type bodyRecorder struct {
	url    string
	hashes chan [32]byte
	count  atomic.Int64
}

func newBodyRecorder(t *testing.T, answer string) *bodyRecorder {
	b := &bodyRecorder{hashes: make(chan [32]byte, 64)}
	b.url = newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		data, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		b.count.Add(1)
		select {
		case b.hashes <- sha256.Sum256(data):
		default: // tests that only count do not read hashes
		}
		_, _ = io.WriteString(w, answer)
	})).URL
	return b
}

func TestMirrorCopiesBody(t *testing.T) {
	primary, shadow := newBodyRecorder(t, "primary"), newBodyRecorder(t, "shadow")
	gw := startGateway(t, mirrorConfig(primary.url, shadow.url, store.Mirror{}), Options{})
	payload := bytes.Repeat([]byte("0123456789abcdef"), 16<<10) // 256 KiB
	resp, err := gw.client.Post(gw.url+"/m", "application/octet-stream", io.MultiReader(bytes.NewReader(payload)))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "primary" {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
	want := sha256.Sum256(payload)
	if got := recv(t, primary.hashes, "the primary's body"); got != want {
		t.Error("primary got a different body")
	}
	if got := recv(t, shadow.hashes, "the shadow's body"); got != want {
		t.Error("shadow got a different body")
	}
}

func TestMirrorPercentage(t *testing.T) {
	primary, shadow := newNamed(t, "primary"), newBodyRecorder(t, "shadow")
	gw := startGateway(t, mirrorConfig(primary.URL, shadow.url, store.Mirror{Percentage: 20, MaxInFlight: 1000}), Options{})
	const n = 500
	for range n {
		if code, _, err := fetch(gw.client, gw.url+"/m"); code != 200 || err != nil {
			t.Fatal(code, err)
		}
	}
	ctx, cancel := contextWithTimeout()
	defer cancel()
	if err := gw.Shutdown(ctx); err != nil { // waits for the copies
		t.Fatal(err)
	}
	// 20% of 500 is 100; binomial σ ≈ 9, so 50..150 is over 5σ.
	if c := shadow.count.Load(); c < 50 || c > 150 {
		t.Errorf("shadow got %d of %d copies at 20%%", c, n)
	}
}

func TestMirrorTeeDropsLaggingCopy(t *testing.T) {
	tee := newMirrorTee()
	chunk := []byte(strings.Repeat("x", 64<<10))
	for range mirrorBufferBytes/len(chunk) + 1 {
		tee.write(chunk, nil) // nobody reads: the copy falls behind
	}
	n, err := io.Copy(io.Discard, tee)
	if err != errMirrorDropped || n > mirrorBufferBytes {
		t.Errorf("lagging copy read %d bytes, err %v; want at most %d and errMirrorDropped", n, err, mirrorBufferBytes)
	}

	ok := newMirrorTee()
	ok.write([]byte("abc"), nil)
	ok.write([]byte("def"), io.EOF)
	ok.abort() // after the end: no effect
	if data, err := io.ReadAll(ok); string(data) != "abcdef" || err != nil {
		t.Errorf("complete copy: %q %v", data, err)
	}
	var none *mirrorTee
	none.write([]byte("x"), nil) // no copy: no panic
	none.abort()
}

// traceRecorder is an upstream that reports the traceparent and
// tracestate of every request it gets.
type traceRecorder struct {
	url     string
	headers chan [2]string
}

func newTraceRecorder(t *testing.T, answer string) *traceRecorder {
	r := &traceRecorder{headers: make(chan [2]string, 16)}
	r.url = newServer(t, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.headers <- [2]string{req.Header.Get(headerTraceparent), req.Header.Get(headerTracestate)}
		_, _ = io.WriteString(w, answer)
	})).URL
	return r
}

// parseTP parses a traceparent the gateway sent, failing the test if it
// is not valid.
func parseTP(t *testing.T, who, s string) traceContext {
	t.Helper()
	var tc traceContext
	if !tc.parse(s) {
		t.Fatalf("%s got traceparent %q", who, s)
	}
	return tc
}

func TestMirrorCarriesGatewayTrace(t *testing.T) {
	const clientTP = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	primary, shadow := newTraceRecorder(t, "primary"), newTraceRecorder(t, "shadow")
	gw := startGateway(t, mirrorConfig(primary.url, shadow.url, store.Mirror{}), Options{})
	for _, tc := range []struct {
		name string
		hdr  []string
	}{
		{"joined", []string{"Traceparent", clientTP, "Tracestate", "vendor=x"}},
		{"started", []string{"Tracestate", "vendor=x"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if resp, body := gw.get(t, "/m", tc.hdr...); resp.StatusCode != 200 || string(body) != "primary" {
				t.Fatalf("%d %q", resp.StatusCode, body)
			}
			mainH, shadowH := recv(t, primary.headers, "the main request"), recv(t, shadow.headers, "the copy")
			main, copied := parseTP(t, "primary", mainH[0]), parseTP(t, "shadow", shadowH[0])
			if copied.traceID != main.traceID || copied.flags != main.flags {
				t.Errorf("copy %s, main %s: want the same trace and flags", shadowH[0], mainH[0])
			}
			if copied.parentID == main.parentID {
				t.Errorf("copy and main request share the parent id %x", main.parentID)
			}
			if mainH[1] != shadowH[1] {
				t.Errorf("tracestate: main %q, copy %q", mainH[1], shadowH[1])
			}
			if tc.name != "joined" {
				return
			}
			client := parseTP(t, "client", clientTP)
			if copied.traceID != client.traceID || copied.parentID == client.parentID {
				t.Errorf("copy %s, client %s: want the client's trace, another parent", shadowH[0], clientTP)
			}
			if shadowH[1] != "vendor=x" {
				t.Errorf("copy's tracestate %q, want the client's", shadowH[1])
			}
		})
	}
}

func TestMirrorEjectionsCounted(t *testing.T) {
	primary := newNamed(t, "primary")
	failing := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	for _, tc := range []struct {
		name        string
		shadowRoute bool // a route of its own serves the shadow service
	}{{"mirror only", false}, {"shadow also routed", true}} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := mirrorConfig(primary.URL, failing.URL, store.Mirror{})
			cfg.Services[1].HealthChecks = &store.HealthChecks{Passive: &store.PassiveHealthCheck{ConsecutiveFailures: 2}}
			if tc.shadowRoute {
				cfg.Routes = append(cfg.Routes, store.Route{Name: "direct", Service: "shadow", Paths: []string{"/s"}})
			}
			metrics := newFakeMetrics()
			gw := startGateway(t, cfg, Options{Metrics: metrics})
			for range 2 {
				if code, body, err := fetch(gw.client, gw.url+"/m"); code != 200 || body != "primary" || err != nil {
					t.Fatal(code, body, err)
				}
			}
			ctx, cancel := contextWithTimeout()
			defer cancel()
			if err := gw.Shutdown(ctx); err != nil { // waits for the copies
				t.Fatal(err)
			}
			metrics.mu.Lock()
			defer metrics.mu.Unlock()
			want := "shadow/" + strings.TrimPrefix(failing.URL, "http://")
			if !slices.Equal(metrics.ejected, []string{want}) {
				t.Errorf("ejections %v, want [%s]", metrics.ejected, want)
			}
		})
	}
}
