package dataplane

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sync"

	"github.com/tollgate/tollgate/store"
)

// Defaults and bounds of mirroring.
const (
	defaultMirrorInFlight = 16
	// mirrorBufferBytes bounds the body a copy may lag behind the client
	// by; a copy that falls further behind is dropped.
	mirrorBufferBytes = 1 << 20
	mirrorChunks      = 256
	// mirrorDrainBytes is how much of a shadow's answer is read (and
	// discarded) so that its connection can be reused.
	mirrorDrainBytes = 64 << 10
)

// errMirrorDropped ends a copy's body when the copy is given up.
var errMirrorDropped = errors.New("mirror copy dropped")

// mirror is a compiled Route.Mirror.
type mirror struct {
	service *upstream
	percent float64       // 0 < percent <= 100
	slots   chan struct{} // one per copy in flight
}

func compileMirror(m *store.Mirror, services map[string]*upstream) (*mirror, error) {
	if m == nil {
		return nil, nil
	}
	up := services[m.Service]
	if up == nil {
		return nil, fmt.Errorf("mirror: unknown service %q", m.Service)
	}
	n := m.MaxInFlight
	if n <= 0 {
		n = defaultMirrorInFlight
	}
	pct := m.Percentage
	if pct <= 0 {
		pct = 100
	}
	return &mirror{service: up, percent: pct, slots: make(chan struct{}, n)}, nil
}

// sample decides whether this request is copied.
func (m *mirror) sample() bool {
	return m.percent >= 100 || rand.Float64()*100 < m.percent
}

// acquire takes a slot for a copy, and reports false at the bound.
func (m *mirror) acquire() bool {
	select {
	case m.slots <- struct{}{}:
		return true
	default:
		return false
	}
}

// startMirror sends a copy of rc's request to the route's shadow service
// in the background, if the request is sampled and a slot is free. The
// copy's body, if any, is fed by rc.body as the upstream reads it: the
// returned tee must be aborted when the exchange is over (which drops a
// copy whose body was not read to the end).
func (g *Gateway) startMirror(rc *RequestContext) *mirrorTee {
	return g.mirror(rc, nil)
}

// mirrorHeld is startMirror for a request whose body, if any, the caller
// holds whole (the event loops'): the copy gets its own copy of body.
func (g *Gateway) mirrorHeld(rc *RequestContext, body []byte) {
	g.mirror(rc, body)
}

// mirror is startMirror, with the body held whole in held when rc.body is
// nil.
func (g *Gateway) mirror(rc *RequestContext, held []byte) *mirrorTee {
	m := rc.route.mirror
	if m == nil || !m.sample() {
		return nil
	}
	g.mirrorMu.RLock()
	defer g.mirrorMu.RUnlock()
	if g.mirrorsClosed || !m.acquire() {
		return nil // Shutdown waits for copies no more, or at the bound: drop
	}
	up := m.service
	req := mirrorRequest(rc, up)
	var tee *mirrorTee
	switch {
	case rc.body != nil:
		tee = newMirrorTee()
		req.Body = tee
		rc.body.tee = tee
	case len(held) > 0:
		req.Body = io.NopCloser(bytes.NewReader(bytes.Clone(held)))
	}
	ctx, cancel := context.WithTimeout(g.bg, up.timeout)
	req = req.WithContext(ctx)
	var key uint64
	if up.hashed {
		key = up.hash.key(rc)
	}
	g.mirrors.Go(func() {
		defer func() { <-m.slots }()
		defer cancel()
		sendMirror(req, up, key)
	})
	return tee
}

// closeMirrors makes every copy from now on be dropped, cancels those
// running and waits for them. A request that outlives Shutdown (whose
// context ended first) starts no copy that nothing would wait for, and no
// copy's start races with the wait.
func (g *Gateway) closeMirrors() {
	g.mirrorMu.Lock()
	g.mirrorsClosed = true
	g.mirrorMu.Unlock()
	g.bgCancel()
	g.mirrors.Wait()
}

// mirrorRequest builds the copy: the same method, path (as the route sends
// it, under the shadow's base path) and end-to-end headers, with a
// traceparent of its own: the request's trace, and a new span that is a
// child of the gateway's (tracestate goes on as with the main request).
func mirrorRequest(rc *RequestContext, up *upstream) *http.Request {
	in := rc.Request
	out := &http.Request{
		Method: in.Method, URL: rc.targetURLFor(up), Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: in.Header.Clone(), ContentLength: in.ContentLength, Body: http.NoBody,
	}
	if out.Header == nil {
		out.Header = http.Header{}
	}
	removeHopByHop(out.Header)
	setForwarded(out.Header, in, rc.RequestID)
	tc := rc.trace.child()
	setTraceHeaders(out.Header, &tc)
	return out
}

// sendMirror sends the copy to a target of up and discards the answer.
// The outcome feeds up's passive health check like the main path's (and
// an ejection it causes is counted like theirs).
func sendMirror(req *http.Request, up *upstream, key uint64) {
	t := up.balancer.pick(key, 0)
	if t == nil {
		closeBody(req)
		return
	}
	req.URL.Host = t.addr
	t.inflight.Add(1)
	defer t.inflight.Add(-1)
	status := 0
	resp, err := up.transport.RoundTrip(req)
	if errors.Is(err, errMirrorDropped) {
		return // the copy was given up (its body was not read): nothing to say about t
	}
	if err == nil {
		status = resp.StatusCode
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, mirrorDrainBytes))
		resp.Body.Close()
	}
	up.observe(t, status)
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}

// mirrorTee hands the client's body to a copy as the upstream reads it,
// without ever blocking: a copy that lags by more than mirrorBufferBytes is
// dropped. Its methods are safe to call on nil (no copy).
type mirrorTee struct {
	chunks chan []byte // closed at the end of the body
	mu     sync.Mutex
	queued int  // bytes in chunks
	ended  bool // chunks closed, normally or not
	failed chan struct{}
	rest   []byte // part of a chunk not read yet (reader side)
}

func newMirrorTee() *mirrorTee {
	return &mirrorTee{chunks: make(chan []byte, mirrorChunks), failed: make(chan struct{})}
}

// write passes a piece of the body read from the client and the error the
// read returned: io.EOF ends the copy's body, any other error drops it.
func (m *mirrorTee) write(p []byte, err error) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ended {
		return
	}
	if len(p) > 0 {
		if m.queued+len(p) > mirrorBufferBytes {
			m.endLocked(true)
			return
		}
		select {
		case m.chunks <- append([]byte(nil), p...):
			m.queued += len(p)
		default:
			m.endLocked(true)
			return
		}
	}
	if err != nil {
		m.endLocked(err != io.EOF)
	}
}

// abort drops the copy unless its body is complete.
func (m *mirrorTee) abort() {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.endLocked(true)
}

func (m *mirrorTee) endLocked(failed bool) {
	if m.ended {
		return
	}
	m.ended = true
	if failed {
		close(m.failed)
	}
	close(m.chunks)
}

// Read is the copy's body.
func (m *mirrorTee) Read(p []byte) (int, error) {
	if len(m.rest) == 0 {
		select {
		case <-m.failed:
			return 0, errMirrorDropped
		case chunk, ok := <-m.chunks:
			if !ok {
				select {
				case <-m.failed:
					return 0, errMirrorDropped
				default:
					return 0, io.EOF
				}
			}
			m.mu.Lock()
			m.queued -= len(chunk)
			m.mu.Unlock()
			m.rest = chunk
		}
	}
	n := copy(p, m.rest)
	m.rest = m.rest[n:]
	return n, nil
}

// Close drops the copy's body; the transport calls it when done.
func (m *mirrorTee) Close() error {
	m.abort()
	return nil
}
