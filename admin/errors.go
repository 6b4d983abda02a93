package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/tollgate/tollgate/cluster"
	"github.com/tollgate/tollgate/store"
)

// Sentinel errors of the admin API.
var (
	errNotFound      = errors.New("no such endpoint")
	errNoConfig      = errors.New("the data plane has no config yet")
	errBadIfMatch    = errors.New("If-Match must be a config version, like \"7\"")
	errBodyTooLarge  = fmt.Errorf("body exceeds %d bytes", store.MaxDocumentBytes)
	errUnknownFormat = errors.New("format must be json or yaml")
	errNoToken       = errors.New("this endpoint needs a bearer token: Authorization: Bearer <token>")
	errBadToken      = errors.New("the bearer token is not valid")
	errNoTokensExist = errors.New("no admin token is configured and the admin listener is not loopback: restart a node with --admin-token")
	errReadOnly      = errors.New("this token has the read role and cannot change anything")
	errAdminOnly     = errors.New("this endpoint needs a token with the admin role")
	errNoMatcher     = errors.New("route matching is not available: this node's data plane does not expose its matcher")
	errMatchParams   = errors.New("query parameters method and path are required (host is optional)")
	errNoCache       = errors.New("response caching is not available on this node")
)

// Error codes used in admin JSON errors.
const (
	codeBadRequest      = "bad_request"
	codeInvalidConfig   = "invalid_config"
	codeTooLarge        = "body_too_large"
	codeUnsupportedType = "unsupported_media_type"
	codeVersionMismatch = "version_mismatch"
	codeNoLeader        = "no_leader"
	codeNotFound        = "not_found"
	codeMethod          = "method_not_allowed"
	codeInternal        = "internal"
	codeNotReady        = "not_ready"
	codeConflict        = "conflict"
	codeInUse           = "in_use"
	codeUnauthorized    = "unauthorized"
	codeForbidden       = "forbidden"
	codeNotImplemented  = "not_implemented"
)

// errorBody is the JSON error shape shared with the data plane.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code      string             `json:"code"`
	Message   string             `json:"message"`
	RequestID string             `json:"request_id,omitempty"`
	Fields    []store.FieldError `json:"fields,omitempty"`
	// Details carries structured context, such as what still refers to
	// an entity that cannot be deleted.
	Details any `json:"details,omitempty"`
}

// apiError is an error with the HTTP status and code it answers with.
type apiError struct {
	status  int
	code    string
	err     error
	details any
}

func (e *apiError) Error() string { return e.err.Error() }
func (e *apiError) Unwrap() error { return e.err }

// newAPIError wraps err with a status and code.
func newAPIError(status int, code string, err error) *apiError {
	return &apiError{status: status, code: code, err: err}
}

// writeError writes a JSON error. Validation errors list their fields.
func writeError(w http.ResponseWriter, r *http.Request, status int, code string, err error) {
	d := errorDetail{Code: code, Message: err.Error(), RequestID: requestID(r)}
	var ve *store.ValidationError
	if errors.As(err, &ve) {
		d.Fields = ve.Errors
	}
	var ae *apiError
	if errors.As(err, &ae) {
		d.Details = ae.details
	}
	writeJSON(w, status, errorBody{Error: d})
}

// fail answers with the status and code that err maps to.
func fail(w http.ResponseWriter, r *http.Request, err error) {
	status, code := errorStatus(err)
	writeError(w, r, status, code, err)
}

// errorStatus maps an error to an HTTP status and error code.
func errorStatus(err error) (int, string) {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae.status, ae.code
	}
	return applyErrorStatus(err)
}

// applyErrorStatus maps a write failure to an HTTP status and error code.
func applyErrorStatus(err error) (int, string) {
	var ve *store.ValidationError
	switch {
	case errors.As(err, &ve):
		return http.StatusBadRequest, codeInvalidConfig
	case errors.Is(err, store.ErrVersionMismatch):
		return http.StatusPreconditionFailed, codeVersionMismatch
	case errors.Is(err, cluster.ErrNoLeader), errors.Is(err, cluster.ErrClosed):
		return http.StatusServiceUnavailable, codeNoLeader
	}
	return http.StatusServiceUnavailable, codeInternal
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
