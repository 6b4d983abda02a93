package dataplane

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tollgate/tollgate/store"
)

// aggregatePartBytes caps the body of one aggregate call.
const aggregatePartBytes = 1 << 20

// Failures of an aggregate call's answer; the proxy's own failures
// (timeouts, connection errors) are classified as usual.
var (
	errPartStatus   = errors.New("upstream answered")
	errPartNotJSON  = errors.New("upstream answer is not JSON")
	errPartTooLarge = errors.New("upstream answer is too large")
	errPartAborted  = errors.New("another required call failed")
)

// aggregatePolicy is a compiled store.Aggregate. It is the last policy of
// an aggregate route's chain and answers in place of the proxy: it never
// calls next.
type aggregatePolicy struct {
	calls   []*aggCall
	partial bool
}

var _ Policy = (*aggregatePolicy)(nil)

// aggCall is one compiled store.AggregateCall.
type aggCall struct {
	name     string
	key      []byte // the name as a JSON string
	up       *upstream
	method   string
	path     *rewrite // path and query templates
	timeout  time.Duration
	required bool // a failure fails the whole answer
}

// routeService returns the upstream of a route's service. An aggregate
// route may have none: it gets an empty stand-in, which the proxy never
// uses, so that logs and templates see service "".
func routeService(rt *store.Route, services map[string]*upstream) (*upstream, error) {
	if svc := services[rt.Service]; svc != nil {
		return svc, nil
	}
	if rt.Aggregate != nil && rt.Service == "" {
		return &upstream{log: slog.New(slog.DiscardHandler)}, nil
	}
	return nil, fmt.Errorf("unknown service %q", rt.Service)
}

// compileAggregate compiles a route's aggregate; nil when it has none.
func compileAggregate(rt *store.Route, services map[string]*upstream) (*aggregatePolicy, error) {
	a := rt.Aggregate
	if a == nil {
		return nil, nil
	}
	if len(a.Calls) == 0 {
		return nil, errors.New("aggregate: no calls")
	}
	p := &aggregatePolicy{partial: a.Partial()}
	for _, c := range a.Calls {
		up := services[c.Service]
		if up == nil {
			return nil, fmt.Errorf("aggregate: call %q: unknown service %q", c.Name, c.Service)
		}
		path, err := compileRewrite(c.Path)
		if err != nil {
			return nil, fmt.Errorf("aggregate: call %q: path: %w", c.Name, err)
		}
		if path == nil {
			return nil, fmt.Errorf("aggregate: call %q: no path", c.Name)
		}
		key, _ := json.Marshal(c.Name) // a string always encodes
		p.calls = append(p.calls, &aggCall{name: c.Name, key: key, up: up, method: c.EffectiveMethod(),
			path: path, timeout: orDefault(c.Timeout.Std(), up.timeout), required: c.Required || !p.partial})
	}
	return p, nil
}

// Wrap implements Policy: the returned Handler answers every request
// itself and ignores next.
func (p *aggregatePolicy) Wrap(Handler) Handler { return p.serve }

// partResult is the outcome of one call: a JSON body or an error.
type partResult struct {
	body []byte
	err  error
}

// serve sends the calls in parallel and answers their merged bodies, or a
// gateway error when a required call failed.
func (p *aggregatePolicy) serve(rc *RequestContext) {
	reqs, keys := p.requests(rc)
	results, first := p.run(rc.Request.Context(), reqs, keys)
	switch {
	case rc.Request.Context().Err() != nil:
		rc.fail(fmt.Errorf("aggregate: %w", errClientGone))
	case first >= 0:
		p.reject(rc, p.calls[first], results[first].err)
	default:
		p.respond(rc, results)
	}
}

// requests builds every call's request, and its consistent-hash key, on
// the handler's goroutine: templates and the hash read rc, which the
// calls' goroutines must not touch.
func (p *aggregatePolicy) requests(rc *RequestContext) ([]*http.Request, []uint64) {
	base := aggregateHeader(rc)
	reqs := make([]*http.Request, len(p.calls))
	keys := make([]uint64, len(p.calls))
	for i, c := range p.calls {
		reqs[i] = &http.Request{Method: c.method, URL: c.target(rc), Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header: base.Clone(), Body: http.NoBody}
		if c.up.hashed {
			keys[i] = c.up.hash.key(rc)
		}
	}
	return reqs, keys
}

// aggregateHeader is the header every call sends: the client's end-to-end
// headers as the chain left them (identity headers included), without
// those about a body or a conditional or partial answer, plus the
// forwarding headers. Calls ask for uncompressed JSON.
func aggregateHeader(rc *RequestContext) http.Header {
	in := rc.Request
	h := in.Header.Clone()
	if h == nil {
		h = http.Header{}
	}
	removeHopByHop(h)
	for _, k := range [...]string{"Content-Length", "Content-Type", "Content-Encoding", "Expect", "Range",
		"If-Range", "If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since"} {
		delete(h, k)
	}
	h["Accept"] = []string{"application/json"}
	h["Accept-Encoding"] = []string{"identity"}
	setForwarded(h, in, rc.RequestID)
	return h
}

// run sends the calls, one goroutine each, and waits for all of them. A
// failed required call cancels the others. first is the index of the
// first required call that failed, or -1.
func (p *aggregatePolicy) run(ctx context.Context, reqs []*http.Request, keys []uint64) ([]partResult, int) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	results := make([]partResult, len(p.calls))
	var first atomic.Int32
	first.Store(-1)
	var wg sync.WaitGroup
	for i, c := range p.calls {
		wg.Go(func() {
			results[i] = c.do(ctx, reqs[i], keys[i])
			if results[i].err != nil && c.required && first.CompareAndSwap(-1, int32(i)) {
				cancel(errPartAborted)
			}
		})
	}
	wg.Wait()
	return results, int(first.Load())
}

// reject answers the gateway error of a failed required call, naming it.
func (p *aggregatePolicy) reject(rc *RequestContext, c *aggCall, err error) {
	rc.err = fmt.Errorf("aggregate call %q: %w", c.name, err)
	e := classify(err)
	if isPartError(err) {
		e = gatewayError{http.StatusBadGateway, "aggregate_call_failed", ""}
	}
	e.message = fmt.Sprintf("aggregate call %q failed: %s", c.name, partMessage(err))
	writeError(rc.Writer, e, rc.RequestID)
}

// isPartError reports whether err is about the answer of a call rather
// than about reaching its upstream.
func isPartError(err error) bool {
	return errors.Is(err, errPartStatus) || errors.Is(err, errPartNotJSON) || errors.Is(err, errPartTooLarge)
}

// partMessage describes a call's failure for the client, without the
// upstream's addresses.
func partMessage(err error) string {
	switch {
	case isPartError(err):
		return err.Error()
	case errors.Is(err, errPartAborted):
		return errPartAborted.Error()
	}
	return classify(err).message
}

// aggError is an entry of the "errors" list of a partial answer.
type aggError struct {
	Call  string `json:"call"`
	Error string `json:"error"`
}

// respond answers 200 with {"<name>": <body or null>, ...} in call order,
// and the "errors" list when a call failed.
func (p *aggregatePolicy) respond(rc *RequestContext, results []partResult) {
	var b bytes.Buffer
	var failed []aggError
	b.WriteByte('{')
	for i, c := range p.calls {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(c.key)
		b.WriteByte(':')
		if err := results[i].err; err != nil {
			b.WriteString("null")
			failed = append(failed, aggError{c.name, partMessage(err)})
			if rc.err == nil {
				rc.err = fmt.Errorf("aggregate call %q: %w", c.name, err)
			}
			continue
		}
		b.Write(results[i].body)
	}
	if len(failed) > 0 {
		list, _ := json.Marshal(failed) // strings only
		b.WriteString(`,"` + store.AggregateErrorsKey + `":`)
		b.Write(list)
	}
	b.WriteString("}\n")
	h := rc.Writer.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(b.Len()))
	rc.Writer.WriteHeader(http.StatusOK)
	_, _ = rc.Writer.Write(b.Bytes())
}
