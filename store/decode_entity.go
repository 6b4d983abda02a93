package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"reflect"

	"sigs.k8s.io/yaml"
)

// DecodeEntity parses one entity (a Service, Route, Consumer, Plugin,
// Certificate or any other struct) from a JSON or YAML body into out,
// which must be a non-nil pointer to a struct. contentType selects the
// format as in Decode. Unknown fields and wrong types are rejected with
// their paths, relative to the entity ("hosts[0]"), as a *ValidationError.
func DecodeEntity(data []byte, contentType string, out any) error {
	if len(data) > MaxDocumentBytes {
		return invalid("", fmt.Sprintf("body exceeds %d bytes", MaxDocumentBytes))
	}
	if isYAML(contentType) {
		j, err := yaml.YAMLToJSON(data)
		if err != nil {
			return invalid("", "malformed YAML: "+err.Error())
		}
		data = j
	}
	var raw any
	rd := json.NewDecoder(bytes.NewReader(data))
	rd.UseNumber()
	if err := rd.Decode(&raw); err != nil {
		return invalid("", "malformed JSON: "+err.Error())
	}
	if _, err := rd.Token(); err != io.EOF {
		return invalid("", "malformed JSON: invalid data after top-level value")
	}
	if _, ok := raw.(map[string]any); !ok {
		return invalid("", "body must be an object")
	}
	if errs := checkFields(raw, reflect.TypeOf(out), ""); len(errs) > 0 {
		return &ValidationError{Errors: errs}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(out); err != nil {
		return &ValidationError{Errors: []FieldError{typeError(err)}}
	}
	return nil
}

func invalid(path, msg string) *ValidationError {
	return &ValidationError{Errors: []FieldError{{Path: path, Message: msg}}}
}
