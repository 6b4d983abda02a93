package store

import (
	"crypto/tls"
	"fmt"
	"strings"
)

// FieldError is one problem in a config document, located by a path such
// as `routes[0].service`.
type FieldError struct {
	Path    string `json:"path"`
	Message string `json:"message"`
}

func (e FieldError) String() string {
	if e.Path == "" {
		return e.Message
	}
	return e.Path + ": " + e.Message
}

// ValidationError reports every problem found in a rejected document. A
// document with any error is rejected whole.
type ValidationError struct {
	Errors []FieldError `json:"errors"`
}

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Errors))
	for i, fe := range e.Errors {
		parts[i] = fe.String()
	}
	return "invalid config: " + strings.Join(parts, "; ")
}

// validator collects field errors.
type validator struct{ errs []FieldError }

func (v *validator) addf(path, format string, args ...any) {
	v.errs = append(v.errs, FieldError{Path: path, Message: fmt.Sprintf(format, args...)})
}

// Validate checks the document for consistency: required fields, unique
// names, references between entities and well-formed values. It returns a
// *ValidationError listing every problem, or nil.
func (c *Config) Validate() error {
	var v validator
	services := v.services(c.Services)
	v.routes(c.Routes, services)
	v.consumers(c.Consumers)
	v.auth(c)
	v.plugins(c.Plugins, services, c.Routes)
	v.certificates(c.Certificates)
	v.certificateSNIs(c.Certificates)
	v.tracing(c.Tracing)
	if len(v.errs) > 0 {
		return &ValidationError{Errors: v.errs}
	}
	return nil
}

// uniqueName checks that name is set and not seen before.
func (v *validator) uniqueName(path, field, name string, seen map[string]bool) {
	switch {
	case name == "":
		v.addf(path+"."+field, "is required")
	case seen[name]:
		v.addf(path+"."+field, "duplicate %s %q", field, name)
	}
	seen[name] = true
}

func (v *validator) consumers(consumers []Consumer) {
	seen := map[string]bool{}
	for i, c := range consumers {
		v.uniqueName(fmt.Sprintf("consumers[%d]", i), "username", c.Username, seen)
	}
}

func (v *validator) plugins(plugins []Plugin, services map[string]bool, routes []Route) {
	routeNames := make(map[string]bool, len(routes))
	for _, r := range routes {
		routeNames[r.Name] = true
	}
	for i, pl := range plugins {
		p := fmt.Sprintf("plugins[%d]", i)
		if pl.Name == "" {
			v.addf(p+".name", "is required")
		}
		if pl.Route != "" && !routeNames[pl.Route] {
			v.addf(p+".route", "unknown route %q", pl.Route)
		}
		if pl.Service != "" && !services[pl.Service] {
			v.addf(p+".service", "unknown service %q", pl.Service)
		}
		v.pluginConfig(i, pl)
	}
}

func (v *validator) certificates(certs []Certificate) {
	seen := map[string]bool{}
	for i, c := range certs {
		p := fmt.Sprintf("certificates[%d]", i)
		v.uniqueName(p, "name", c.Name, seen)
		if _, err := tls.X509KeyPair([]byte(c.Cert), []byte(c.Key)); err != nil {
			v.addf(p+".cert", "invalid certificate and key pair: %v", err)
		}
	}
}
