package store

import (
	"math"
	"net/url"
	"slices"
	"strings"
)

// tracing checks the optional tracing section; its errors are under
// "tracing.".
func (v *validator) tracing(t *Tracing) {
	if t == nil {
		return
	}
	v.otlpEndpoint(t.OTLPEndpoint)
	if t.ServiceName != "" && strings.TrimSpace(t.ServiceName) == "" {
		v.addf("tracing.service_name", "must not be blank")
	}
	if r := t.SampleRatio; r != nil && (math.IsNaN(*r) || *r < 0 || *r > 1) {
		v.addf("tracing.sample_ratio", "must be between 0 and 1")
	}
	names := make([]string, 0, len(t.Headers))
	for name := range t.Headers {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		switch {
		case !validHeaderName(name):
			v.addf("tracing.headers", "invalid header name %q", name)
		case strings.ContainsAny(t.Headers[name], "\r\n\x00"):
			v.addf("tracing.headers."+name, "must not contain CR, LF or NUL")
		case t.Headers[name] == RedactedValue:
			v.addf("tracing.headers."+name, "is %s but no stored value of that header exists: send the value", RedactedValue)
		}
	}
}

// otlpEndpoint checks the collector URL: http or https, with a host, and
// nothing a POST to it would drop.
func (v *validator) otlpEndpoint(raw string) {
	const p = "tracing.otlp_endpoint"
	if raw == "" {
		v.addf(p, "is required")
		return
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		v.addf(p, "invalid URL: %v", err)
	case u.Scheme != "http" && u.Scheme != "https":
		v.addf(p, "scheme must be http or https, not %q", u.Scheme)
	case u.Host == "" || u.Hostname() == "":
		v.addf(p, "must include a host")
	case u.User != nil:
		v.addf(p, "must not carry credentials: use tracing.headers")
	case u.RawQuery != "" || u.Fragment != "":
		v.addf(p, "must not have a query or fragment")
	}
}
