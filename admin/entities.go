package admin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/tollgate/tollgate/store"
)

// kind describes one entity collection of the config document, such as
// services, for the generic entity endpoints.
type kind[T any] struct {
	singular, plural string
	// keyField is the JSON field holding the entity's key ("name"), or ""
	// when the key is derived from the content (plugins).
	keyField string
	list     func(*store.Config) *[]T
	key      func(T) string
	// setKey fills an entity's key from the URL; nil when keyField is "".
	setKey func(*T, string)
	// view is what responses show of an entity; nil shows it as is.
	view func(T) any
	// referrers lists what still refers to the entity, by collection;
	// deleting it is refused while any does. nil: nothing can refer.
	referrers func(c *store.Config, key string) map[string][]string
	// prepare readies an incoming entity for cur, the config it is
	// written into: secrets sent redacted or left out are taken from the
	// stored entity, plaintext API keys are hashed. nil: nothing to do.
	prepare func(cur *store.Config, in *T)
}

// entityAPI serves list, get, create, update, patch and delete for a kind.
type entityAPI[T any] struct {
	s *Server
	k kind[T]
}

// register adds a kind's endpoints under /v1/{plural}.
func (a entityAPI[T]) register(mux *http.ServeMux) {
	base := "/v1/" + a.k.plural
	mux.HandleFunc("GET "+base, a.listAll)
	mux.HandleFunc("POST "+base, a.create)
	mux.HandleFunc("GET "+base+"/{key}", a.get)
	mux.HandleFunc("PUT "+base+"/{key}", a.put)
	mux.HandleFunc("PATCH "+base+"/{key}", a.patch)
	mux.HandleFunc("DELETE "+base+"/{key}", a.remove)
}

func (a entityAPI[T]) prepare(cur *store.Config, e *T) {
	if a.k.prepare != nil {
		a.k.prepare(cur, e)
	}
}

func (a entityAPI[T]) show(e T) any {
	if a.k.view == nil {
		return e
	}
	return a.k.view(e)
}

// find returns the index of the entity with key in c, or -1.
func (a entityAPI[T]) find(c *store.Config, key string) int {
	return slices.IndexFunc(*a.k.list(c), func(e T) bool { return a.k.key(e) == key })
}

func (a entityAPI[T]) notFound(key string) error {
	return newAPIError(http.StatusNotFound, codeNotFound, fmt.Errorf("no %s %q", a.k.singular, key))
}

func (a entityAPI[T]) listAll(w http.ResponseWriter, r *http.Request) {
	cfg, err := a.s.read(w, r)
	if err != nil {
		fail(w, r, err)
		return
	}
	out := []any{}
	for _, e := range *a.k.list(cfg) {
		out = append(out, a.show(e))
	}
	writeJSON(w, http.StatusOK, map[string]any{a.k.plural: out})
}

func (a entityAPI[T]) get(w http.ResponseWriter, r *http.Request) {
	cfg, err := a.s.read(w, r)
	if err != nil {
		fail(w, r, err)
		return
	}
	key := r.PathValue("key")
	i := a.find(cfg, key)
	if i < 0 {
		fail(w, r, a.notFound(key))
		return
	}
	writeJSON(w, http.StatusOK, a.show((*a.k.list(cfg))[i]))
}

// create adds an entity; 409 if one with its key exists.
func (a entityAPI[T]) create(w http.ResponseWriter, r *http.Request) {
	var e T
	if err := decodeEntity(w, r, &e); err != nil {
		fail(w, r, err)
		return
	}
	key := a.k.key(e)
	if key == "" && a.k.keyField != "" {
		fail(w, r, fieldError(a.k.keyField, "is required"))
		return
	}
	var idx int
	res, err := a.s.write(r, func(cur, next *store.Config) error {
		list := a.k.list(next)
		if a.find(next, key) >= 0 {
			return newAPIError(http.StatusConflict, codeConflict, fmt.Errorf("%s %q already exists", a.k.singular, key))
		}
		a.prepare(cur, &e)
		*list = append(*list, e)
		idx = len(*list) - 1
		return nil
	}, writeOpts{})
	if err != nil {
		fail(w, r, a.relativePaths(err, idx))
		return
	}
	w.Header().Set("Location", "/v1/"+a.k.plural+"/"+url.PathEscape(key))
	respondWrite(w, res, http.StatusCreated, a.show(e))
}

// put replaces the entity at the URL's key, or creates it.
func (a entityAPI[T]) put(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("key")
	var e T
	if err := decodeEntity(w, r, &e); err != nil {
		fail(w, r, err)
		return
	}
	if err := a.matchKey(&e, key); err != nil {
		fail(w, r, err)
		return
	}
	created := false
	var idx int
	res, err := a.s.write(r, func(cur, next *store.Config) error {
		list := a.k.list(next)
		a.prepare(cur, &e)
		idx = a.find(next, key)
		if created = idx < 0; created {
			*list = append(*list, e)
			idx = len(*list) - 1
			return nil
		}
		(*list)[idx] = e
		return nil
	}, writeOpts{})
	if err != nil {
		fail(w, r, a.relativePaths(err, idx))
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	respondWrite(w, res, status, a.show(e))
}

// matchKey fills the entity's key from the URL when the body has none,
// and refuses a body whose key differs from the URL's.
func (a entityAPI[T]) matchKey(e *T, key string) error {
	if a.k.setKey != nil && a.k.key(*e) == "" {
		a.k.setKey(e, key)
	}
	if got := a.k.key(*e); got != key {
		field := a.k.keyField
		if field == "" {
			field = "name"
		}
		return fieldError(field, fmt.Sprintf("the body names %s %q but the URL %q; delete and create to rename", a.k.singular, got, key))
	}
	return nil
}

// patch applies a JSON merge patch (RFC 7386) to the entity.
func (a entityAPI[T]) patch(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("key")
	body, _, err := readBody(w, r, patchTypes)
	if err != nil {
		fail(w, r, err)
		return
	}
	patch, err := parsePatch(body)
	if err != nil {
		fail(w, r, err)
		return
	}
	var (
		idx     int
		patched T
	)
	res, err := a.s.write(r, func(cur, next *store.Config) error {
		list := a.k.list(next)
		if idx = a.find(next, key); idx < 0 {
			return a.notFound(key)
		}
		e, err := applyPatch((*list)[idx], patch)
		if err != nil {
			return err
		}
		if err := a.matchKey(&e, key); err != nil {
			return err
		}
		a.prepare(cur, &e)
		(*list)[idx], patched = e, e
		return nil
	}, writeOpts{})
	if err != nil {
		fail(w, r, a.relativePaths(err, idx))
		return
	}
	respondWrite(w, res, http.StatusOK, a.show(patched))
}

// remove deletes the entity; 409 while other entities refer to it.
func (a entityAPI[T]) remove(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("key")
	res, err := a.s.write(r, func(cur, next *store.Config) error {
		i := a.find(next, key)
		if i < 0 {
			return a.notFound(key)
		}
		if err := a.inUse(next, key); err != nil {
			return err
		}
		list := a.k.list(next)
		*list = slices.Delete(*list, i, i+1)
		return nil
	}, writeOpts{})
	if err != nil {
		fail(w, r, err)
		return
	}
	respondWrite(w, res, http.StatusNoContent, nil)
}

// inUse answers 409, naming the referrers, if anything refers to key.
func (a entityAPI[T]) inUse(c *store.Config, key string) error {
	if a.k.referrers == nil {
		return nil
	}
	refs := map[string][]string{}
	var parts []string
	for coll, names := range a.k.referrers(c, key) {
		if len(names) > 0 {
			refs[coll] = names
			parts = append(parts, coll+" "+strings.Join(names, ", "))
		}
	}
	slices.Sort(parts)
	if len(parts) == 0 {
		return nil
	}
	e := newAPIError(http.StatusConflict, codeInUse,
		fmt.Errorf("%s %q is still used by %s", a.k.singular, key, strings.Join(parts, "; ")))
	e.details = map[string]any{"referrers": refs}
	return e
}

// relativePaths rewrites validation errors about the entity at index i
// of its collection ("routes[3].service") to paths relative to the
// entity ("service"), as the client wrote it.
func (a entityAPI[T]) relativePaths(err error, i int) error {
	var ve *store.ValidationError
	if !errors.As(err, &ve) {
		return err
	}
	prefix := fmt.Sprintf("%s[%d]", a.k.plural, i)
	for j, fe := range ve.Errors {
		if rest, ok := strings.CutPrefix(fe.Path, prefix); ok && (rest == "" || rest[0] == '.' || rest[0] == '[') {
			ve.Errors[j].Path = strings.TrimPrefix(rest, ".")
		}
	}
	return err
}

// fieldError is a 400 about one field of the request body.
func fieldError(path, msg string) error {
	return newAPIError(http.StatusBadRequest, codeBadRequest,
		&store.ValidationError{Errors: []store.FieldError{{Path: path, Message: msg}}})
}

// parsePatch reads a merge patch, which must be a JSON object.
func parsePatch(body []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var patch any
	if err := dec.Decode(&patch); err != nil || dec.More() {
		return nil, fieldError("", "malformed JSON merge patch")
	}
	m, ok := patch.(map[string]any)
	if !ok {
		return nil, fieldError("", "a merge patch must be a JSON object")
	}
	return m, nil
}

// applyPatch merges patch into e and decodes the result strictly, so a
// patch with unknown fields or wrong types fails with their paths.
func applyPatch[T any](e T, patch map[string]any) (T, error) {
	var out T
	b, err := json.Marshal(e)
	if err != nil {
		return out, err
	}
	var doc any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		return out, err
	}
	merged, err := json.Marshal(mergePatch(doc, patch))
	if err != nil {
		return out, err
	}
	if err := store.DecodeEntity(merged, "application/json", &out); err != nil {
		return out, newAPIError(http.StatusBadRequest, codeBadRequest, err)
	}
	return out, nil
}

// mergePatch applies an RFC 7386 JSON merge patch to target.
func mergePatch(target, patch any) any {
	p, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	t, ok := target.(map[string]any)
	if !ok {
		t = map[string]any{}
	}
	for k, v := range p {
		if v == nil {
			delete(t, k)
		} else {
			t[k] = mergePatch(t[k], v)
		}
	}
	return t
}
