package admin

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/tollgate/tollgate/store"
)

// Media types the API reads.
var (
	documentTypes = []string{"application/json", "application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml"}
	patchTypes    = []string{"application/merge-patch+json", "application/json"}
)

// readBody checks the Content-Type against allowed (an empty one means
// JSON) and reads at most store.MaxDocumentBytes: 415 and 413 otherwise.
func readBody(w http.ResponseWriter, r *http.Request, allowed []string) ([]byte, string, error) {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		ct = "application/json"
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || !slices.Contains(allowed, mt) {
		return nil, "", newAPIError(http.StatusUnsupportedMediaType, codeUnsupportedType,
			fmt.Errorf("Content-Type must be one of %s", strings.Join(allowed, ", ")))
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, store.MaxDocumentBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, "", newAPIError(http.StatusRequestEntityTooLarge, codeTooLarge, errBodyTooLarge)
		}
		return nil, "", newAPIError(http.StatusBadRequest, codeBadRequest, fmt.Errorf("read body: %w", err))
	}
	return body, mt, nil
}

// decodeEntity reads a JSON or YAML body into out, answering 400 with the
// field paths of unknown fields and wrong types.
func decodeEntity(w http.ResponseWriter, r *http.Request, out any) error {
	body, ct, err := readBody(w, r, documentTypes)
	if err != nil {
		return err
	}
	if err := store.DecodeEntity(body, ct, out); err != nil {
		return newAPIError(http.StatusBadRequest, codeBadRequest, err)
	}
	return nil
}

// decodeDocument reads a whole config document. Admin tokens cannot be
// set through a document: they are managed at /v1/tokens.
func decodeDocument(w http.ResponseWriter, r *http.Request) (*store.Config, error) {
	body, ct, err := readBody(w, r, documentTypes)
	if err != nil {
		return nil, err
	}
	doc, err := store.Decode(body, ct)
	if err != nil {
		return nil, newAPIError(http.StatusBadRequest, codeInvalidConfig, err)
	}
	if doc.AdminTokens != nil {
		return nil, newAPIError(http.StatusBadRequest, codeInvalidConfig, &store.ValidationError{Errors: []store.FieldError{
			{Path: "admin_tokens", Message: "admin tokens are managed at /v1/tokens, not in the document"}}})
	}
	return doc, nil
}

// queryBool reads a boolean query parameter; absent is false.
func queryBool(r *http.Request, name string) (bool, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, newAPIError(http.StatusBadRequest, codeBadRequest, fmt.Errorf("query parameter %s must be true or false, not %q", name, v))
	}
	return b, nil
}
