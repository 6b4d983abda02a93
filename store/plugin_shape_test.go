package store

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestParseShapeConfig(t *testing.T) {
	cases := []struct {
		raw  string
		errs []string // expected "path: message" prefixes, in order
	}{
		{`{"include":["id","name","price.amount"]}`, nil},
		{`{"exclude":["internal"],"groups":{"mobile":{"include":["id"]},"admin":{}}}`, nil},
		{`{"groups":{"mobile":{"exclude":["a.b.c"]}},"max_body_bytes":4096}`, nil},
		{`{}`, []string{"needs include, exclude or groups"}},
		{`{"include":["id",""]}`, []string{"include[1]: invalid field path"}},
		{`{"include":["a..b"],"exclude":[".a","a."]}`, []string{"include[0]: invalid", "exclude[0]: invalid", "exclude[1]: invalid"}},
		{`{"include":["id","id"]}`, []string{`include[1]: duplicate field "id"`}},
		{`{"groups":{"mobile":{"include":["x."]}}}`, []string{"groups.mobile.include[0]: invalid field path"}},
		{`{"groups":{"":{"include":["x"]}}}`, []string{"groups: empty group name"}},
		{`{"include":["a"],"max_body_bytes":-1}`, []string{"max_body_bytes: must be between"}},
		{`{"include":["a"],"max_body_bytes":1000000000000}`, []string{"max_body_bytes: must be between"}},
		{`{"include":"id"}`, []string{"invalid response-shape config"}},
		{`{"fields":["id"]}`, []string{"invalid response-shape config: json: unknown field"}},
	}
	for _, c := range cases {
		t.Run(c.raw, func(t *testing.T) {
			_, errs := ParseShapeConfig(json.RawMessage(c.raw))
			if len(errs) != len(c.errs) {
				t.Fatalf("errors = %v, want %d", errs, len(c.errs))
			}
			for i, want := range c.errs {
				if !strings.HasPrefix(errs[i].String(), want) {
					t.Fatalf("error %d = %q, want prefix %q", i, errs[i], want)
				}
			}
		})
	}
}

func TestShapeConfigDefaultsAndDocumentPath(t *testing.T) {
	sc, errs := ParseShapeConfig(json.RawMessage(`{"include":["id"]}`))
	if len(errs) != 0 || sc.EffectiveMaxBodyBytes() != DefaultShapeMaxBodyBytes || sc.Include[0] != "id" {
		t.Fatalf("config %+v, errors %v", sc, errs)
	}
	cfg := validConfig("shape")
	cfg.Plugins = []Plugin{{Name: PluginResponseShape, Config: json.RawMessage(`{"exclude":["a..b"]}`)}}
	err := cfg.Validate()
	if err == nil || !strings.Contains(err.Error(), "plugins[0].config.exclude[0]: invalid field path") {
		t.Fatalf("Validate = %v", err)
	}
}
