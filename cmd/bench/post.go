package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// postBody is a JSON document of exactly n bytes (at least 8), the body
// that -body sends with every request.
func postBody(n int) []byte {
	const open, close = `{"p":"`, `"}`
	fill := max(n-len(open)-len(close), 0)
	return []byte(open + strings.Repeat("x", fill) + close)
}

// writePostScript writes, into dir, the wrk script that makes every
// request a POST with postBody(n), and returns its path.
func writePostScript(dir string, n int) (string, error) {
	script := fmt.Sprintf("wrk.method = \"POST\"\nwrk.body = '%s'\nwrk.headers[\"Content-Type\"] = \"application/json\"\n", postBody(n))
	path := filepath.Join(dir, "post.lua")
	if err := os.WriteFile(path, []byte(script), 0o644); err != nil {
		return "", fmt.Errorf("writing the wrk script: %w", err)
	}
	return path, nil
}
