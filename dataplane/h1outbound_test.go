package dataplane

import (
	"bufio"
	"bytes"
	"context"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// outboundBoth writes the upstream head for in both ways: outbound with
// writeRequestHead, and appendOutboundHead.
func outboundBoth(t *testing.T, in *http.Request, joined bool) (general, direct *http.Request, generalErr, directErr error) {
	up := &upstream{scheme: "http"}
	rc := &RequestContext{Request: in, RequestID: "rid-1",
		route: &compiledRoute{routeInfo: &routeInfo{service: up}}}
	rc.trace.joined = joined
	rc.trace.traceID[0], rc.trace.spanID[0] = 1, 2
	var buf bytes.Buffer
	bw := bufio.NewWriter(&buf)
	out := outbound(context.Background(), rc)
	if generalErr = writeRequestHead(bw, out, "10.0.0.1:80", in.ContentLength); generalErr == nil {
		bw.Flush()
		general, generalErr = http.ReadRequest(bufio.NewReader(&buf))
	}
	b, directErr := appendOutboundHead(nil, rc, rc.targetURL(), "10.0.0.1:80", in.ContentLength)
	if directErr == nil {
		direct, directErr = http.ReadRequest(bufio.NewReader(bytes.NewReader(b)))
	}
	return general, direct, generalErr, directErr
}

func checkOutboundSame(t *testing.T, raw string, remote string, joined bool) {
	t.Helper()
	in, end, ok := parseRequestInto([]byte(raw), 1<<20, new(parsedRequest), true)
	if !ok || end+int(in.ContentLength) != len(raw) {
		return
	}
	in.RemoteAddr = remote
	general, direct, gErr, dErr := outboundBoth(t, in, joined)
	if (gErr == nil) != (dErr == nil) {
		t.Fatalf("general err %v, direct err %v\n%q", gErr, dErr, raw)
	}
	if gErr != nil {
		return
	}
	if general.ContentLength != direct.ContentLength {
		t.Fatalf("Content-Length: general %d, direct %d\n%q", general.ContentLength, direct.ContentLength, raw)
	}
	if general.Method != direct.Method || general.RequestURI != direct.RequestURI || general.Host != direct.Host {
		t.Fatalf("request line: %s %s %s vs %s %s %s", general.Method, general.RequestURI, general.Host, direct.Method, direct.RequestURI, direct.Host)
	}
	if !maps.EqualFunc(general.Header, direct.Header, slices.Equal) {
		t.Fatalf("fields differ for %q:\ngeneral %v\ndirect  %v", raw, general.Header, direct.Header)
	}
}

func TestOutboundHeadMatchesGeneralPath(t *testing.T) {
	for _, raw := range []string{
		"GET /a?b=c HTTP/1.1\r\nHost: gw\r\nAccept: */*\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: gw\r\nX-Forwarded-For: 1.2.3.4\r\nVia: 1.0 edge\r\nX-Request-Id: theirs\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: gw\r\nConnection: keep-alive, X-Forwarded-For, Via, X-Secret\r\nX-Secret: s\r\nX-Forwarded-For: 1.2.3.4\r\nVia: 1.0 edge\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: gw\r\nTe: trailers, gzip\r\nKeep-Alive: 5\r\nProxy-Authorization: x\r\nUpgrade-Insecure-Requests: 1\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: gw\r\nTraceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\nTracestate: a=b\r\n\r\n",
		"POST /p HTTP/1.1\r\nHost: gw\r\nX-Empty:\r\nX-Sp:   padded   \r\n\r\n",
		"GET /%2Fenc/x%20y HTTP/1.0\r\nHost: gw\r\nX-Multi: 1\r\nX-Multi: 2\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: gw\r\nConnection: Tracestate\r\nTracestate: a=b\r\n\r\n",
		"POST /p HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n{\"a\":1}",
		"PUT /p HTTP/1.1\r\nHost: gw\r\nContent-Length: 0\r\n\r\n",
		"GET /p HTTP/1.1\r\nHost: gw\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
		"DELETE /p HTTP/1.0\r\nHost: gw\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok",
	} {
		for _, joined := range []bool{false, true} {
			checkOutboundSame(t, raw, "192.0.2.7:5555", joined)
			checkOutboundSame(t, raw, "not-an-address", joined)
		}
	}
}

func FuzzOutboundHead(f *testing.F) {
	f.Add("GET / HTTP/1.1\r\nHost: gw\r\nConnection: keep-alive, X-Forwarded-For, Via\r\nX-Forwarded-For: 1.2.3.4\r\nVia: 1.0 edge\r\n\r\n", true)
	f.Add("GET /a?b HTTP/1.1\r\nHost: gw\r\nTe: trailers\r\nTracestate: x=y\r\n\r\n", false)
	f.Fuzz(func(t *testing.T, raw string, joined bool) {
		if !strings.HasPrefix(raw, "GET ") && !strings.HasPrefix(raw, "POST ") {
			return
		}
		checkOutboundSame(t, raw, "192.0.2.7:5555", joined)
	})
}
