package store

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
)

// FuzzDecode checks that Decode and Validate never panic, that they only
// fail with a *ValidationError, and that an accepted document survives a
// round trip through its JSON encoding (which is how it travels in a Raft
// command and is persisted).
func FuzzDecode(f *testing.F) {
	f.Add([]byte(fullJSON), false)
	f.Add([]byte(fullYAML), true)
	f.Add([]byte(`{}`), false)
	f.Add([]byte(`{"version": 3, "services": [{"name": "a", "url": "http://a:1", "timeout": 1.5}]}`), false)
	f.Add([]byte(`{"routes": [{"name": "r", "service": "x", "pathz": 1}]}`), false)
	f.Add([]byte(`{"plugins": [{"name": "p", "config": {"a": [1e400, "<&>", null]}}]}`), false)
	f.Add([]byte("services:\n  - name: a\n    url: http://a\n    connect_timeout: 250ms\nroutes:\n  - name: r\n    service: a\n    hosts: ['*.x.io']\n"), true)
	f.Add([]byte("- a\n- b\n"), true)
	f.Add([]byte(`[1, 2]`), false)
	f.Add([]byte(`{"services":[{"name":"u","url":"http://u:1"},{"name":"o","url":"http://o:1"}],
		"routes":[{"name":"d","paths":["/d/{id}"],"aggregate":{"on_error":"partial","calls":[
			{"name":"user","service":"u","path":"/users/{id}","timeout":"300ms","required":true},
			{"name":"orders","service":"o","path":"/orders?u={id}&c={consumer}"}]}}],
		"plugins":[{"name":"cache","route":"d","config":{"ttl":"30s","key":["consumer"]}},
			{"name":"response-shape","route":"d","config":{"include":["user.id"],"groups":{"m":{"exclude":["orders"]}}}}]}`), false)

	f.Fuzz(func(t *testing.T, data []byte, yaml bool) {
		ct := "application/json"
		if yaml {
			ct = "application/yaml"
		}
		cfg, err := Decode(data, ct)
		if err != nil {
			if cfg != nil {
				t.Fatalf("Decode returned both a config and %v", err)
			}
			var ve *ValidationError
			if !errors.As(err, &ve) || len(ve.Errors) == 0 {
				t.Fatalf("Decode error %v (%T) is not a non-empty *ValidationError", err, err)
			}
			return
		}
		if err := cfg.Validate(); err != nil {
			var ve *ValidationError
			if !errors.As(err, &ve) || len(ve.Errors) == 0 {
				t.Fatalf("Validate error %v (%T) is not a non-empty *ValidationError", err, err)
			}
			return
		}

		b, err := json.Marshal(cfg)
		if err != nil {
			t.Fatalf("Marshal of an accepted document: %v", err)
		}
		again, err := Decode(b, "application/json")
		if err != nil {
			t.Fatalf("re-encoded document rejected by Decode: %v\n%s", err, b)
		}
		if err := again.Validate(); err != nil {
			t.Fatalf("re-encoded document rejected by Validate: %v\n%s", err, b)
		}
		if g, w := normalize(t, again), normalize(t, cfg); !reflect.DeepEqual(g, w) {
			t.Fatalf("round trip changed the document\n got: %+v\nwant: %+v\njson: %s", g, w, b)
		}
		// A second encoding is stable.
		b2, err := json.Marshal(again)
		if err != nil {
			t.Fatal(err)
		}
		if string(b2) != string(b) {
			t.Fatalf("encoding not stable\nfirst:  %s\nsecond: %s", b, b2)
		}
	})
}
