package store

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

const fullJSON = `{
  "version": 7,
  "services": [
    {"name": "users", "url": "http://127.0.0.1:9001", "connect_timeout": "250ms", "timeout": 2000},
    {"name": "orders", "url": "https://orders.internal/base", "timeout": "1m30s"}
  ],
  "routes": [
    {"name": "users", "service": "users", "paths": ["/users", "/u"], "methods": ["GET", "POST"]},
    {"name": "orders", "service": "orders", "hosts": ["api.example.com", "*.example.com"], "paths": ["/orders"], "strip_path": true}
  ],
  "consumers": [{"username": "alice", "groups": ["admins", "ops"]}, {"username": "bob"}],
  "plugins": [
    {"name": "rate-limit", "route": "orders", "config": {"limit":10,"window":"minute","key":["consumer"]}},
    {"name": "key-auth", "service": "users"},
    {"name": "key-auth"}
  ]
}`

const fullYAML = `# the same document as fullJSON
version: 7
services:
  - name: users
    url: http://127.0.0.1:9001
    connect_timeout: 250ms
    timeout: 2000
  - name: orders
    url: https://orders.internal/base
    timeout: 1m30s
routes:
  - name: users
    service: users
    paths: [/users, /u]
    methods: [GET, POST]
  - name: orders
    service: orders
    hosts:
      - api.example.com
      - "*.example.com"
    paths: [/orders]
    strip_path: true
consumers:
  - username: alice
    groups: [admins, ops]
  - username: bob
plugins:
  - name: rate-limit
    route: orders
    config:
      limit: 10
      window: minute
      key: [consumer]
  - name: key-auth
    service: users
  - name: key-auth
`

func fullExpected() *Config {
	return &Config{
		Version: 7,
		Services: []Service{
			{Name: "users", URL: "http://127.0.0.1:9001", ConnectTimeout: Duration(250 * time.Millisecond), Timeout: Duration(2 * time.Second)},
			{Name: "orders", URL: "https://orders.internal/base", Timeout: Duration(90 * time.Second)},
		},
		Routes: []Route{
			{Name: "users", Service: "users", Paths: []string{"/users", "/u"}, Methods: []string{"GET", "POST"}},
			{Name: "orders", Service: "orders", Hosts: []string{"api.example.com", "*.example.com"}, Paths: []string{"/orders"}, StripPath: true},
		},
		Consumers: []Consumer{{Username: "alice", Groups: []string{"admins", "ops"}}, {Username: "bob"}},
		Plugins: []Plugin{
			{Name: "rate-limit", Route: "orders", Config: json.RawMessage(`{"key":["consumer"],"limit":10,"window":"minute"}`)},
			{Name: "key-auth", Service: "users"},
			{Name: "key-auth"},
		},
	}
}

func TestDecodeFullDocument(t *testing.T) {
	tests := []struct {
		name, contentType, doc string
	}{
		{"json", "application/json", fullJSON},
		{"json with charset", "application/json; charset=utf-8", fullJSON},
		{"no content type reads JSON", "", fullJSON},
		{"yaml", "application/yaml", fullYAML},
		{"x-yaml with charset", "application/x-yaml; charset=utf-8", fullYAML},
		{"text/yaml", "text/yaml", fullYAML},
		{"yaml reads JSON too", "application/yaml", fullJSON},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Decode([]byte(tt.doc), tt.contentType)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			assertSameConfig(t, cfg, fullExpected())
			if err := cfg.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}

			// Round trip through the JSON encoding.
			b, err := json.Marshal(cfg)
			if err != nil {
				t.Fatal(err)
			}
			again, err := Decode(b, "application/json")
			if err != nil {
				t.Fatalf("Decode(re-encoded): %v\n%s", err, b)
			}
			assertSameConfig(t, again, cfg)
		})
	}
}

func TestDecodeYAMLContentTypeIsRequiredForYAML(t *testing.T) {
	_, err := Decode([]byte(fullYAML), "application/json")
	ve := asValidationError(t, err)
	if len(ve.Errors) != 1 || !strings.Contains(ve.Errors[0].Message, "malformed JSON") {
		t.Fatalf("errors = %v, want one malformed JSON error", ve.Errors)
	}
}

func TestDecodeMalformed(t *testing.T) {
	tests := []struct {
		name, contentType, doc, msg string
	}{
		{"json truncated", "application/json", `{"services": [`, "malformed JSON"},
		{"json bad token", "application/json", `{"services": [}`, "malformed JSON"},
		{"json trailing data", "application/json", `{} {}`, "malformed JSON"},
		{"json trailing garbage", "application/json", `{"version": 1} x`, "malformed JSON"},
		{"json empty", "application/json", ``, "malformed JSON"},
		{"yaml unclosed flow", "application/yaml", "services: [\n", "malformed YAML"},
		{"yaml bad indentation", "application/yaml", "services:\n  - name: a\n url: x\n", "malformed YAML"},
		{"yaml tab indentation", "application/x-yaml", "services:\n\t- name: a\n", "malformed YAML"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Decode([]byte(tt.doc), tt.contentType)
			if cfg != nil {
				t.Errorf("Decode returned a config with an error: %+v", cfg)
			}
			ve := asValidationError(t, err)
			if len(ve.Errors) != 1 || !strings.Contains(ve.Errors[0].Message, tt.msg) {
				t.Fatalf("errors = %v, want one containing %q", ve.Errors, tt.msg)
			}
		})
	}
}

func TestDecodeTrailingWhitespaceAllowed(t *testing.T) {
	if _, err := Decode([]byte("{\"version\": 1}\n\t \n"), "application/json"); err != nil {
		t.Fatalf("Decode: %v", err)
	}
}

func TestDecodeNotAnObject(t *testing.T) {
	tests := []struct{ name, contentType, doc string }{
		{"json list", "application/json", `[{"name": "a"}]`},
		{"json empty list", "application/json", `[]`},
		{"json string", "application/json", `"services"`},
		{"json number", "application/json", `42`},
		{"json null", "application/json", `null`},
		{"yaml list", "application/yaml", "- name: a\n- name: b\n"},
		{"yaml scalar", "application/yaml", "hello\n"},
		{"yaml empty", "application/yaml", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode([]byte(tt.doc), tt.contentType)
			ve := asValidationError(t, err)
			if len(ve.Errors) != 1 || ve.Errors[0].Message != "document must be an object" {
				t.Fatalf("errors = %v, want document must be an object", ve.Errors)
			}
		})
	}
}

func TestDecodeUnknownFields(t *testing.T) {
	tests := []struct {
		name, contentType, doc string
		paths                  []string
	}{
		{"top level", "application/json", `{"servicez": []}`, []string{"servicez"}},
		{"case differs", "application/json", `{"Services": []}`, []string{"Services"}},
		{"nested route", "application/json",
			`{"routes": [{"name": "a", "service": "s"}, {"name": "b", "service": "s", "pathz": ["/x"]}]}`,
			[]string{"routes[1].pathz"}},
		{"nested yaml", "application/yaml",
			"routes:\n  - name: a\n  - name: b\n    pathz: [/x]\n", []string{"routes[1].pathz"}},
		{"every unknown field, sorted", "application/json",
			`{"zzz": 1, "services": [{"name": "a", "urll": "x", "retries": 3}], "aaa": true}`,
			[]string{"aaa", "services[0].retries", "services[0].urll", "zzz"}},
		{"consumer and certificate", "application/json",
			`{"consumers": [{"username": "a", "password": "x"}], "certificates": [{"name": "c", "chain": "x"}]}`,
			[]string{"certificates[0].chain", "consumers[0].password"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode([]byte(tt.doc), tt.contentType)
			ve := asValidationError(t, err)
			var got []string
			for _, fe := range ve.Errors {
				if fe.Message != "unknown field" {
					t.Errorf("%s: message %q, want unknown field", fe.Path, fe.Message)
				}
				got = append(got, fe.Path)
			}
			if strings.Join(got, ",") != strings.Join(tt.paths, ",") {
				t.Fatalf("paths = %q, want %q", got, tt.paths)
			}
			if !strings.Contains(err.Error(), tt.paths[0]+": unknown field") {
				t.Errorf("Error() = %q, want it to name %s", err, tt.paths[0])
			}
		})
	}
}

func TestDecodePluginConfigIsOpaque(t *testing.T) {
	doc := `{"plugins": [{"name": "p", "config": {"anything": {"goes": [1, "two", null]}}}]}`
	cfg, err := Decode([]byte(doc), "application/json")
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	var v map[string]any
	if err := json.Unmarshal(cfg.Plugins[0].Config, &v); err != nil || v["anything"] == nil {
		t.Fatalf("plugin config = %s (%v)", cfg.Plugins[0].Config, err)
	}
}

func TestDecodeWrongTypes(t *testing.T) {
	tests := []struct {
		name, contentType, doc, path, msg string
	}{
		{"paths as a string", "application/json",
			`{"routes": [{"name": "a", "service": "s", "paths": "/x"}]}`, "routes[0].paths", "must be a list"},
		{"paths as a string, second route", "application/json",
			`{"routes": [{"name": "a"}, {"name": "b", "paths": "/x"}]}`, "routes[1].paths", "must be a list"},
		{"paths as a string, yaml", "application/yaml",
			"routes:\n  - name: a\n    paths: /x\n", "routes[0].paths", "must be a list"},
		{"timeout as bool", "application/json",
			`{"services": [{"name": "a", "url": "http://x", "timeout": true}]}`, "services[0].timeout", "duration"},
		{"timeout as bool, yaml", "application/yaml",
			"services:\n  - name: a\n    timeout: true\n", "services[0].timeout", "duration"},
		{"timeout unparsable", "application/json",
			`{"services": [{"name": "a", "timeout": "soon"}]}`, "services[0].timeout", "invalid duration"},
		{"timeout as object", "application/json",
			`{"services": [{"name": "a", "timeout": {}}]}`, "services[0].timeout", "duration"},
		{"connect_timeout out of range", "application/json",
			`{"services": [{"name": "a", "connect_timeout": 1e30}]}`, "services[0].connect_timeout", "out of range"},
		{"services as an object", "application/json",
			`{"services": {"name": "a"}}`, "services", "must be a list"},
		{"service as a string", "application/json",
			`{"services": ["a"]}`, "services[0]", "must be an object"},
		{"name as a number", "application/json",
			`{"routes": [{"name": "a"}, {"name": 3}]}`, "routes[1].name", "must be a string"},
		{"name as an object", "application/json",
			`{"consumers": [{"username": {"first": "a"}}]}`, "consumers[0].username", "must be a string"},
		{"method as a number", "application/json",
			`{"routes": [{"name": "a", "methods": ["GET", 1]}]}`, "routes[0].methods[1]", "must be a string"},
		{"strip_path as a string", "application/json",
			`{"routes": [{"name": "a", "strip_path": "yes"}]}`, "routes[0].strip_path", "must be a boolean"},
		{"negative version", "application/json", `{"version": -1}`, "version", "must be a number"},
		{"fractional version", "application/json", `{"version": 1.5}`, "version", "must be a number"},
		{"version as a string", "application/json", `{"version": "1"}`, "version", "must be a number"},
		{"sni as a list", "application/json",
			`{"certificates": [{"name": "c", "snis": [["a"]]}]}`, "certificates[0].snis[0]", "must be a string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Decode([]byte(tt.doc), tt.contentType)
			if cfg != nil {
				t.Errorf("Decode returned a config with an error: %+v", cfg)
			}
			ve := asValidationError(t, err)
			if !hasError(ve.Errors, tt.path, tt.msg) {
				t.Fatalf("errors = %v, want %s: ...%s...", ve.Errors, tt.path, tt.msg)
			}
		})
	}
}

func TestDecodeLargeNumbersKept(t *testing.T) {
	cfg, err := Decode([]byte(`{"version": 18446744073709551615}`), "application/json")
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if cfg.Version != 18446744073709551615 {
		t.Fatalf("version = %d", cfg.Version)
	}
	_, err = Decode([]byte(`{"version": 18446744073709551616}`), "application/json")
	if ve := asValidationError(t, err); !hasError(ve.Errors, "version", "") {
		t.Fatalf("errors = %v, want one at version", ve.Errors)
	}
}

func TestDecodeDurations(t *testing.T) {
	tests := []struct {
		name, contentType, doc string
		want                   time.Duration
	}{
		{"string ms", "application/json", `"250ms"`, 250 * time.Millisecond},
		{"string s", "application/json", `"5s"`, 5 * time.Second},
		{"string compound", "application/json", `"1m30s"`, 90 * time.Second},
		{"string us", "application/json", `"1500µs"`, 1500 * time.Microsecond},
		{"number of ms", "application/json", `250`, 250 * time.Millisecond},
		{"fractional ms", "application/json", `1.5`, 1500 * time.Microsecond},
		{"zero", "application/json", `0`, 0},
		{"null", "application/json", `null`, 0},
		{"yaml string", "application/yaml", `250ms`, 250 * time.Millisecond},
		{"yaml number", "application/yaml", `250`, 250 * time.Millisecond},
		{"yaml quoted", "application/yaml", `"2s"`, 2 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var doc string
			if tt.contentType == "application/yaml" {
				doc = "services:\n  - name: a\n    url: http://x\n    timeout: " + tt.doc + "\n    connect_timeout: " + tt.doc + "\n"
			} else {
				doc = `{"services": [{"name": "a", "url": "http://x", "timeout": ` + tt.doc + `, "connect_timeout": ` + tt.doc + `}]}`
			}
			cfg, err := Decode([]byte(doc), tt.contentType)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			s := cfg.Services[0]
			if s.Timeout.Std() != tt.want || s.ConnectTimeout.Std() != tt.want {
				t.Fatalf("timeout %v, connect_timeout %v; want %v", s.Timeout.Std(), s.ConnectTimeout.Std(), tt.want)
			}
		})
	}
}

func TestDurationJSON(t *testing.T) {
	d := Duration(1500 * time.Millisecond)
	b, err := json.Marshal(d)
	if err != nil || string(b) != `"1.5s"` {
		t.Fatalf("Marshal = %s, %v; want \"1.5s\"", b, err)
	}
	var back Duration
	if err := json.Unmarshal(b, &back); err != nil || back != d {
		t.Fatalf("Unmarshal = %v, %v; want %v", back, err, d)
	}
	for _, bad := range []string{`true`, `"fast"`, `[]`, `1e300`, `-1e300`} {
		if err := json.Unmarshal([]byte(bad), &back); err == nil {
			t.Errorf("Unmarshal(%s) = %v, want error", bad, back)
		}
	}
}

func TestDecodeOversized(t *testing.T) {
	doc := []byte(`{"version": 1}`)
	doc = append(doc, bytes.Repeat([]byte(" "), MaxDocumentBytes+1-len(doc))...)
	for _, ct := range []string{"application/json", "application/yaml"} {
		_, err := Decode(doc, ct)
		ve := asValidationError(t, err)
		if len(ve.Errors) != 1 || !strings.Contains(ve.Errors[0].Message, "exceeds") {
			t.Fatalf("%s: errors = %v, want document exceeds", ct, ve.Errors)
		}
	}
	// Exactly at the limit is accepted.
	if _, err := Decode(doc[:MaxDocumentBytes], "application/json"); err != nil {
		t.Fatalf("document of MaxDocumentBytes: %v", err)
	}
}

func TestValidationErrorFormat(t *testing.T) {
	err := &ValidationError{Errors: []FieldError{
		{Path: "routes[0].service", Message: `unknown service "x"`},
		{Message: "document must be an object"},
	}}
	want := `invalid config: routes[0].service: unknown service "x"; document must be an object`
	if err.Error() != want {
		t.Fatalf("Error() = %q, want %q", err.Error(), want)
	}
	b, _ := json.Marshal(err)
	if string(b) != `{"errors":[{"path":"routes[0].service","message":"unknown service \"x\""},{"path":"","message":"document must be an object"}]}` {
		t.Fatalf("JSON = %s", b)
	}
}

func TestDecodeReportsEveryFieldError(t *testing.T) {
	doc := `{"services": [{"name": 1, "url": "http://x", "timeout": true, "retries": 2}],
	         "routes": [{"name": "r", "paths": "/x", "methods": ["GET", false]}]}`
	_, err := Decode([]byte(doc), "application/json")
	ve := asValidationError(t, err)
	for _, w := range []FieldError{
		{"services[0].name", "must be a string"},
		{"services[0].timeout", "duration"},
		{"services[0].retries", "unknown field"},
		{"routes[0].paths", "must be a list"},
		{"routes[0].methods[1]", "must be a string"},
	} {
		if !hasError(ve.Errors, w.Path, w.Message) {
			t.Errorf("missing %s: ...%s... in %v", w.Path, w.Message, ve.Errors)
		}
	}
	if len(ve.Errors) != 5 {
		t.Errorf("got %d errors, want 5: %v", len(ve.Errors), ve.Errors)
	}
}
