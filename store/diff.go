package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Entity kinds as named in diffs and history summaries, in document order.
const (
	KindService     = "service"
	KindRoute       = "route"
	KindConsumer    = "consumer"
	KindPlugin      = "plugin"
	KindCertificate = "certificate"
	KindTracing     = "tracing"
	KindAdminToken  = "admin_token"
)

// ChangeOp says how an entity changed between two documents.
type ChangeOp string

// The ways an entity can change.
const (
	OpAdded   ChangeOp = "added"
	OpRemoved ChangeOp = "removed"
	OpChanged ChangeOp = "changed"
	// OpReordered means the entities a kind has in both documents appear
	// in a different order (order breaks ties between routes).
	OpReordered ChangeOp = "reordered"
)

// FieldChange is one changed value inside an entity. Old is absent when
// the field was added, New when it was removed.
type FieldChange struct {
	Path string `json:"path"`
	Old  any    `json:"old,omitempty"`
	New  any    `json:"new,omitempty"`
}

// Change is what happened to one entity. Added entities carry New,
// removed ones Old, changed ones the Fields that differ.
type Change struct {
	Kind   string        `json:"kind"`
	Name   string        `json:"name"`
	Op     ChangeOp      `json:"op"`
	Fields []FieldChange `json:"fields,omitempty"`
	Old    any           `json:"old,omitempty"`
	New    any           `json:"new,omitempty"`
}

// ChangeRef names a changed entity, for history summaries.
type ChangeRef struct {
	Kind string   `json:"kind"`
	Name string   `json:"name"`
	Op   ChangeOp `json:"op"`
}

// Diff is the exact difference between two documents, entity by entity.
// Entities are matched by name (consumers by username, plugins by
// PluginID). Secrets (certificate keys, token hashes, consumer
// credentials) show as RedactedValue.
type Diff struct {
	FromVersion uint64   `json:"from_version"`
	Added       int      `json:"added"`
	Removed     int      `json:"removed"`
	Changed     int      `json:"changed"`
	Changes     []Change `json:"changes"`
}

// Empty reports whether the documents are equivalent.
func (d Diff) Empty() bool { return len(d.Changes) == 0 }

// DiffConfigs returns what changes when from is replaced by to. The
// result is deterministic: kinds in document order, entities by name.
func DiffConfigs(from, to *Config) Diff {
	if from == nil {
		from = &Config{}
	}
	if to == nil {
		to = &Config{}
	}
	d := Diff{FromVersion: from.Version, Changes: []Change{}}
	add := func(cs []Change) { d.Changes = append(d.Changes, cs...) }
	add(diffList(KindService, from.Services, to.Services, func(s Service) string { return s.Name }, nil))
	add(diffList(KindRoute, from.Routes, to.Routes, func(r Route) string { return r.Name }, nil))
	add(diffList(KindConsumer, from.Consumers, to.Consumers, func(c Consumer) string { return c.Username }, redactConsumer))
	add(diffList(KindPlugin, from.Plugins, to.Plugins, PluginID, nil))
	add(diffList(KindCertificate, from.Certificates, to.Certificates, func(c Certificate) string { return c.Name }, redactCertificate))
	add(diffList(KindTracing, tracingList(from.Tracing), tracingList(to.Tracing), func(Tracing) string { return KindTracing }, redactTracing))
	add(diffList(KindAdminToken, from.AdminTokens, to.AdminTokens, func(t AdminToken) string { return t.Name }, redactToken))
	for _, c := range d.Changes {
		switch c.Op {
		case OpAdded:
			d.Added++
		case OpRemoved:
			d.Removed++
		default:
			d.Changed++
		}
	}
	return d
}

// Refs lists the changed entities, at most limit of them (all if limit <= 0).
func (d Diff) Refs(limit int) []ChangeRef {
	var out []ChangeRef
	for _, c := range d.Changes {
		if limit > 0 && len(out) == limit {
			break
		}
		out = append(out, ChangeRef{Kind: c.Kind, Name: c.Name, Op: c.Op})
	}
	return out
}

// Summary is a one-line description such as
// "1 added, 1 changed: +route orders, ~service users".
func (d Diff) Summary() string {
	if d.Empty() {
		return "no changes"
	}
	var counts []string
	for _, c := range []struct {
		n    int
		what string
	}{{d.Added, "added"}, {d.Changed, "changed"}, {d.Removed, "removed"}} {
		if c.n > 0 {
			counts = append(counts, fmt.Sprintf("%d %s", c.n, c.what))
		}
	}
	const shown = 8
	var names []string
	for _, r := range d.Refs(shown) {
		if r.Op == OpReordered {
			names = append(names, "reordered "+r.Kind+"s")
			continue
		}
		names = append(names, opSymbol(r.Op)+r.Kind+" "+r.Name)
	}
	if more := len(d.Changes) - shown; more > 0 {
		names = append(names, fmt.Sprintf("and %d more", more))
	}
	return strings.Join(counts, ", ") + ": " + strings.Join(names, ", ")
}

func opSymbol(op ChangeOp) string {
	switch op {
	case OpAdded:
		return "+"
	case OpRemoved:
		return "-"
	}
	return "~"
}

// keyedList indexes a list by entity key. A key that repeats (possible
// for plugins) gets "#2", "#3"... so that every entry stays distinct.
func keyedList[T any](list []T, key func(T) string) (keys []string, byKey map[string]T) {
	byKey = make(map[string]T, len(list))
	seen := map[string]int{}
	for _, e := range list {
		k := key(e)
		seen[k]++
		if n := seen[k]; n > 1 {
			k += "#" + strconv.Itoa(n)
		}
		keys = append(keys, k)
		byKey[k] = e
	}
	return keys, byKey
}

// diffList diffs one kind. shown redacts an entity for display (nil:
// nothing to hide): changes are found on the real values and reported
// with the shown ones, so a changed secret shows as changed, not what it is.
func diffList[T any](kind string, from, to []T, key func(T) string, shown func(T) T) []Change {
	oldKeys, oldBy := keyedList(from, key)
	newKeys, newBy := keyedList(to, key)
	view := func(e T) side {
		s := side{raw: jsonValue(e)}
		s.shown = s.raw
		if shown != nil {
			s.shown = jsonValue(shown(e))
		}
		return s
	}
	var out []Change
	for _, k := range oldKeys {
		if _, ok := newBy[k]; !ok {
			out = append(out, Change{Kind: kind, Name: k, Op: OpRemoved, Old: view(oldBy[k]).shown})
		}
	}
	for _, k := range newKeys {
		o, ok := oldBy[k]
		switch {
		case !ok:
			out = append(out, Change{Kind: kind, Name: k, Op: OpAdded, New: view(newBy[k]).shown})
		case !reflect.DeepEqual(o, newBy[k]):
			if fields := diffValues(view(o), view(newBy[k]), ""); len(fields) > 0 {
				out = append(out, Change{Kind: kind, Name: k, Op: OpChanged, Fields: fields})
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	if o, n := commonOrder(oldKeys, newBy), commonOrder(newKeys, oldBy); !slices.Equal(o, n) {
		out = append(out, Change{Kind: kind, Name: "*", Op: OpReordered,
			Fields: []FieldChange{{Path: "order", Old: o, New: n}}})
	}
	return out
}

// commonOrder is keys restricted to those present in other.
func commonOrder[T any](keys []string, other map[string]T) []string {
	out := []string{}
	for _, k := range keys {
		if _, ok := other[k]; ok {
			out = append(out, k)
		}
	}
	return out
}

// jsonValue is v as it reads in a document: a tree of map[string]any,
// []any, json.Number, string, bool and nil.
func jsonValue(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("(unencodable: %v)", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var out any
	if err := dec.Decode(&out); err != nil {
		return fmt.Sprintf("(undecodable: %v)", err)
	}
	return out
}

// side is one entity's JSON tree, real and as shown (secrets redacted).
type side struct{ raw, shown any }

// child descends into a map key or list index of both trees.
func (s side) child(key any) side {
	var out side
	switch k := key.(type) {
	case string:
		m, _ := s.raw.(map[string]any)
		out.raw = m[k]
		m, _ = s.shown.(map[string]any)
		out.shown = m[k]
	case int:
		l, _ := s.raw.([]any)
		out.raw = l[k]
		if l, ok := s.shown.([]any); ok && k < len(l) {
			out.shown = l[k]
		}
	}
	if out.shown == nil && out.raw != nil {
		out.shown = RedactedValue // redaction dropped the value
	}
	return out
}

// diffValues lists the leaves that differ between two JSON trees, showing
// their redacted values. Lists of equal length are compared element by
// element; a list whose length changed is reported whole.
func diffValues(a, b side, path string) []FieldChange {
	am, aok := a.raw.(map[string]any)
	bm, bok := b.raw.(map[string]any)
	if aok && bok {
		return diffMaps(a, b, am, bm, path)
	}
	al, aok := a.raw.([]any)
	bl, bok := b.raw.([]any)
	if aok && bok && len(al) == len(bl) {
		var out []FieldChange
		for i := range al {
			out = append(out, diffValues(a.child(i), b.child(i), fmt.Sprintf("%s[%d]", path, i))...)
		}
		return out
	}
	if reflect.DeepEqual(a.raw, b.raw) {
		return nil
	}
	return []FieldChange{{Path: path, Old: a.shown, New: b.shown}}
}

func diffMaps(a, b side, am, bm map[string]any, path string) []FieldChange {
	keys := make([]string, 0, len(am)+len(bm))
	for k := range am {
		keys = append(keys, k)
	}
	for k := range bm {
		if _, ok := am[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var out []FieldChange
	for _, k := range keys {
		out = append(out, diffValues(a.child(k), b.child(k), joinPath(path, k))...)
	}
	return out
}

// Redactions for display: what the admin API never shows.
func redactCertificate(c Certificate) Certificate {
	if c.Key != "" {
		c.Key = RedactedValue
	}
	return c
}

func redactToken(t AdminToken) AdminToken {
	if t.Hash != "" {
		t.Hash = RedactedValue
	}
	return t
}

func redactConsumer(c Consumer) Consumer { return c.Redacted() }
