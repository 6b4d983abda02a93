package store

import (
	"encoding/hex"
	"fmt"
	"strings"
)

// ValidateTokens checks the admin tokens of a document: names set and
// unique, a known role, and a well-formed hash. Paths are relative to the
// document (admin_tokens[i].field).
func ValidateTokens(tokens []AdminToken) error {
	var v validator
	seen := map[string]bool{}
	for i, t := range tokens {
		p := fmt.Sprintf("admin_tokens[%d]", i)
		v.uniqueName(p, "name", t.Name, seen)
		if t.Role != RoleRead && t.Role != RoleAdmin {
			v.addf(p+".role", "must be %q or %q, not %q", RoleRead, RoleAdmin, t.Role)
		}
		if !validTokenHash(t.Hash) {
			v.addf(p+".hash", "must be %q followed by 64 hex digits", tokenHashPrefix)
		}
	}
	if len(v.errs) > 0 {
		return &ValidationError{Errors: v.errs}
	}
	return nil
}

func validTokenHash(h string) bool {
	hexPart, ok := strings.CutPrefix(h, tokenHashPrefix)
	if !ok || len(hexPart) != 64 {
		return false
	}
	_, err := hex.DecodeString(hexPart)
	return err == nil
}
