package auth

import (
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/store"
)

func TestBuild(t *testing.T) {
	consumers := testConsumers(t)
	for _, tt := range []struct {
		plugin store.Plugin
		err    error
		msg    string
	}{
		{plugin: store.Plugin{Name: "jwt"}},
		{plugin: store.Plugin{Name: "jwt", Config: json.RawMessage(`{"issuer":"https://idp","audiences":["api"],"leeway":"30s"}`)}},
		{plugin: store.Plugin{Name: "key-auth"}},
		{plugin: store.Plugin{Name: "acl", Config: json.RawMessage(`{"allow":["admins"]}`)}},
		{plugin: store.Plugin{Name: "acl"}, err: ErrInvalidConfig, msg: "acl: allow or deny is required"},
		{plugin: store.Plugin{Name: "jwt", Config: json.RawMessage(`{"algorithms":["HS256","none"]}`)}, err: ErrInvalidConfig, msg: `algorithms[1]: unsupported "none"`},
		{plugin: store.Plugin{Name: "jwt", Config: json.RawMessage(`{"issuer":"x","claims":{}}`)}, err: ErrInvalidConfig, msg: "claims: unknown field"},
		{plugin: store.Plugin{Name: "key-auth", Config: json.RawMessage(`{"key_names":"apikey"}`)}, err: ErrInvalidConfig, msg: "key_names: must be a list"},
		{plugin: store.Plugin{Name: "rate-limit"}, err: ErrNotAuthPlugin},
	} {
		t.Run(tt.plugin.Name+string(tt.plugin.Config), func(t *testing.T) {
			pol, err := Build(tt.plugin, consumers, Options{})
			if tt.err == nil {
				if err != nil || pol == nil {
					t.Fatalf("Build = %v, %v", pol, err)
				}
				if c, ok := pol.(io.Closer); ok {
					_ = c.Close()
				}
				return
			}
			if pol != nil || !errors.Is(err, tt.err) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("Build = %v, %v; want nil and %v containing %q", pol, err, tt.err, tt.msg)
			}
		})
	}
	if !IsAuthPlugin("jwt") || !IsAuthPlugin("acl") || !IsAuthPlugin("key-auth") || IsAuthPlugin("rate-limit") {
		t.Fatal("IsAuthPlugin")
	}
}
