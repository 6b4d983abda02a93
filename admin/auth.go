package admin

import (
	"context"
	"net/http"
	"strings"

	"github.com/tollgate/tollgate/store"
)

// AuthOptions configures admin authentication. Requests carry a bearer
// token (Authorization: Bearer ...) that must match one of the hashed
// tokens in the replicated config; healthz and readyz need none.
type AuthOptions struct {
	// BootstrapToken is accepted as an admin token while the config holds
	// no tokens yet: it is the --admin-token that this node is about to
	// write into the config, and it stops working once any token exists.
	BootstrapToken string
	// OpenWithoutTokens lets every request in, as an admin, while no token
	// exists at all (none in the config, no BootstrapToken). Meant for a
	// loopback admin listener only; without it such a node answers 401.
	OpenWithoutTokens bool
}

// principal is who is making a request.
type principal struct {
	name string
	role string
}

type principalKey struct{}

// publicPaths need no token.
var publicPaths = map[string]bool{"/v1/healthz": true, "/v1/readyz": true}

// authenticate returns who r is from, or a 401 error.
func (s *Server) authenticate(r *http.Request) (principal, error) {
	tokens := s.deps.Config.Current()
	boot := s.deps.Auth.BootstrapToken
	if len(tokens.AdminTokens) == 0 && boot == "" {
		if s.deps.Auth.OpenWithoutTokens {
			return principal{name: "admin@" + r.RemoteAddr, role: store.RoleAdmin}, nil
		}
		return principal{}, newAPIError(http.StatusUnauthorized, codeUnauthorized, errNoTokensExist)
	}
	raw, ok := bearer(r)
	if !ok {
		return principal{}, newAPIError(http.StatusUnauthorized, codeUnauthorized, errNoToken)
	}
	if len(tokens.AdminTokens) == 0 {
		// Only the bootstrap token exists, and only on this node so far.
		tokens = &store.Config{AdminTokens: []store.AdminToken{
			{Name: BootstrapTokenName, Role: store.RoleAdmin, Hash: store.HashToken(boot)}}}
	}
	t := tokens.FindToken(raw)
	if t == nil {
		return principal{}, newAPIError(http.StatusUnauthorized, codeUnauthorized, errBadToken)
	}
	return principal{name: t.Name, role: t.Role}, nil
}

// BootstrapTokenName is the name the first admin token (from
// --admin-token) is stored under, and so the author its writes carry.
const BootstrapTokenName = "admin"

// authorize refuses a read token anything but reads (403), and the token
// endpoints to anyone but an admin.
func authorize(p principal, r *http.Request) error {
	if p.role == store.RoleAdmin {
		return nil
	}
	if strings.HasPrefix(r.URL.Path, "/v1/tokens") {
		return newAPIError(http.StatusForbidden, codeForbidden, errAdminOnly)
	}
	if isRead(r) {
		return nil
	}
	return newAPIError(http.StatusForbidden, codeForbidden, errReadOnly)
}

// isRead reports whether r changes nothing: GET and HEAD, and a diff.
func isRead(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		return true
	}
	return r.Method == http.MethodPost && r.URL.Path == "/v1/config/diff"
}

func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

// withAuth authenticates and authorizes r, answering 401 or 403, and
// otherwise records the principal for author.
func (s *Server) withAuth(w http.ResponseWriter, r *http.Request) (*http.Request, bool) {
	if publicPaths[r.URL.Path] {
		return r, true
	}
	p, err := s.authenticate(r)
	if err == nil {
		err = authorize(p, r)
	}
	if err != nil {
		if status, _ := errorStatus(err); status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Bearer realm="tollgate"`)
		}
		fail(w, r, err)
		return r, false
	}
	return r.WithContext(context.WithValue(r.Context(), principalKey{}, p)), true
}

// author names who made a change, for the history: the token's name.
func author(r *http.Request) string {
	if p, ok := r.Context().Value(principalKey{}).(principal); ok {
		return p.name
	}
	return "admin@" + r.RemoteAddr
}
