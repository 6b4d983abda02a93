package dataplane

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/tollgate/tollgate/store"
)

// Defaults of a retry policy.
const (
	defaultBackoff    = 25 * time.Millisecond
	defaultMaxBackoff = time.Second
)

// retryPolicy bounds the attempts of one request.
type retryPolicy struct {
	attempts   int // tries including the first; at least 1
	backoff    time.Duration
	maxBackoff time.Duration
}

func newRetryPolicy(r *store.Retry) retryPolicy {
	p := retryPolicy{attempts: 1, backoff: defaultBackoff, maxBackoff: defaultMaxBackoff}
	if r == nil {
		return p
	}
	p.attempts = max(r.MaxAttempts, 1)
	p.backoff = orDefault(r.Backoff.Std(), defaultBackoff)
	p.maxBackoff = max(orDefault(r.MaxBackoff.Std(), defaultMaxBackoff), p.backoff)
	return p
}

// wait returns the pause before retry number n (1 for the first retry):
// the backoff doubled n-1 times, capped, jittered between half and all.
func (p retryPolicy) wait(n int) time.Duration {
	d := p.backoff
	for i := 1; i < n && d < p.maxBackoff; i++ {
		d *= 2
	}
	d = min(d, p.maxBackoff)
	if half := int64(d / 2); half > 0 {
		return time.Duration(half + rand.Int64N(half+1))
	}
	return d
}

// idempotent reports whether RFC 9110 makes method idempotent.
func idempotent(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
		return true
	}
	return false
}

// hasBody reports whether the client's request carries a body.
func hasBody(r *http.Request) bool {
	return r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0
}

// retryable reports whether a failed attempt may be tried again without
// risking that the upstream acts on the request twice: the connection was
// never made, or the request is idempotent and has no body to replay.
// A deadline or a client that went away ends the request instead.
func retryable(ctx context.Context, in *http.Request, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	if errors.Is(err, errConnect) {
		return true
	}
	return idempotent(in.Method) && !hasBody(in)
}

// sleepCtx waits for d or until ctx ends; false means ctx ended.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// reqBody is what the upstream reads of the client's body. It enforces the
// route's body limit, feeds a mirror, and leaves closing the client's body
// to the server, so that a retry after a failed connect still has it.
type reqBody struct {
	src      io.ReadCloser
	limit    int64 // 0: none
	n        int64
	tooLarge atomic.Bool
	// clientFailed: the client left mid-body (or its reads timed out);
	// malformed: the body's framing is broken. Neither says anything
	// about the upstream.
	clientFailed atomic.Bool
	malformed    atomic.Bool
	tee          *mirrorTee // nil unless the request is mirrored with its body
}

// Read reads from the client, failing with errBodyTooLarge past the limit.
func (b *reqBody) Read(p []byte) (int, error) {
	if b.limit > 0 && int64(len(p)) > b.limit-b.n+1 {
		p = p[:b.limit-b.n+1] // read one byte past the limit at most
	}
	n, err := b.src.Read(p)
	b.n += int64(n)
	if b.limit > 0 && b.n > b.limit {
		b.tooLarge.Store(true)
		b.tee.abort()
		return 0, errBodyTooLarge
	}
	if err != nil && err != io.EOF {
		if clientLeft(err) {
			b.clientFailed.Store(true)
		} else {
			b.malformed.Store(true)
		}
	}
	b.tee.write(p[:n], err)
	return n, err
}

// failedHere reports whether the request failed on the client's side: its
// body was over the limit, or could not be read to its end.
func (b *reqBody) failedHere() bool {
	return b != nil && (b.tooLarge.Load() || b.clientFailed.Load() || b.malformed.Load())
}

// clientLeft reports whether a read from the client failed because it
// went away (or stopped sending), not because of what it sent.
func clientLeft(err error) bool {
	var ne net.Error
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.As(err, &ne)
}

// Close does nothing: the server closes the client's body.
func (b *reqBody) Close() error { return nil }

// nextTarget picks the target of the next attempt for key, preferring one
// not yet tried (tried is a bit set of target indexes, updated), and
// starting over when every target was tried.
func (u *upstream) nextTarget(key uint64, tried *uint64) (*target, error) {
	t := u.balancer.pick(key, *tried)
	if t == nil && *tried != 0 {
		t = u.balancer.pick(key, 0) // every target tried: start over
	}
	if t == nil {
		return nil, fmt.Errorf("service %s: %w", u.name, errNoHealthyTarget)
	}
	if t.index < 64 {
		*tried |= 1 << t.index
	}
	return t, nil
}
