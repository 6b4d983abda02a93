package admin

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/tollgate/tollgate/store"
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
}

// writeError writes a JSON error. Validation errors list their fields.
func writeError(w http.ResponseWriter, r *http.Request, status int, code string, err error) {
	d := errorDetail{Code: code, Message: err.Error(), RequestID: requestID(r)}
	var ve *store.ValidationError
	if errors.As(err, &ve) {
		d.Fields = ve.Errors
	}
	writeJSON(w, status, errorBody{Error: d})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
