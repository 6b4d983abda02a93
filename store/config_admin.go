package store

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
)

// Roles an admin token can have.
const (
	// RoleRead may read the config, history and cluster status, and diff.
	RoleRead = "read"
	// RoleAdmin may also write, roll back, remove members and manage tokens.
	RoleAdmin = "admin"
)

// tokenHashPrefix marks the hash algorithm of AdminToken.Hash.
const tokenHashPrefix = "sha256:"

// AdminToken is a bearer token of the admin API. Only a hash of the token
// is kept: tokens are high-entropy random strings, so one SHA-256 is
// enough to make the stored value useless to someone who reads it.
type AdminToken struct {
	Name string `json:"name"`
	Role string `json:"role"`
	// Hash is "sha256:" followed by the hex SHA-256 of the token.
	Hash string `json:"hash"`
}

// HashToken returns the stored form of a bearer token.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return tokenHashPrefix + hex.EncodeToString(sum[:])
}

// FindToken returns the admin token whose hash matches token, or nil. Every
// stored hash is compared in constant time.
func (c *Config) FindToken(token string) *AdminToken {
	h := []byte(HashToken(token))
	var found *AdminToken
	for i := range c.AdminTokens {
		if subtle.ConstantTimeCompare(h, []byte(c.AdminTokens[i].Hash)) == 1 {
			found = &c.AdminTokens[i]
		}
	}
	return found
}

// Clone returns a deep copy of c, made the way a config travels through
// Raft (a JSON round trip), so that the copy may be modified freely.
func (c *Config) Clone() *Config {
	b, err := json.Marshal(c)
	if err != nil {
		panic(fmt.Sprintf("store: clone config: %v", err)) // a Config always encodes
	}
	var out Config
	if err := json.Unmarshal(b, &out); err != nil {
		panic(fmt.Sprintf("store: clone config: %v", err))
	}
	return &out
}

// PluginID identifies a plugin within a document: its name, followed by
// the service and route it is scoped to, as in "rate-limit@route:orders"
// or "key-auth@service:users". A global plugin's id is its name.
func PluginID(p Plugin) string {
	var b strings.Builder
	b.WriteString(p.Name)
	if p.Service != "" {
		b.WriteString("@service:" + p.Service)
	}
	if p.Route != "" {
		b.WriteString("@route:" + p.Route)
	}
	return b.String()
}

// ServiceReferrers lists what refers to the service name: route names,
// and the ids of plugins scoped to it.
func (c *Config) ServiceReferrers(name string) (routes, plugins []string) {
	for _, r := range c.Routes {
		if r.Service == name {
			routes = append(routes, r.Name)
		}
	}
	for _, p := range c.Plugins {
		if p.Service == name {
			plugins = append(plugins, PluginID(p))
		}
	}
	return routes, plugins
}

// RouteReferrers lists the ids of plugins scoped to the route name.
func (c *Config) RouteReferrers(name string) (plugins []string) {
	for _, p := range c.Plugins {
		if p.Route == name {
			plugins = append(plugins, PluginID(p))
		}
	}
	return plugins
}
