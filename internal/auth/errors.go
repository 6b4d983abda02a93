package auth

import "errors"

// Sentinel errors of the package, wrapped with %w and told apart with
// errors.Is.
var (
	// ErrInvalidConfig is wrapped by the Parse functions and constructors
	// when a plugin config or a credential is invalid.
	ErrInvalidConfig = errors.New("invalid auth config")
	// ErrNotAuthPlugin is returned by Build for a plugin this package does
	// not implement.
	ErrNotAuthPlugin = errors.New("not an auth plugin")

	errMissingToken   = errors.New("missing bearer token")
	errNotBearer      = errors.New("authorization header is not a bearer token")
	errManyTokens     = errors.New("more than one authorization header")
	errTokenTooLarge  = errors.New("token too large")
	errUnknownKey     = errors.New("unknown signing key")
	errAlgorithm      = errors.New("algorithm not allowed for the key")
	errNoKeySet       = errors.New("signing keys unavailable")
	errBadClaims      = errors.New("claims are not valid header values")
	errJWKSFetch      = errors.New("jwks fetch failed")
	errMissingAPIKey  = errors.New("missing api key")
	errInvalidAPIKey  = errors.New("invalid api key")
	errNoConsumer     = errors.New("no authenticated consumer")
	errConsumerDenied = errors.New("consumer is not allowed to use this route")
)
