// Package store owns tollgate's configuration model: the document types,
// their validation, the version history, the Raft FSM that applies changes,
// and the bbolt file that keeps the last applied config across restarts.
//
// A *Config handed out by the store is immutable: readers may keep it for as
// long as they like and must never modify it.
package store

import (
	"encoding/json"
	"fmt"
	"math"
	"time"
)

// Config is the replicated configuration document. Version is assigned by
// the cluster when the document is applied; it is read-only for clients.
type Config struct {
	Version      uint64        `json:"version"`
	Services     []Service     `json:"services,omitempty"`
	Routes       []Route       `json:"routes,omitempty"`
	Consumers    []Consumer    `json:"consumers,omitempty"`
	Plugins      []Plugin      `json:"plugins,omitempty"`
	Certificates []Certificate `json:"certificates,omitempty"`
}

// Service is a named upstream that routes send traffic to.
type Service struct {
	Name string `json:"name"`
	// URL is the upstream base URL, for example http://127.0.0.1:9001 or
	// http://10.0.0.5:9001/base. A path in the URL is prefixed to the
	// request path.
	URL string `json:"url"`
	// ConnectTimeout bounds dialing the upstream (default 5s).
	ConnectTimeout Duration `json:"connect_timeout,omitempty"`
	// Timeout bounds the whole upstream exchange up to the response
	// headers (default 60s). Exceeding it answers 504.
	Timeout Duration `json:"timeout,omitempty"`
}

// Route matches requests and sends them to a service. A request matches a
// route when every non-empty matcher list has an entry that matches.
type Route struct {
	Name    string `json:"name"`
	Service string `json:"service"`
	// Hosts are exact host names; a leading "*." matches any subdomain.
	Hosts []string `json:"hosts,omitempty"`
	// Paths are prefixes; the longest matching prefix wins.
	Paths []string `json:"paths,omitempty"`
	// Methods are upper-case HTTP methods.
	Methods []string `json:"methods,omitempty"`
	// StripPath removes the matched path prefix before proxying.
	StripPath bool `json:"strip_path,omitempty"`
}

// Consumer is an identity that authentication plugins resolve requests to.
type Consumer struct {
	Username string   `json:"username"`
	Groups   []string `json:"groups,omitempty"`
}

// Plugin attaches a policy to a route, a service, or (with neither set)
// every request. Config is interpreted by the plugin named by Name.
type Plugin struct {
	Name    string          `json:"name"`
	Route   string          `json:"route,omitempty"`
	Service string          `json:"service,omitempty"`
	Config  json.RawMessage `json:"config,omitempty"`
}

// Certificate is a PEM certificate chain and key served for the given SNIs.
type Certificate struct {
	Name string   `json:"name"`
	Cert string   `json:"cert"`
	Key  string   `json:"key"`
	SNIs []string `json:"snis,omitempty"`
}

// Duration is a time.Duration written as a Go duration string ("250ms",
// "5s") in config documents. A bare JSON number is read as milliseconds.
type Duration time.Duration

// Std returns d as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// MarshalJSON writes d as a duration string.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON reads a duration string or a number of milliseconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var ms float64
	if err := json.Unmarshal(b, &ms); err == nil {
		ns := ms * float64(time.Millisecond)
		if math.Abs(ns) >= math.MaxInt64 {
			return fmt.Errorf("duration of %v milliseconds is out of range", ms)
		}
		*d = Duration(ns)
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string like \"5s\" or a number of milliseconds")
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("invalid duration %q: %w", s, err)
	}
	*d = Duration(v)
	return nil
}

// Service returns the service with the given name, or nil.
func (c *Config) Service(name string) *Service {
	for i := range c.Services {
		if c.Services[i].Name == name {
			return &c.Services[i]
		}
	}
	return nil
}
