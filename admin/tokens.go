package admin

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/tollgate/tollgate/store"
)

// minTokenLength is the shortest token a client may choose itself.
const minTokenLength = 24

// tokenRequest is the body of POST /v1/tokens. Token is optional: the
// server generates one when it is empty.
type tokenRequest struct {
	Name  string `json:"name"`
	Role  string `json:"role"`
	Token string `json:"token,omitempty"`
}

// tokenView is a token as listed: never its hash.
type tokenView struct {
	Name string `json:"name"`
	Role string `json:"role"`
}

// newToken returns a fresh high-entropy bearer token.
func newToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return "tg_" + base64.RawURLEncoding.EncodeToString(b[:])
}

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request) {
	cfg, err := s.read(w, r)
	if err != nil {
		fail(w, r, err)
		return
	}
	out := []tokenView{}
	for _, t := range cfg.AdminTokens {
		out = append(out, tokenView{Name: t.Name, Role: t.Role})
	}
	writeJSON(w, http.StatusOK, map[string]any{"tokens": out})
}

// createToken adds a token and shows it, the only time it is shown.
func (s *Server) createToken(w http.ResponseWriter, r *http.Request) {
	var req tokenRequest
	if err := decodeEntity(w, r, &req); err != nil {
		fail(w, r, err)
		return
	}
	if req.Token == "" {
		req.Token = newToken()
	} else if len(req.Token) < minTokenLength {
		fail(w, r, fieldError("token", fmt.Sprintf("must be at least %d characters", minTokenLength)))
		return
	}
	tok := store.AdminToken{Name: req.Name, Role: req.Role, Hash: store.HashToken(req.Token)}
	res, err := s.write(r, func(cur, next *store.Config) error {
		if slices.ContainsFunc(next.AdminTokens, func(t store.AdminToken) bool { return t.Name == tok.Name }) {
			return newAPIError(http.StatusConflict, codeConflict, fmt.Errorf("token %q already exists", tok.Name))
		}
		next.AdminTokens = append(next.AdminTokens, tok)
		if err := validateTokens(next.AdminTokens); err != nil {
			return err
		}
		if !hasAdminToken(next.AdminTokens) {
			return fieldError("role", "the first token must have the admin role, or nobody could manage the cluster")
		}
		return nil
	}, writeOpts{})
	if err != nil {
		fail(w, r, err)
		return
	}
	if res.dryRun {
		req.Token = ""
	}
	respondWrite(w, res, http.StatusCreated, req)
}

// deleteToken revokes a token; the last admin token cannot be deleted.
func (s *Server) deleteToken(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	res, err := s.write(r, func(cur, next *store.Config) error {
		i := slices.IndexFunc(next.AdminTokens, func(t store.AdminToken) bool { return t.Name == name })
		if i < 0 {
			return newAPIError(http.StatusNotFound, codeNotFound, fmt.Errorf("no token %q", name))
		}
		next.AdminTokens = slices.Delete(next.AdminTokens, i, i+1)
		if !hasAdminToken(next.AdminTokens) {
			return newAPIError(http.StatusConflict, codeConflict, fmt.Errorf("token %q is the last admin token", name))
		}
		return nil
	}, writeOpts{})
	if err != nil {
		fail(w, r, err)
		return
	}
	respondWrite(w, res, http.StatusNoContent, nil)
}

// validateTokens reports token problems relative to the request body
// ("role" rather than "admin_tokens[2].role").
func validateTokens(tokens []store.AdminToken) error {
	err := store.ValidateTokens(tokens)
	if err == nil {
		return nil
	}
	ve := err.(*store.ValidationError)
	prefix := fmt.Sprintf("admin_tokens[%d].", len(tokens)-1)
	for i, fe := range ve.Errors {
		if rest, ok := strings.CutPrefix(fe.Path, prefix); ok {
			ve.Errors[i].Path = rest
		}
	}
	return newAPIError(http.StatusBadRequest, codeBadRequest, ve)
}

func hasAdminToken(tokens []store.AdminToken) bool {
	return slices.ContainsFunc(tokens, func(t store.AdminToken) bool { return t.Role == store.RoleAdmin })
}
