// Package auth is tollgate's consumer authentication and authorization:
// the jwt, key-auth and acl plugins, each a dataplane.Policy built from
// its plugin config and the config's consumers.
//
// On success an authentication policy sets RequestContext.Consumer and
// stamps the identity headers X-User-Id, X-User-Scopes and X-Consumer on
// the request the proxy forwards; headers of those names sent by the
// client are always removed first, so a client cannot forge them.
// Failures answer with the gateway's JSON error and a WWW-Authenticate
// challenge.
//
// Policies are built per config version and are safe for concurrent use.
// A jwt policy verifies each distinct token once and then serves it from a
// bounded cache until it expires. Its JWKS keys come from a KeySets that
// outlives config versions, so the last good key set survives both an
// identity provider outage and a config change.
package auth
