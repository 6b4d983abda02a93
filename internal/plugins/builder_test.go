package plugins

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/tollgate/tollgate/limiter"
	"github.com/tollgate/tollgate/store"
)

func TestApplicablePrecedenceAndOrder(t *testing.T) {
	cfg := &store.Config{Plugins: []store.Plugin{
		{Name: "rate-limit", Config: json.RawMessage(`{"limit":100,"window":"minute"}`)},
		{Name: "rate-limit", Service: "orders", Config: json.RawMessage(`{"limit":10,"window":"minute"}`)},
		{Name: "rate-limit", Route: "other", Config: json.RawMessage(`{"limit":1,"window":"minute"}`)},
		{Name: "acl", Service: "orders"},
		{Name: "jwt"},
		{Name: "jwt", Route: "orders-get"},
	}}
	got := Applicable(cfg, &store.Route{Name: "orders-get", Service: "orders"})
	want := []struct{ name, route, service string }{
		{"jwt", "orders-get", ""}, {"acl", "", "orders"}, {"rate-limit", "", "orders"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v", got)
	}
	for i, w := range want {
		if got[i].Name != w.name || got[i].Route != w.route || got[i].Service != w.service {
			t.Fatalf("chain[%d] = %+v, want %+v", i, got[i], w)
		}
	}
	if n := len(Applicable(cfg, &store.Route{Name: "x", Service: "y"})); n != 2 {
		t.Fatalf("unrelated route gets %d plugins, want the 2 global ones", n)
	}
}

func TestBuildRateLimitAndUnknown(t *testing.T) {
	lim, err := limiter.New(limiter.Options{NodeID: "n"})
	if err != nil {
		t.Fatal(err)
	}
	defer lim.Close()
	b := &Builder{Limiter: lim}
	routes := []store.Route{{Name: "r", Service: "s"}, {Name: "q", Service: "s"}}
	chains, err := b.Build(&store.Config{Routes: routes, Plugins: []store.Plugin{
		{Name: "rate-limit", Config: json.RawMessage(`{"limit":5,"window":"second"}`)},
		{Name: "acl", Route: "r", Config: json.RawMessage(`{"allow":["admins"]}`)},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(chains.For("r")); n != 2 {
		t.Fatalf("route r has %d policies, want acl + rate-limit", n)
	}
	if chains.For("r")[1] != chains.For("q")[0] {
		t.Fatal("the global rate-limit instance was built twice")
	}
	defer chains.Close()
	_, err = b.Build(&store.Config{Routes: routes, Plugins: []store.Plugin{{Name: "teleport"}}})
	if !errors.Is(err, ErrUnknownPlugin) {
		t.Fatalf("unknown plugin: %v", err)
	}
}
