package auth

import (
	"net/http"
	"strings"

	"github.com/tollgate/tollgate/dataplane"
)

// Identity headers the authentication policies stamp on the upstream
// request. Headers of these names sent by the client are removed first.
const (
	// HeaderUserID carries the token's "sub".
	HeaderUserID = "X-User-Id"
	// HeaderUserScopes carries the token's scopes, space-separated.
	HeaderUserScopes = "X-User-Scopes"
	// HeaderConsumer carries the authenticated consumer's username.
	HeaderConsumer = "X-Consumer"
)

const (
	headerAuthorization   = "Authorization"
	headerWWWAuthenticate = "Www-Authenticate"
	realm                 = "tollgate"
)

// StripIdentity removes the identity headers from h. The auth policies do
// it on every request; the data plane may do it on routes without an
// authentication plugin so that no client-sent identity reaches an
// upstream.
func StripIdentity(h http.Header) {
	delete(h, HeaderUserID)
	delete(h, HeaderUserScopes)
	delete(h, HeaderConsumer)
}

// stamped is one header value set on success. values has len == cap == 1
// and is shared by every request that stamps it: http.Header.Set and
// Add replace or copy it, and the proxy clones the header map, so it is
// never written through.
type stamped struct {
	name   string
	values []string
}

func newStamped(name, value string) stamped {
	return stamped{name: name, values: []string{value}}
}

// reject answers rc with status, a gateway JSON error and a
// WWW-Authenticate challenge (when challenge is not empty).
func reject(rc *dataplane.RequestContext, status int, code, message, challenge string) {
	if challenge != "" {
		rc.Writer.Header()[headerWWWAuthenticate] = []string{challenge}
	}
	rc.Reject(status, code, message)
}

// bearerChallenge formats an RFC 6750 challenge. A request that carried no
// token gets no error code (section 3.1).
func bearerChallenge(code, description, scope string) string {
	var b strings.Builder
	b.WriteString(`Bearer realm="` + realm + `"`)
	if code != "" {
		b.WriteString(`, error="` + code + `"`)
	}
	if description != "" {
		b.WriteString(`, error_description="` + quotable(description) + `"`)
	}
	if scope != "" {
		b.WriteString(`, scope="` + quotable(scope) + `"`)
	}
	return b.String()
}

// quotable drops the characters RFC 6750 does not allow in error_description
// and scope values (quotes, backslashes and non-printable bytes).
func quotable(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' {
			return -1
		}
		return r
	}, s)
}

// validHeaderValue reports whether s can be sent as a header value: no
// control characters other than tab.
func validHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}
