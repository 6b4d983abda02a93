package dataplane

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
)

// target expands the call's path and query templates for rc under the
// base path of the call's service; expanded values are escaped.
func (c *aggCall) target(rc *RequestContext) *url.URL {
	p := string(c.path.path.expand(nil, rc, appendRaw))
	raw := string(c.path.path.expand(nil, rc, appendPathEscaped))
	q := string(c.path.query.expand(nil, rc, appendQueryEscaped))
	return c.up.targetPath(p, raw, q)
}

// do sends one call within its timeout and reads its JSON answer. It runs
// on its own goroutine and uses only its arguments and c.
func (c *aggCall) do(ctx context.Context, req *http.Request, key uint64) partResult {
	ctx, cancel := context.WithTimeoutCause(ctx, c.timeout, errUpstreamTimeout)
	defer cancel()
	up := c.up
	if !up.acquire() {
		return partResult{err: fmt.Errorf("service %s: %w", up.name, errCircuitOpen)}
	}
	defer up.release()
	resp, t, err := c.send(ctx, req.WithContext(ctx), key)
	if err != nil {
		return partResult{err: err}
	}
	defer t.inflight.Add(-1)
	defer resp.Body.Close()
	body, err := readPart(resp)
	if err != nil && ctx.Err() != nil {
		err = fmt.Errorf("%w: %w", context.Cause(ctx), err)
	}
	return partResult{body, err}
}

// send tries the targets of the call's service as its balancer, health
// checks and retry policy allow. On success the target's in-flight count
// is held until the caller releases it.
func (c *aggCall) send(ctx context.Context, req *http.Request, key uint64) (*http.Response, *target, error) {
	up := c.up
	var tried uint64
	for attempt := 1; ; attempt++ {
		t, err := up.nextTarget(key, &tried)
		if err != nil {
			return nil, nil, err
		}
		out := *req
		u := *req.URL
		u.Host = t.addr
		out.URL = &u
		t.inflight.Add(1)
		resp, err := up.transport.RoundTrip(&out)
		if err == nil {
			up.observe(t, resp.StatusCode)
			return resp, t, nil
		}
		t.inflight.Add(-1)
		cause := context.Cause(ctx)
		if cause == nil || errors.Is(cause, errUpstreamTimeout) {
			up.observe(t, 0) // not when the client or a sibling call gave up
		}
		if attempt >= up.retry.attempts || !retryable(ctx, req, err) || !sleepCtx(ctx, up.retry.wait(attempt)) {
			if cause = context.Cause(ctx); cause != nil {
				return nil, nil, fmt.Errorf("call to %s: %w: %w", t.addr, cause, err)
			}
			return nil, nil, fmt.Errorf("call to %s: %w", t.addr, err)
		}
	}
}

// readPart returns the JSON body of a call's answer: it must be 2xx, of a
// JSON media type, not encoded, and within aggregatePartBytes. An empty
// body (204) reads as null.
func readPart(resp *http.Response) ([]byte, error) {
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, fmt.Errorf("%w %d", errPartStatus, resp.StatusCode)
	}
	if enc := resp.Header.Get("Content-Encoding"); enc != "" && !strings.EqualFold(enc, "identity") {
		return nil, fmt.Errorf("%w (content encoding %q)", errPartNotJSON, enc)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, aggregatePartBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errUpstreamAborted, err)
	}
	if len(body) > aggregatePartBytes {
		return nil, fmt.Errorf("%w (over %d bytes)", errPartTooLarge, aggregatePartBytes)
	}
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return []byte("null"), nil
	}
	if !isJSONType(resp.Header.Get("Content-Type")) {
		return nil, fmt.Errorf("%w (content type %q)", errPartNotJSON, resp.Header.Get("Content-Type"))
	}
	if !json.Valid(body) {
		return nil, fmt.Errorf("%w (malformed)", errPartNotJSON)
	}
	return body, nil
}

// isJSONType reports whether a Content-Type is application/json or
// another JSON media type (application/problem+json).
func isJSONType(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	return mt == "application/json" || (strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"))
}
