package auth

import (
	"net/http"
	"strings"
)

// maxTokenBytes bounds the bearer tokens the jwt policy looks at.
const maxTokenBytes = 16 << 10

// bearerToken returns the token of the request's Authorization header
// without allocating: errMissingToken when there is none, errNotBearer for
// another scheme.
func bearerToken(h http.Header) (string, error) {
	vals := h[headerAuthorization]
	switch {
	case len(vals) == 0:
		return "", errMissingToken
	case len(vals) > 1:
		return "", errManyTokens
	}
	v := vals[0]
	const scheme = "bearer "
	if len(v) < len(scheme) || !strings.EqualFold(v[:len(scheme)], scheme) {
		if strings.TrimSpace(v) == "" {
			return "", errMissingToken
		}
		return "", errNotBearer
	}
	tok := strings.TrimSpace(v[len(scheme):])
	switch {
	case tok == "":
		return "", errMissingToken
	case len(tok) > maxTokenBytes:
		return "", errTokenTooLarge
	}
	return tok, nil
}
