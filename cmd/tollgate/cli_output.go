package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// table writes aligned columns.
type table struct{ tw *tabwriter.Writer }

func newTable(w io.Writer, headers ...string) *table {
	t := &table{tw: tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)}
	fmt.Fprintln(t.tw, strings.Join(headers, "\t"))
	return t
}

func (t *table) row(cells ...any) {
	s := make([]string, len(cells))
	for i, c := range cells {
		s[i] = cell(c)
	}
	fmt.Fprintln(t.tw, strings.Join(s, "\t"))
}

func (t *table) flush() error { return t.tw.Flush() }

// cell formats a JSON value for a table: lists comma-joined, absent "-".
func cell(v any) string {
	switch x := v.(type) {
	case nil:
		return "-"
	case string:
		if x == "" {
			return "-"
		}
		return x
	case []any:
		if len(x) == 0 {
			return "-"
		}
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = cell(e)
		}
		return strings.Join(parts, ",")
	case map[string]any:
		b, _ := json.Marshal(x)
		return string(b)
	}
	return fmt.Sprint(v)
}

// entityTable is how `tollgate get` shows one kind of entity.
type entityTable struct {
	plural  string
	headers []string
	cells   func(e map[string]any) []any
}

func (t entityTable) print(w io.Writer, rows []map[string]any) error {
	tw := newTable(w, t.headers...)
	for _, e := range rows {
		tw.row(t.cells(e)...)
	}
	return tw.flush()
}

// entityTableFor returns the table for a kind, by plural or singular name.
func entityTableFor(kind string) (entityTable, bool) {
	switch strings.TrimSuffix(kind, "s") {
	case "service":
		return entityTable{"services", []string{"NAME", "URL", "TIMEOUT"}, func(e map[string]any) []any {
			url := e["url"]
			if ts, ok := e["targets"].([]any); ok && url == nil {
				url = fmt.Sprintf("%d targets", len(ts))
			}
			return []any{e["name"], url, e["timeout"]}
		}}, true
	case "route":
		return entityTable{"routes", []string{"NAME", "SERVICE", "HOSTS", "PATHS", "METHODS"}, func(e map[string]any) []any {
			return []any{e["name"], e["service"], e["hosts"], e["paths"], e["methods"]}
		}}, true
	case "consumer":
		return entityTable{"consumers", []string{"USERNAME", "GROUPS"}, func(e map[string]any) []any {
			return []any{e["username"], e["groups"]}
		}}, true
	case "plugin":
		return entityTable{"plugins", []string{"ID", "NAME", "SERVICE", "ROUTE"}, func(e map[string]any) []any {
			return []any{e["id"], e["name"], e["service"], e["route"]}
		}}, true
	case "certificate":
		return entityTable{"certificates", []string{"NAME", "SNIS"}, func(e map[string]any) []any {
			return []any{e["name"], e["snis"]}
		}}, true
	}
	return entityTable{}, false
}

// printDiff writes a diff for people: one line per entity (+ added,
// - removed, ~ changed), changed fields indented below it.
func printDiff(w io.Writer, d diffBody) {
	if len(d.Changes) == 0 {
		fmt.Fprintf(w, "no changes against version %d\n", d.FromVersion)
		return
	}
	for _, c := range d.Changes {
		switch c.Op {
		case "added":
			fmt.Fprintf(w, "+ %s %s\n", c.Kind, c.Name)
		case "removed":
			fmt.Fprintf(w, "- %s %s\n", c.Kind, c.Name)
		case "reordered":
			fmt.Fprintf(w, "~ %ss reordered\n", c.Kind)
		default:
			fmt.Fprintf(w, "~ %s %s\n", c.Kind, c.Name)
		}
		for _, f := range c.Fields {
			fmt.Fprintf(w, "    %s: %s -> %s\n", f.Path, compact(f.Old), compact(f.New))
		}
	}
	fmt.Fprintf(w, "%d added, %d changed, %d removed (against version %d)\n", d.Added, d.Changed, d.Removed, d.FromVersion)
}

func compact(v any) string {
	if v == nil {
		return "(none)"
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}
