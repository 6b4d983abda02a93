package agent

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/tracing/collectortest"
	"github.com/tollgate/tollgate/internal/waitfor"
)

// TestSpansExportedToCollector configures tracing through the config
// document and follows one traced request through a key-auth and
// rate-limited route to a fake OTLP collector.
func TestSpansExportedToCollector(t *testing.T) {
	collector := collectortest.Start(t)
	seen := make(chan string, 4)
	up := upstream(t, "")
	up.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- r.Header.Get("Traceparent")
	})
	a, err := Start(nodeConfig(t, "trace1", nil, 1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Stop() })
	waitfor.Condition(t, 10*time.Second, "a leader", func() bool { return a.Node().IsLeader() })
	doc := policyDoc(up.URL, 10) + "tracing:\n  otlp_endpoint: " + collector.URL +
		"\n  service_name: edge\n  headers: {X-Collector-Token: s3cret}\n"
	if resp, body := putConfig(t, a.AdminAddr(), "application/yaml", doc, nil); resp.StatusCode != 200 {
		t.Fatalf("PUT: %d %s", resp.StatusCode, body)
	}
	waitfor.Condition(t, 2*time.Second, "config applied", func() bool { return a.gateway.Version() >= 1 })

	code, _, _ := get(t, a, "/orders/7", map[string]string{"apikey": "alice-secret-key", "Traceparent": inTrace})
	if code != 200 {
		t.Fatalf("traced request: %d", code)
	}
	var upTP []string // the upstream saw the gateway's span as its parent
	select {
	case tp := <-seen:
		upTP = strings.Split(tp, "-")
	case <-time.After(10 * time.Second):
		t.Fatal("the upstream saw no request")
	}
	const traceID, clientSpan = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	if len(upTP) != 4 || upTP[1] != traceID || upTP[3] != "01" {
		t.Fatalf("upstream traceparent %v", upTP)
	}
	waitfor.Condition(t, 10*time.Second, "4 spans at the collector", func() bool { return len(collector.Trace(traceID)) >= 4 })
	byName := map[string]collectortest.Span{}
	for _, s := range collector.Trace(traceID) {
		byName[s.GetName()] = s
	}
	gw := byName["orders"]
	if gw.Span == nil || gw.SpanID() != upTP[2] || gw.ParentID() != clientSpan {
		t.Fatalf("gateway span %v, want id %s and parent %s", gw.Span, upTP[2], clientSpan)
	}
	if gw.Attr("http.response.status_code") != "200" || gw.Attr("tollgate.route") != "orders" ||
		gw.Attr("tollgate.consumer") != "alice" || gw.Resource["service.name"] != "edge" ||
		gw.Resource["service.instance.id"] != "trace1" {
		t.Errorf("gateway span attributes %v, resource %v", gw.GetAttributes(), gw.Resource)
	}
	for _, name := range []string{"auth:key-auth", "rate-limit", "upstream"} {
		if s := byName[name]; s.Span == nil || s.ParentID() != gw.SpanID() || s.SpanID() == gw.SpanID() {
			t.Errorf("child span %q: %v", name, s.Span)
		}
	}
	if h := collector.Headers(); h[0].Get("X-Collector-Token") != "s3cret" {
		t.Errorf("export request headers %v", h[0])
	}
}
