package store

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

const tracingYAML = `
services: [{name: s, url: "http://127.0.0.1:9001"}]
routes: [{name: r, service: s}]
tracing:
  otlp_endpoint: http://collector:4318
  service_name: edge
  sample_ratio: 0.25
  headers:
    Authorization: Bearer abc
`

func TestDecodeTracing(t *testing.T) {
	cfg, err := Decode([]byte(tracingYAML), "application/yaml")
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	ratio := 0.25
	want := &Tracing{OTLPEndpoint: "http://collector:4318", ServiceName: "edge", SampleRatio: &ratio,
		Headers: map[string]string{"Authorization": "Bearer abc"}}
	if !reflect.DeepEqual(cfg.Tracing, want) {
		t.Fatalf("tracing = %+v, want %+v", cfg.Tracing, want)
	}
	if got := cfg.Clone().Tracing; !reflect.DeepEqual(got, want) {
		t.Fatalf("cloned tracing = %+v", got)
	}
}

func TestDecodeTracingUnknownField(t *testing.T) {
	doc := `{"tracing": {"otlp_endpoint": "http://c:4318", "sampler": "always", "headers": {"a": 1}}}`
	_, err := Decode([]byte(doc), "application/json")
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("Decode = %v, want a ValidationError", err)
	}
	want := []FieldError{{"tracing.headers", "must be a string, not number"}, {"tracing.sampler", "unknown field"}}
	if !reflect.DeepEqual(ve.Errors, want) {
		t.Fatalf("errors = %v, want %v", ve.Errors, want)
	}
}

func TestTracingDefaults(t *testing.T) {
	tr := &Tracing{OTLPEndpoint: "http://collector:4318"}
	if tr.Service() != "tollgate" || tr.Ratio() != 1 {
		t.Fatalf("defaults: service %q ratio %v", tr.Service(), tr.Ratio())
	}
	zero := 0.0
	tr.SampleRatio = &zero
	if tr.Ratio() != 0 {
		t.Fatalf("ratio = %v, want 0", tr.Ratio())
	}
	for endpoint, want := range map[string]string{
		"http://collector:4318":            "http://collector:4318/v1/traces",
		"http://collector:4318/":           "http://collector:4318/v1/traces",
		"https://otel.example.com/custom":  "https://otel.example.com/custom",
		"https://otel.example.com/v1/logs": "https://otel.example.com/v1/logs",
	} {
		tr := &Tracing{OTLPEndpoint: endpoint}
		if got := tr.TracesURL(); got != want {
			t.Errorf("TracesURL(%q) = %q, want %q", endpoint, got, want)
		}
	}
}

func TestValidateTracing(t *testing.T) {
	ratio := func(f float64) *float64 { return &f }
	tests := []struct {
		name string
		tr   Tracing
		want []FieldError
	}{
		{"minimal", Tracing{OTLPEndpoint: "http://c:4318"}, nil},
		{"full", Tracing{OTLPEndpoint: "https://c/x", ServiceName: "gw", SampleRatio: ratio(0),
			Headers: map[string]string{"X-Token": "t"}}, nil},
		{"endpoint missing", Tracing{}, []FieldError{{"tracing.otlp_endpoint", "is required"}}},
		{"bad scheme", Tracing{OTLPEndpoint: "grpc://c:4317"},
			[]FieldError{{"tracing.otlp_endpoint", `scheme must be http or https, not "grpc"`}}},
		{"no host", Tracing{OTLPEndpoint: "http:///v1/traces"},
			[]FieldError{{"tracing.otlp_endpoint", "must include a host"}}},
		{"query", Tracing{OTLPEndpoint: "http://c:4318/?a=b"},
			[]FieldError{{"tracing.otlp_endpoint", "must not have a query or fragment"}}},
		{"credentials", Tracing{OTLPEndpoint: "http://u:p@c:4318"},
			[]FieldError{{"tracing.otlp_endpoint", "must not carry credentials: use tracing.headers"}}},
		{"ratio", Tracing{OTLPEndpoint: "http://c", SampleRatio: ratio(1.5)},
			[]FieldError{{"tracing.sample_ratio", "must be between 0 and 1"}}},
		{"blank service", Tracing{OTLPEndpoint: "http://c", ServiceName: " "},
			[]FieldError{{"tracing.service_name", "must not be blank"}}},
		{"headers", Tracing{OTLPEndpoint: "http://c", Headers: map[string]string{"Bad Name": "x", "X-A": "a\r\nb"}},
			[]FieldError{{"tracing.headers", `invalid header name "Bad Name"`}, {"tracing.headers.X-A", "must not contain CR, LF or NUL"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := validConfig("t")
			cfg.Tracing = &tt.tr
			err := cfg.Validate()
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) || !reflect.DeepEqual(ve.Errors, tt.want) {
				t.Fatalf("Validate = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestDiffTracing(t *testing.T) {
	from := validConfig("t")
	to := from.Clone()
	to.Tracing = &Tracing{OTLPEndpoint: "http://c:4318", Headers: map[string]string{"Authorization": "secret"}}
	d := DiffConfigs(from, to)
	if d.Added != 1 || len(d.Changes) != 1 || d.Changes[0].Kind != KindTracing {
		t.Fatalf("diff = %+v", d)
	}
	if s := d.Summary(); s != "1 added: +tracing tracing" {
		t.Fatalf("summary = %q", s)
	}
	next := to.Clone()
	next.Tracing.Headers["Authorization"] = "other"
	d = DiffConfigs(to, next)
	if d.Changed != 1 || len(d.Changes[0].Fields) != 1 {
		t.Fatalf("diff = %+v", d)
	}
	if f := d.Changes[0].Fields[0]; f.Path != "headers.Authorization" || f.Old != RedactedValue || f.New != RedactedValue {
		t.Fatalf("field change = %+v", f)
	}
	if strings.Contains(d.Summary(), "secret") {
		t.Fatalf("summary shows a secret: %s", d.Summary())
	}
}

// TestTracingHeadersRedacted: the admin view hides collector header
// values; a document read back with them redacted keeps the stored
// values; a redacted value with nothing stored is rejected.
func TestTracingHeadersRedacted(t *testing.T) {
	cfg := &Config{Tracing: &Tracing{OTLPEndpoint: "http://c:4318", Headers: map[string]string{"Authorization": "Bearer s3cret"}}}
	shown := cfg.WithRedactedCredentials()
	if got := shown.Tracing.Headers["Authorization"]; got != RedactedValue {
		t.Fatalf("shown header %q, want %q", got, RedactedValue)
	}
	if cfg.Tracing.Headers["Authorization"] != "Bearer s3cret" {
		t.Fatal("redacting changed the stored config")
	}
	back := &Config{Tracing: &Tracing{OTLPEndpoint: "http://c:4318", Headers: map[string]string{"Authorization": RedactedValue, "X-New": RedactedValue}}}
	back.RestoreRedactedCredentials(cfg)
	if got := back.Tracing.Headers["Authorization"]; got != "Bearer s3cret" {
		t.Fatalf("restored header %q", got)
	}
	err := back.Validate()
	var ve *ValidationError
	if !errors.As(err, &ve) || len(ve.Errors) != 1 || ve.Errors[0].Path != "tracing.headers.X-New" {
		t.Fatalf("a redacted value without a stored one: %v", err)
	}
}
