package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"reflect"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"
)

// MaxDocumentBytes caps the size of a config document accepted by Decode.
const MaxDocumentBytes = 8 << 20

// Decode parses a config document. contentType selects the format: a YAML
// media type (application/yaml, application/x-yaml, text/yaml) reads YAML,
// anything else JSON. Unknown fields and wrong types are rejected with the
// path of the offending field. The result is not validated; call Validate.
func Decode(data []byte, contentType string) (*Config, error) {
	if len(data) > MaxDocumentBytes {
		return nil, &ValidationError{Errors: []FieldError{{Path: "", Message: fmt.Sprintf("document exceeds %d bytes", MaxDocumentBytes)}}}
	}
	if isYAML(contentType) {
		j, err := yaml.YAMLToJSON(data)
		if err != nil {
			return nil, &ValidationError{Errors: []FieldError{{Message: "malformed YAML: " + err.Error()}}}
		}
		data = j
	}
	var raw any
	rd := json.NewDecoder(bytes.NewReader(data))
	rd.UseNumber() // keep numbers verbatim for checkFields
	if err := rd.Decode(&raw); err != nil {
		return nil, &ValidationError{Errors: []FieldError{{Message: "malformed JSON: " + err.Error()}}}
	}
	if _, err := rd.Token(); err != io.EOF {
		return nil, &ValidationError{Errors: []FieldError{{Message: "malformed JSON: invalid data after top-level value"}}}
	}
	if _, ok := raw.(map[string]any); !ok {
		return nil, &ValidationError{Errors: []FieldError{{Message: "document must be an object"}}}
	}
	if errs := checkFields(raw, reflect.TypeFor[Config](), ""); len(errs) > 0 {
		return nil, &ValidationError{Errors: errs}
	}
	var cfg Config
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		return nil, &ValidationError{Errors: []FieldError{typeError(err)}}
	}
	return &cfg, nil
}

func isYAML(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	return mt == "application/yaml" || mt == "application/x-yaml" || mt == "text/yaml" || mt == "text/x-yaml"
}

// typeError turns a json decoding error into a FieldError with a path.
func typeError(err error) FieldError {
	var ute *json.UnmarshalTypeError
	if errors.As(err, &ute) {
		return FieldError{Path: ute.Field, Message: fmt.Sprintf("must be %s, not %s", jsonKind(ute.Type), ute.Value)}
	}
	return FieldError{Message: err.Error()}
}

func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "an object"
	case reflect.Int, reflect.Int64, reflect.Int32, reflect.Uint, reflect.Uint64, reflect.Uint32, reflect.Float64:
		return "a number"
	}
	return t.String()
}

// checkFields walks a decoded JSON value alongside the Go type it will be
// decoded into and reports every object key the type has no field for and
// every value that does not decode into its field's type, each with its
// path (encoding/json's own type errors carry no list indices).
func checkFields(v any, t reflect.Type, path string) []FieldError {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() == reflect.Interface {
		return nil // opaque (json.RawMessage)
	}
	switch val := v.(type) {
	case map[string]any:
		if t.Kind() != reflect.Struct {
			break
		}
		fields := jsonFields(t)
		keys := make([]string, 0, len(val))
		for k := range val {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var errs []FieldError
		for _, k := range keys {
			ft, ok := fields[k]
			if !ok {
				errs = append(errs, FieldError{Path: joinPath(path, k), Message: "unknown field"})
				continue
			}
			errs = append(errs, checkFields(val[k], ft, joinPath(path, k))...)
		}
		return errs
	case []any:
		if t.Kind() != reflect.Slice {
			break
		}
		var errs []FieldError
		for i, e := range val {
			errs = append(errs, checkFields(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i))...)
		}
		return errs
	}
	return leafError(v, t, path)
}

// leafError decodes the JSON value v into a new t and reports a failure at path.
func leafError(v any, t reflect.Type, path string) []FieldError {
	b, err := json.Marshal(v)
	if err == nil {
		err = json.Unmarshal(b, reflect.New(t).Interface())
	}
	if err == nil {
		return nil
	}
	fe := typeError(err)
	fe.Path = path
	return []FieldError{fe}
}

// jsonFields maps JSON names to field types for a struct type. Fields of
// type json.RawMessage are opaque and are not descended into.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := make(map[string]reflect.Type, t.NumField())
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		ft := f.Type
		if ft == reflect.TypeFor[json.RawMessage]() {
			ft = reflect.TypeFor[any]()
		}
		out[name] = ft
	}
	return out
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}
