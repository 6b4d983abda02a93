package auth

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestACL(t *testing.T) {
	// alice: admins; bob: users; carol: users, suspended.
	tests := []struct {
		name     string
		cfg      ACLConfig
		consumer string
		status   int
	}{
		{"allowed group", ACLConfig{Allow: []string{"admins"}}, "alice", 200},
		{"not in the allow list", ACLConfig{Allow: []string{"admins"}}, "bob", 403},
		{"deny list only, not denied", ACLConfig{Deny: []string{"suspended"}}, "bob", 200},
		{"denied group", ACLConfig{Deny: []string{"suspended"}}, "carol", 403},
		{"deny wins over allow", ACLConfig{Allow: []string{"users"}, Deny: []string{"suspended"}}, "carol", 403},
		{"allow and deny, allowed", ACLConfig{Allow: []string{"users"}, Deny: []string{"suspended"}}, "bob", 200},
		{"anonymous", ACLConfig{Deny: []string{"suspended"}}, "", 403},
		{"unknown consumer", ACLConfig{Deny: []string{"suspended"}}, "mallory", 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := NewACL(tt.cfg, testConsumers(t), Options{})
			if err != nil {
				t.Fatal(err)
			}
			rec, s := serve(setConsumer(tt.consumer, p), httptest.NewRequest(http.MethodGet, "http://gw/", nil))
			if rec.Code != tt.status || s.called != (tt.status == 200) {
				t.Fatalf("status = %d (next ran: %v), want %d", rec.Code, s.called, tt.status)
			}
			if tt.status == 403 {
				if code, _ := errorBody(t, rec); code != "forbidden" {
					t.Fatalf("code = %q", code)
				}
			}
		})
	}
}

func TestACLAfterKeyAuth(t *testing.T) {
	ka := newTestKeyAuth(t, KeyAuthConfig{})
	acl, err := NewACL(ACLConfig{Allow: []string{"admins"}}, testConsumers(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]int{"alice-api-key": 200, "bob-api-key": 403, "nope": 401} {
		req := httptest.NewRequest(http.MethodGet, "http://gw/?apikey="+key, nil)
		if rec, _ := chain(req, ka, acl); rec.Code != want {
			t.Errorf("key %s: status %d, want %d", key, rec.Code, want)
		}
	}
}

func TestNewACLNeedsAList(t *testing.T) {
	if _, err := NewACL(ACLConfig{}, nil, Options{}); err == nil {
		t.Fatal("NewACL accepted a config without allow or deny")
	}
}
