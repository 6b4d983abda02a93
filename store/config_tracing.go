package store

import (
	"net/url"
	"strings"
)

// Tracing defaults.
const (
	// DefaultTracingService is the service.name of exported spans when
	// Tracing.ServiceName is empty.
	DefaultTracingService = "tollgate"
	// TracesPath is the OTLP/HTTP path appended to an endpoint without a
	// path of its own.
	TracesPath = "/v1/traces"
)

// Tracing exports the gateway's own span of every sampled request to an
// OpenTelemetry collector over OTLP/HTTP (protobuf). Without it nothing
// is exported; W3C trace context is propagated either way.
type Tracing struct {
	// OTLPEndpoint is the collector's URL, http or https, for example
	// http://collector:4318 (required). TracesPath is appended unless the
	// URL has a path.
	OTLPEndpoint string `json:"otlp_endpoint"`
	// ServiceName is the service.name resource attribute of the spans
	// (default DefaultTracingService).
	ServiceName string `json:"service_name,omitempty"`
	// SampleRatio is the fraction, 0 to 1, of the traces the gateway
	// starts (requests without a valid traceparent) that are sampled,
	// decided from the trace id (default 1). It replaces the agent's
	// --trace-sample while the section is present. Incoming traces keep
	// their sampled flag.
	SampleRatio *float64 `json:"sample_ratio,omitempty"`
	// Headers are sent with every export request, for example a token
	// the collector asks for.
	Headers map[string]string `json:"headers,omitempty"`
}

// TracesURL is the URL spans are posted to: OTLPEndpoint, with TracesPath
// when it has no path.
func (t *Tracing) TracesURL() string {
	u, err := url.Parse(t.OTLPEndpoint)
	if err != nil {
		return t.OTLPEndpoint // Validate rejects it
	}
	if strings.Trim(u.Path, "/") == "" {
		u.Path, u.RawPath = TracesPath, ""
	}
	return u.String()
}

// Service is ServiceName or its default.
func (t *Tracing) Service() string {
	if t.ServiceName == "" {
		return DefaultTracingService
	}
	return t.ServiceName
}

// Ratio is SampleRatio or its default, 1.
func (t *Tracing) Ratio() float64 {
	if t.SampleRatio == nil {
		return 1
	}
	return *t.SampleRatio
}

// tracingList is the tracing section as a list of zero or one, for diffs.
func tracingList(t *Tracing) []Tracing {
	if t == nil {
		return nil
	}
	return []Tracing{*t}
}

// redactTracing hides header values (collector tokens) for display.
func redactTracing(t Tracing) Tracing {
	if len(t.Headers) > 0 {
		h := make(map[string]string, len(t.Headers))
		for name := range t.Headers {
			h[name] = RedactedValue
		}
		t.Headers = h
	}
	return t
}

// Redacted returns a copy of t whose header values (collector tokens) are
// RedactedValue; nil for nil. The admin API shows the section this way.
func (t *Tracing) Redacted() *Tracing {
	if t == nil {
		return nil
	}
	out := *t
	if t.Headers != nil {
		out.Headers = make(map[string]string, len(t.Headers))
		for name := range t.Headers {
			out.Headers[name] = RedactedValue
		}
	}
	return &out
}

// restoreRedacted puts back, from prev, the header values a client sent
// as RedactedValue (it read the redacted section and wrote it back).
func (t *Tracing) restoreRedacted(prev *Tracing) {
	if t == nil || prev == nil {
		return
	}
	for name, value := range t.Headers {
		if old, ok := prev.Headers[name]; ok && value == RedactedValue {
			t.Headers[name] = old
		}
	}
}
