package dataplane

import (
	"bufio"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// relayAgainstGeneral checks the relay on head against the general path:
// when scanResponseHead takes a head, parseResponseHead must take it with
// the same status, length and keep-alive, and the client must get the
// same fields (Date aside, which both add when the upstream sent none).
func relayAgainstGeneral(t *testing.T, head string, policy http.Header) {
	rh, ok := scanResponseHead(head)
	if !ok || !relayableFields(policy) {
		return
	}
	req := &http.Request{Method: "GET"}
	resp, f, err := parseResponseHead(head, req)
	if err != nil {
		t.Fatalf("relay took a head the general path refuses (%v):\n%q", err, head)
	}
	if resp.StatusCode != rh.status || f.chunked || f.toClose || f.length != rh.length || resp.Close != rh.close {
		t.Fatalf("relay %+v, general status %d framing %+v close %v:\n%q", rh, resp.StatusCode, f, resp.Close, head)
	}
	// What Gateway.respond makes of it: the policy's fields, then the
	// upstream's end-to-end ones over them, then the request id.
	want := policy.Clone()
	if want == nil {
		want = http.Header{}
	}
	upstream := resp.Header.Clone()
	removeHopByHop(upstream)
	for k, vv := range upstream {
		want[k] = vv
	}
	delete(want, "Content-Length")
	want[headerRequestID] = []string{"rid"}
	out := appendRelayedHead(nil, head, &rh, "rid", policy)
	got, err := http.ReadResponse(bufio.NewReader(strings.NewReader(string(out))), req)
	if err != nil {
		t.Fatalf("relayed head does not parse (%v):\n%q", err, out)
	}
	if got.StatusCode != rh.status || got.ContentLength != rh.length {
		t.Fatalf("relayed %d/%d, want %d/%d:\n%q", got.StatusCode, got.ContentLength, rh.status, rh.length, out)
	}
	have := got.Header
	delete(have, "Content-Length")
	if _, sent := want["Date"]; !sent {
		if len(have["Date"]) != 1 {
			t.Fatalf("no Date added:\n%q", out)
		}
		delete(have, "Date")
	}
	if !maps.EqualFunc(have, want, slices.Equal) {
		t.Fatalf("relayed fields %v\nwant %v\nhead %q", have, want, head)
	}
}

func TestRelayHead(t *testing.T) {
	for _, tt := range []struct {
		head  string
		relay bool
	}{
		{"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n", true},
		{"HTTP/1.1 404 Not Found\r\nServer: nginx\r\nDate: Mon, 01 Jan 2024 00:00:00 GMT\r\nContent-Length: 0\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n\r\n", true},
		{"HTTP/1.1 200 OK\r\nConnection: close\r\nX-Request-Id: theirs\r\nContent-Length: 1\r\n\r\n", true},
		{"HTTP/1.1 200 OK\r\nConnection: x-secret, close\r\nX-Secret: 1\r\nContent-Length: 1\r\n\r\n", false},
		{"HTTP/1.1 200 OK\r\nContent-Length: \r\nContent-Length: 2\r\n\r\n", false},
		{"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n", true},
		{"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n\r\n", true},
		{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", false},
		{"HTTP/1.1 200 OK\r\n\r\n", false},
		{"HTTP/1.1 204 No Content\r\n\r\n", false},
		{"HTTP/1.1 100 Continue\r\n\r\n", false},
		{"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n", false},
		{"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-A: 1\r\n  folded\r\n\r\n", false},
		{"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n", false},
		{"HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\n", false},
		{"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nPragma: no-cache\r\n\r\n", false},
		{"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nBad Name: x\r\n\r\n", false},
		{"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-A: a\x01b\r\n\r\n", false},
	} {
		if _, ok := scanResponseHead(tt.head); ok != tt.relay {
			t.Errorf("relay %v, want %v: %q", ok, tt.relay, tt.head)
		}
		relayAgainstGeneral(t, tt.head, nil)
		relayAgainstGeneral(t, tt.head, ratePolicyFields)
	}
	if relayableFields(http.Header{"Connection": {"close"}}) || relayableFields(http.Header{"X-A": {"a\nb"}}) {
		t.Error("framing fields or broken values from a policy must take the general path")
	}
}

// ratePolicyFields are what a rate-limit policy sets before the proxy,
// one of them also sent by the upstreams of TestRelayHead.
var ratePolicyFields = http.Header{
	headerRequestID: {"rid"}, "Ratelimit-Limit": {"100"}, "Ratelimit-Remaining": {"99"},
	"Server": {"policy"}, "X-Multi": {"1", "2"},
}

func FuzzRelayHead(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n",
		"HTTP/1.1 200 OK\r\nConnection: x-secret, close\r\nX-Secret: 1\r\nContent-Length: 1\r\n\r\n",
		"HTTP/1.0 503 Service Unavailable\r\nConnection: keep-alive\r\nRetry-After: 1\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nKeep-Alive: timeout=5\r\nProxy-Authenticate: x\r\nUpgrade: h2\r\nContent-Length: 0\r\n\r\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, head string) {
		if end := headEnd([]byte(head)); end != len(head) {
			return // not one whole head
		}
		relayAgainstGeneral(t, head, nil)
		relayAgainstGeneral(t, head, ratePolicyFields)
	})
}
