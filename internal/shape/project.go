package shape

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/tollgate/tollgate/store"
)

// errNotJSON means a body could not be projected; it is sent unchanged.
var errNotJSON = errors.New("body is not valid JSON")

// maxArrayNesting bounds how deep arrays directly inside arrays are
// descended into; deeper ones are left out. Each level re-reads its
// element, so without a bound a deeply nested body would cost its size
// times its depth.
const maxArrayNesting = 16

// node is a trie of dotted field paths. A leaf ends a path: the whole
// value under it is kept (include) or dropped (exclude).
type node struct {
	leaf     bool
	children map[string]*node
}

// newTrie builds the trie of paths; nil when there are none.
func newTrie(paths []string) *node {
	if len(paths) == 0 {
		return nil
	}
	root := &node{}
	for _, p := range paths {
		n := root
		for name := range strings.SplitSeq(p, ".") {
			if n.children == nil {
				n.children = map[string]*node{}
			}
			next := n.children[name]
			if next == nil {
				next = &node{}
				n.children[name] = next
			}
			n = next
		}
		n.leaf = true
	}
	return root
}

// rule is a compiled store.ShapeRule.
type rule struct {
	include *node // nil: keep every field
	exclude *node // nil: drop none
}

func compileRule(r store.ShapeRule) *rule {
	if r.Empty() {
		return nil
	}
	return &rule{include: newTrie(r.Include), exclude: newTrie(r.Exclude)}
}

// apply projects a JSON body: include first, then exclude. Object members
// keep their order and values their bytes; a scalar body is left as it
// is. It fails with errNotJSON on a body that is not valid JSON.
func (r *rule) apply(body []byte) ([]byte, error) {
	body = bytes.TrimSpace(body)
	if !json.Valid(body) {
		return nil, errNotJSON
	}
	var err error
	if r.include != nil {
		kept, ok, kerr := keep(body, r.include, 0)
		if ok { // a scalar body has no fields to choose from: left as it is
			body = kept
		}
		err = kerr
	}
	if err == nil && r.exclude != nil {
		body, _, err = drop(body, r.exclude, 0)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errNotJSON, err)
	}
	return body, nil
}

// keep returns the part of raw that the include trie n selects. ok is
// false for a scalar where n expects fields, and for an array nested
// deeper than maxArrayNesting: such a member or element is left out.
// nested counts the arrays directly around raw.
func keep(raw []byte, n *node, nested int) (out []byte, ok bool, err error) {
	if n.leaf {
		return raw, true, nil
	}
	switch raw[0] {
	case '{':
		out, err = eachMember(raw, func(b []byte, key string, val []byte) ([]byte, error) {
			child := n.children[key]
			if child == nil {
				return b, nil
			}
			v, ok, err := keep(val, child, 0)
			if err != nil || !ok {
				return b, err
			}
			return appendMember(b, key, v), nil
		})
		return out, err == nil, err
	case '[':
		if nested >= maxArrayNesting {
			return nil, false, nil
		}
		out, err = eachElement(raw, func(val []byte) ([]byte, bool, error) { return keep(val, n, nested+1) })
		return out, err == nil, err
	}
	return nil, false, nil
}

// drop returns raw without the fields the exclude trie n names. ok is
// false for an array nested deeper than maxArrayNesting, which is left
// out rather than sent with fields it may hold.
func drop(raw []byte, n *node, nested int) (out []byte, ok bool, err error) {
	switch raw[0] {
	case '{':
		out, err = eachMember(raw, func(b []byte, key string, val []byte) ([]byte, error) {
			child := n.children[key]
			switch {
			case child == nil:
				return appendMember(b, key, val), nil
			case child.leaf:
				return b, nil
			}
			v, ok, err := drop(val, child, 0)
			if err != nil || !ok {
				return b, err
			}
			return appendMember(b, key, v), nil
		})
		return out, err == nil, err
	case '[':
		if nested >= maxArrayNesting {
			return nil, false, nil
		}
		out, err = eachElement(raw, func(val []byte) ([]byte, bool, error) { return drop(val, n, nested+1) })
		return out, err == nil, err
	}
	return raw, true, nil
}

// eachMember rebuilds the object raw: fn appends to b what a member
// becomes (nothing to leave it out).
func eachMember(raw []byte, fn func(b []byte, key string, val []byte) ([]byte, error)) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if _, err := dec.Token(); err != nil { // {
		return nil, err
	}
	out := make([]byte, 0, len(raw))
	out = append(out, '{')
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, _ := tok.(string) // object keys are strings
		var val json.RawMessage
		if err := dec.Decode(&val); err != nil {
			return nil, err
		}
		if out, err = fn(out, key, val); err != nil {
			return nil, err
		}
	}
	return append(out, '}'), nil
}

// eachElement rebuilds the array raw from what fn makes of each element;
// an element for which fn reports false is left out.
func eachElement(raw []byte, fn func(val []byte) ([]byte, bool, error)) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if _, err := dec.Token(); err != nil { // [
		return nil, err
	}
	out := make([]byte, 0, len(raw))
	out = append(out, '[')
	for dec.More() {
		var val json.RawMessage
		if err := dec.Decode(&val); err != nil {
			return nil, err
		}
		v, ok, err := fn(val)
		if err != nil {
			return nil, err
		}
		if ok {
			out = appendSep(out, '[')
			out = append(out, v...)
		}
	}
	return append(out, ']'), nil
}

// appendMember appends "key":val to an object being built.
func appendMember(b []byte, key string, val []byte) []byte {
	b = appendSep(b, '{')
	k, _ := json.Marshal(key) // a string always encodes
	b = append(b, k...)
	b = append(b, ':')
	return append(b, val...)
}

// appendSep appends a comma unless b ends with the opening bracket open.
func appendSep(b []byte, open byte) []byte {
	if b[len(b)-1] == open {
		return b
	}
	return append(b, ',')
}
