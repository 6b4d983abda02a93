package chaos

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// loadGen is the open-loop load: vegeta paces requests at a fixed rate and
// spreads them round-robin over the nodes. Its transport behaves like a
// sensible load balancer: a connection refused by a dead node is retried
// once on the next node (like HAProxy's retry-on conn-failure).
type loadGen struct {
	nodes        []Node
	rate         int
	timeout      time.Duration
	limitedEvery uint64 // every k-th request goes to the rate-limited route; 0: none
	// retryEmpty also retries a request that got no answer at all (EOF
	// or reset before a response): behind docker's userland proxy, a
	// dead node's port still accepts, then closes, instead of refusing.
	retryEmpty bool

	next   atomic.Uint64
	hidden []atomic.Bool // nodes out of rotation (a compose partition hides them)
	hops   sync.Map      // vegeta seq → *hop
	base   *http.Transport
}

// hop records which node finally answered a request.
type hop struct {
	node    int
	retried bool
}

func newLoadGen(nodes []Node, rate int, timeout time.Duration, rateLimited, retryEmpty bool) *loadGen {
	g := &loadGen{nodes: nodes, rate: rate, timeout: timeout, retryEmpty: retryEmpty, hidden: make([]atomic.Bool, len(nodes))}
	if rateLimited {
		g.limitedEvery = 10
	}
	g.base = &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     30 * time.Second,
	}
	return g
}

// hide takes node i out of rotation, or puts it back.
func (g *loadGen) hide(i int, hidden bool) { g.hidden[i].Store(hidden) }

// pick returns the next node in rotation after (and excluding) from, or
// from itself when every other node is hidden.
func (g *loadGen) pick(from int) int {
	n := len(g.nodes)
	for k := 1; k <= n; k++ {
		i := (from + k) % n
		if !g.hidden[i].Load() {
			return i
		}
	}
	return from
}

// targeter hands vegeta the next request: round-robin over the nodes.
func (g *loadGen) targeter() vegeta.Targeter {
	return func(t *vegeta.Target) error {
		k := g.next.Add(1)
		i := g.pick(int(k % uint64(len(g.nodes))))
		path := loadPath + "/load"
		if g.limitedEvery > 0 && k%g.limitedEvery == 0 {
			path = limitedPath + "/load"
		}
		t.Method = http.MethodGet
		t.URL = g.nodes[i].HTTP + path + "?n=" + strconv.Itoa(i)
		return nil
	}
}

// RoundTrip sends the request to the node the targeter chose and, when
// that node refuses the connection, once more to the next node.
func (g *loadGen) RoundTrip(req *http.Request) (*http.Response, error) {
	seq, _ := strconv.ParseUint(req.Header.Get("X-Vegeta-Seq"), 10, 64)
	i, _ := strconv.Atoi(req.URL.Query().Get("n"))
	h := &hop{node: i}
	g.hops.Store(seq, h)
	resp, err := g.base.RoundTrip(req)
	if err == nil || !g.retryable(err) {
		return resp, err
	}
	j := g.pick(i)
	if j == i {
		return resp, err
	}
	h.node, h.retried = j, true
	retry := req.Clone(req.Context())
	u, _ := url.Parse(g.nodes[j].HTTP)
	retry.URL.Host, retry.Host = u.Host, ""
	q := retry.URL.Query()
	q.Set("n", strconv.Itoa(j))
	retry.URL.RawQuery = q.Encode()
	return g.base.RoundTrip(retry)
}

// retryable reports whether a failed request goes to another node: when
// the connection was refused, or, with retryEmpty, when nothing came back.
func (g *loadGen) retryable(err error) bool {
	if errors.Is(err, syscall.ECONNREFUSED) {
		return true
	}
	return g.retryEmpty && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || strings.Contains(err.Error(), "server closed idle connection"))
}

// takeHop returns (and forgets) where request seq ended up.
func (g *loadGen) takeHop(seq uint64) hop {
	if v, ok := g.hops.LoadAndDelete(seq); ok {
		return *v.(*hop)
	}
	return hop{node: -1}
}

// run attacks for d and hands every result, with its hop, to sink. It
// returns when the attack is over and every result was handed over.
func (g *loadGen) run(ctx context.Context, d time.Duration, sink func(*vegeta.Result, hop)) {
	atk := vegeta.NewAttacker(
		vegeta.Client(&http.Client{Transport: g, Timeout: g.timeout}),
		vegeta.Workers(32),
		vegeta.MaxBody(2048),
	)
	pacer := vegeta.ConstantPacer{Freq: g.rate, Per: time.Second}
	stop := context.AfterFunc(ctx, func() { atk.Stop() })
	defer stop()
	for res := range atk.Attack(g.targeter(), pacer, d, "chaos") {
		sink(res, g.takeHop(res.Seq))
	}
	g.base.CloseIdleConnections()
}

// String describes the load.
func (g *loadGen) String() string {
	return fmt.Sprintf("%d req/s over %d nodes", g.rate, len(g.nodes))
}
