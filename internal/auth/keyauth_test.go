package auth

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/tollgate/tollgate/store"
)

func newTestKeyAuth(t *testing.T, cfg KeyAuthConfig) *KeyAuth {
	t.Helper()
	p, err := NewKeyAuth(cfg, testConsumers(t), Options{})
	if err != nil {
		t.Fatalf("NewKeyAuth: %v", err)
	}
	return p
}

func TestKeyAuth(t *testing.T) {
	no := false
	tests := []struct {
		name      string
		cfg       KeyAuthConfig
		target    string
		header    map[string]string
		status    int
		code      string
		consumer  string
		wantQuery string // forwarded raw query
		keptKey   bool   // the key header is still forwarded
	}{
		{name: "header", target: "/o", header: map[string]string{"apikey": "alice-api-key"}, status: 200, consumer: "alice", keptKey: true},
		{name: "query", target: "/o?apikey=bob-api-key&x=1", status: 200, consumer: "bob", wantQuery: "apikey=bob-api-key&x=1"},
		{name: "escaped query value", target: "/o?apikey=alice%2Dapi%2Dkey", status: 200, consumer: "alice", wantQuery: "apikey=alice%2Dapi%2Dkey"},
		{name: "header before query", target: "/o?apikey=wrong", header: map[string]string{"apikey": "bob-api-key"}, status: 200, consumer: "bob", wantQuery: "apikey=wrong", keptKey: true},
		{name: "wrong key", target: "/o", header: map[string]string{"apikey": "guess"}, status: 401, code: "invalid_api_key"},
		{name: "missing key", target: "/o?other=1", status: 401, code: "missing_api_key"},
		{name: "empty key", target: "/o?apikey=", status: 401, code: "missing_api_key"},
		{name: "query disabled", cfg: KeyAuthConfig{KeyInQuery: &no}, target: "/o?apikey=bob-api-key", status: 401, code: "missing_api_key"},
		{name: "header disabled", cfg: KeyAuthConfig{KeyInHeader: &no}, target: "/o", header: map[string]string{"apikey": "bob-api-key"}, status: 401, code: "missing_api_key"},
		{name: "custom names", cfg: KeyAuthConfig{KeyNames: []string{"X-API-Key", "key"}}, target: "/o?key=alice-api-key", status: 200, consumer: "alice", wantQuery: "key=alice-api-key"},
		{name: "custom header", cfg: KeyAuthConfig{KeyNames: []string{"x-api-key"}}, target: "/o", header: map[string]string{"X-Api-Key": "bob-api-key"}, status: 200, consumer: "bob", keptKey: true},
		{name: "hide header", cfg: KeyAuthConfig{HideCredentials: true}, target: "/o?x=1", header: map[string]string{"apikey": "alice-api-key"}, status: 200, consumer: "alice", wantQuery: "x=1"},
		{name: "hide query", cfg: KeyAuthConfig{HideCredentials: true}, target: "/o?a=1&apikey=bob-api-key&b=2&apikey=dup", status: 200, consumer: "bob", wantQuery: "a=1&b=2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newTestKeyAuth(t, tt.cfg)
			req := httptest.NewRequest(http.MethodGet, "http://gw"+tt.target, nil)
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			req.Header.Set("X-Consumer", "forged")
			rec, s := serve(p, req)
			if rec.Code != tt.status {
				t.Fatalf("status = %d, want %d: %s", rec.Code, tt.status, rec.Body)
			}
			if tt.status != 200 {
				if code, _ := errorBody(t, rec); code != tt.code || s.called {
					t.Fatalf("code = %q (next ran: %v), want %q", code, s.called, tt.code)
				}
				if got := rec.Header().Get("WWW-Authenticate"); got != `Key realm="tollgate"` {
					t.Fatalf("WWW-Authenticate = %q", got)
				}
				return
			}
			if s.consumer != tt.consumer || s.header.Values("X-Consumer")[0] != tt.consumer || len(s.header.Values("X-Consumer")) != 1 {
				t.Fatalf("consumer %q, X-Consumer %q, want %q", s.consumer, s.header.Values("X-Consumer"), tt.consumer)
			}
			if s.url.RawQuery != tt.wantQuery {
				t.Fatalf("forwarded query %q, want %q", s.url.RawQuery, tt.wantQuery)
			}
			key := ""
			for k := range tt.header {
				key = s.header.Get(k)
			}
			if (key != "") != tt.keptKey {
				t.Fatalf("key header forwarded = %q, want kept %v", key, tt.keptKey)
			}
		})
	}
}

func TestKeyAuthForgedConsumerRemovedOnFailure(t *testing.T) {
	p := newTestKeyAuth(t, KeyAuthConfig{})
	req := httptest.NewRequest(http.MethodGet, "http://gw/o", nil)
	req.Header.Set("X-Consumer", "admin")
	req.Header.Set("X-User-Id", "admin")
	rec, _ := serve(p, req)
	if rec.Code != 401 || req.Header.Get("X-Consumer") != "" || req.Header.Get("X-User-Id") != "" {
		t.Fatalf("status %d, headers left %v", rec.Code, req.Header)
	}
}

func TestNewKeyAuthRejectsBadCredentials(t *testing.T) {
	bad := []store.Consumer{{Username: "x", Credentials: store.ConsumerCredentials{
		KeyAuth: []store.KeyAuthCredential{{KeyID: "k", KeyHash: "md5:abc"}}}}}
	if _, err := NewKeyAuth(KeyAuthConfig{}, bad, Options{}); err == nil {
		t.Fatal("NewKeyAuth accepted a malformed key hash")
	}
	dup := []store.Consumer{
		{Username: "a", Credentials: store.ConsumerCredentials{KeyAuth: []store.KeyAuthCredential{{KeyID: "k", KeyHash: store.HashAPIKey("same")}}}},
		{Username: "b", Credentials: store.ConsumerCredentials{KeyAuth: []store.KeyAuthCredential{{KeyID: "k", KeyHash: store.HashAPIKey("same")}}}},
	}
	if _, err := NewKeyAuth(KeyAuthConfig{}, dup, Options{}); err == nil {
		t.Fatal("NewKeyAuth accepted one key for two consumers")
	}
	no := false
	if _, err := NewKeyAuth(KeyAuthConfig{KeyInHeader: &no, KeyInQuery: &no}, nil, Options{}); err == nil {
		t.Fatal("NewKeyAuth accepted a config that reads the key from nowhere")
	}
}

func TestQueryHelpers(t *testing.T) {
	for _, tt := range []struct {
		raw, name, value string
		ok               bool
		removed          string
	}{
		{"apikey=a&b=c", "apikey", "a", true, "b=c"},
		{"b=c&api%6Bey=x+y", "apikey", "x y", true, "b=c"},
		{"b=c&&apikey", "apikey", "", true, "b=c"},
		{"apikeyx=1", "apikey", "", false, "apikeyx=1"},
		{"apikey=%zz", "apikey", "", false, ""},
	} {
		v, ok := queryValue(tt.raw, tt.name)
		if v != tt.value || ok != tt.ok {
			t.Errorf("queryValue(%q) = %q, %v; want %q, %v", tt.raw, v, ok, tt.value, tt.ok)
		}
		if got := removeQuery(tt.raw, tt.name); got != tt.removed {
			t.Errorf("removeQuery(%q) = %q, want %q", tt.raw, got, tt.removed)
		}
	}
}
