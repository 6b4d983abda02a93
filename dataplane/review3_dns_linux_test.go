//go:build linux

package dataplane

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/tollgate/tollgate/internal/waitfor"
	"github.com/tollgate/tollgate/store"
)

// fakeDNS answers A and AAAA queries for the names in zone from a UDP
// socket of its own, and makes net.DefaultResolver (which both the
// goroutine path's dialer and the loops' lookups use) ask it, until the
// test ends.
func fakeDNS(t *testing.T, zone map[string][]netip.Addr) {
	t.Helper()
	fakeDNSFunc(t, func(name string) ([]netip.Addr, bool) { a, ok := zone[name]; return a, ok })
}

func fakeDNSFunc(t *testing.T, lookup func(string) ([]netip.Addr, bool)) {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			var p dnsmessage.Parser
			h, err := p.Start(buf[:n])
			if err != nil {
				continue
			}
			q, err := p.Question()
			if err != nil {
				continue
			}
			b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true})
			b.EnableCompression()
			_ = b.StartQuestions()
			_ = b.Question(q)
			_ = b.StartAnswers()
			addrs, known := lookup(strings.TrimSuffix(q.Name.String(), "."))
			for _, a := range addrs {
				rh := dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 60}
				switch {
				case q.Type == dnsmessage.TypeA && a.Is4():
					_ = b.AResource(rh, dnsmessage.AResource{A: a.As4()})
				case q.Type == dnsmessage.TypeAAAA && a.Is6():
					_ = b.AAAAResource(rh, dnsmessage.AAAAResource{AAAA: a.As16()})
				}
			}
			msg, _ := b.Finish()
			if !known { // NXDOMAIN
				msg[3] = msg[3]&0xf0 | 3
			}
			_, _ = pc.WriteTo(msg, from)
		}
	}()
	r := net.DefaultResolver
	preferGo, dial := r.PreferGo, r.Dial
	r.PreferGo, r.Dial = true, func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", pc.LocalAddr().String())
	}
	t.Cleanup(func() { r.PreferGo, r.Dial = preferGo, dial; pc.Close() })
}

// TestEpollNamedTargetTriesEveryAddress: a service given by a name with
// several addresses, the first of which refuses connections, is served by
// the goroutine server (net.Dialer tries the next address); the loops
// must serve it too, not answer 502.
func TestEpollNamedTargetTriesEveryAddress(t *testing.T) {
	echo := newTextEcho(t) // listens on 127.0.0.1 only
	port := echo[strings.LastIndex(echo, ":")+1:]
	dead := netip.MustParseAddr("127.0.0.2") // loopback, nothing listens on it
	fakeDNS(t, map[string][]netip.Addr{"multi.test": {dead, netip.MustParseAddr("127.0.0.1")}})
	onEngines(t, func(t *testing.T, engine string) {
		gw := startGateway(t, oneRoute(1, "http://multi.test:"+port, store.Route{Paths: []string{"/"}}), Options{Engine: engine})
		if engine == EngineEpoll {
			waitfor.Condition(t, waitTimeout, "the target's name resolved", func() bool {
				return gw.snap.Load().router.services[0].dialable()
			})
		}
		for i := range 3 {
			if resp, body := gw.get(t, "/x"); resp.StatusCode != http.StatusOK || string(body) != "GET /x " {
				t.Fatalf("#%d: %d %q (the loops dial %q)", i, resp.StatusCode, body, gw.snap.Load().router.services[0].targets[0].dialAddr())
			}
		}
		if engine == EngineEpoll {
			if served, handedOff, _ := gw.loopCounts(); served != 3 || handedOff != 0 {
				t.Errorf("served %d on the loops, handed off %d: want 3 and 0", served, handedOff)
			}
		}
	})
}

// TestEpollNamedTargetOnIPv6: a name with an IPv4 and an IPv6 address
// whose server listens on IPv6 only ("localhost" where the backend binds
// ::1) works on the goroutine server; the loops prefer IPv4 and fail.
func TestEpollNamedTargetOnIPv6(t *testing.T) {
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skip("no IPv6 loopback:", err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("v6")) })}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	port := ln.Addr().(*net.TCPAddr).Port
	fakeDNS(t, map[string][]netip.Addr{"dual.test": {netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("::1")}})
	onEngines(t, func(t *testing.T, engine string) {
		gw := startGateway(t, oneRoute(1, "http://dual.test:"+strconv.Itoa(port), store.Route{Paths: []string{"/"}}), Options{Engine: engine})
		if engine == EngineEpoll {
			waitfor.Condition(t, waitTimeout, "the target's name resolved", func() bool {
				return gw.snap.Load().router.services[0].dialable()
			})
		}
		if resp, body := gw.get(t, "/x"); resp.StatusCode != http.StatusOK || string(body) != "v6" {
			t.Fatalf("%d %q (the loops dial %q)", resp.StatusCode, body, gw.snap.Load().router.services[0].targets[0].dialAddr())
		}
	})
}

// TestEpollNamedTargetFollowsAddressChange: when a name moves to another
// address (a pod replaced), the goroutine server's next connection dials
// the new one; the loops keep dialling the old address until the next
// background lookup, up to resolveEvery later, and answer 502 meanwhile.
func TestEpollNamedTargetFollowsAddressChange(t *testing.T) {
	var mu sync.Mutex
	current := netip.MustParseAddr("127.0.0.1")
	fakeDNSFunc(t, func(name string) ([]netip.Addr, bool) {
		mu.Lock()
		defer mu.Unlock()
		return []netip.Addr{current}, name == "moving.test"
	})
	onEngines(t, func(t *testing.T, engine string) {
		mu.Lock()
		current = netip.MustParseAddr("127.0.0.1")
		mu.Unlock()
		a := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "A") }))
		defer a.Close()
		port := a.Listener.Addr().(*net.TCPAddr).Port
		gw := startGateway(t, oneRoute(1, "http://moving.test:"+strconv.Itoa(port), store.Route{Paths: []string{"/"}}), Options{Engine: engine})
		if engine == EngineEpoll {
			waitfor.Condition(t, waitTimeout, "the target's name resolved", func() bool {
				return gw.snap.Load().router.services[0].dialable()
			})
		}
		if resp, body := gw.get(t, "/x"); resp.StatusCode != 200 || string(body) != "A" {
			t.Fatalf("before the move: %d %q", resp.StatusCode, body)
		}
		lnB, err := net.Listen("tcp", "127.0.0.3:"+strconv.Itoa(port))
		if err != nil {
			t.Skip("no second loopback address:", err)
		}
		b := &httptest.Server{Listener: lnB, Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "B") })}}
		b.Start()
		defer b.Close()
		mu.Lock()
		current = netip.MustParseAddr("127.0.0.3")
		mu.Unlock()
		a.Close() // the old instance is gone
		if resp, body := gw.get(t, "/x"); resp.StatusCode != 200 || string(body) != "B" {
			t.Fatalf("after the move: %d %q (the loops dial %q)", resp.StatusCode, body, gw.snap.Load().router.services[0].targets[0].dialAddr())
		}
	})
}

// TestEpollServesNamesNotYetResolved: a service whose name the background
// lookup could not resolve yet (it retries every 5 s) is still served on
// the loops, which dial the name off the loop, and no connection is
// handed to the goroutine server for it.
func TestEpollServesNamesNotYetResolved(t *testing.T) {
	echo := newTextEcho(t)
	port := echo[strings.LastIndex(echo, ":")+1:]
	var ready atomic.Bool
	fakeDNSFunc(t, func(name string) ([]netip.Addr, bool) {
		if name != "late.test" || !ready.Load() {
			return nil, false
		}
		return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, true
	})
	failed := make(chan struct{}, 1)
	log := slog.New(lookupWatch{slog.DiscardHandler, failed})
	gw := startEpoll(t, oneRoute(1, "http://late.test:"+port, store.Route{Paths: []string{"/"}}), Options{Logger: log})
	recv(t, failed, "the background lookup to fail")
	ready.Store(true) // the next background lookup is 5 s away
	for i := range 3 {
		if resp, body := gw.get(t, "/x"); resp.StatusCode != http.StatusOK || string(body) != "GET /x " {
			t.Fatalf("#%d: %d %q", i, resp.StatusCode, body)
		}
	}
	if served, handedOff, _ := gw.loopCounts(); served != 3 || handedOff != 0 {
		t.Errorf("served %d on the loops, handed off %d: want 3 and 0", served, handedOff)
	}
}

// lookupWatch signals failed when the upstream logs a failed name lookup.
type lookupWatch struct {
	slog.Handler
	failed chan struct{}
}

func (h lookupWatch) Handle(ctx context.Context, r slog.Record) error {
	if strings.Contains(r.Message, "name lookup failed") {
		select {
		case h.failed <- struct{}{}:
		default:
		}
	}
	return h.Handler.Handle(ctx, r)
}

func (h lookupWatch) Enabled(context.Context, slog.Level) bool { return true }
func (h lookupWatch) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h lookupWatch) WithGroup(string) slog.Handler            { return h }
