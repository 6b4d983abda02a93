package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// cliUsage lists the subcommands that talk to a node's admin API.
const cliUsage = `  tollgate apply -f FILE    apply a config document (shows the changes; skips a no-op)
  tollgate diff -f FILE     show what applying a document would change
  tollgate get KIND [NAME]  show config, services, routes, consumers, plugins or certificates
  tollgate members          list cluster members (members remove ID: drop a dead node)
  tollgate history          list kept config versions with author and summary
  tollgate rollback V       make a new version equal to version V
  tollgate route-match METHOD HOST PATH   which route a request would take
  (common flags: --addr/$TOLLGATE_ADDR, --token/$TOLLGATE_TOKEN, -o table|json|yaml;
   exit codes: 0 ok, 1 error, 2 usage, 3 conflict or stale version)
`

// runCLI runs an admin API subcommand and returns its exit code.
func runCLI(name string, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	var c *cli
	var err error
	switch name {
	case "apply":
		c = newCLI(name, "apply -f FILE [--dry-run] [--if-match V] [flags]", stdout, stderr)
		err = cmdApply(c, args, stdin)
	case "diff":
		c = newCLI(name, "diff -f FILE [flags]", stdout, stderr)
		err = cmdDiff(c, args, stdin)
	case "get":
		c = newCLI(name, "get config|services|routes|consumers|plugins|certificates [NAME] [--consistent] [flags]", stdout, stderr)
		err = cmdGet(c, args)
	case "members":
		c = newCLI(name, "members [remove ID [--force]] [flags]", stdout, stderr)
		err = cmdMembers(c, args)
	case "history":
		c = newCLI(name, "history [--limit N] [flags]", stdout, stderr)
		err = cmdHistory(c, args)
	case "rollback":
		c = newCLI(name, "rollback VERSION [--dry-run] [flags]", stdout, stderr)
		err = cmdRollback(c, args)
	case "route-match":
		c = newCLI(name, "route-match METHOD HOST PATH [flags]", stdout, stderr)
		err = cmdRouteMatch(c, args)
	default:
		fmt.Fprintf(stderr, "tollgate: unknown command %q\n", name)
		return exitUsage
	}
	return c.exit(err)
}

// diffBody is the answer of POST /v1/config/diff.
type diffBody struct {
	FromVersion uint64 `json:"from_version"`
	Added       int    `json:"added"`
	Removed     int    `json:"removed"`
	Changed     int    `json:"changed"`
	Changes     []struct {
		Kind   string `json:"kind"`
		Name   string `json:"name"`
		Op     string `json:"op"`
		Fields []struct {
			Path string `json:"path"`
			Old  any    `json:"old"`
			New  any    `json:"new"`
		} `json:"fields"`
	} `json:"changes"`
}

// cmdApply shows what the document changes and applies it, pinned with
// If-Match to the version the changes were computed against, so what was
// shown is exactly what was applied. A document that changes nothing is
// not applied.
func cmdApply(c *cli, args []string, stdin io.Reader) error {
	file := c.fs.String("f", "", "config file, YAML or JSON (- for stdin)")
	dryRun := c.fs.Bool("dry-run", false, "validate and show the changes; apply nothing")
	ifMatch := c.fs.Uint64("if-match", 0, "apply only if the config is still at this version")
	if err := c.parse(args, 0, 0); err != nil {
		return err
	}
	doc, ct, raw, d, err := c.diff("apply", *file, stdin)
	if err != nil {
		return err
	}
	base := d.FromVersion
	if *ifMatch != 0 {
		base = *ifMatch
	}
	out := map[string]any{"applied": false, "version": d.FromVersion, "diff": json.RawMessage(raw)}
	if len(d.Changes) > 0 && !*dryRun {
		var res struct{ Version uint64 }
		b, _, err := c.call(http.MethodPut, "/v1/config", doc, map[string]string{
			"Content-Type": ct, "If-Match": strconv.Quote(strconv.FormatUint(base, 10))})
		if err != nil {
			return fmt.Errorf("%w (the config changed since the diff was taken? run apply again)", err)
		}
		if err := json.Unmarshal(b, &res); err != nil {
			return fmt.Errorf("decode answer: %w", err)
		}
		out["applied"], out["version"] = true, res.Version
	}
	if c.output != "table" {
		b, _ := json.Marshal(out)
		return c.printRaw(b)
	}
	printDiff(c.stdout, d)
	switch {
	case len(d.Changes) == 0:
		fmt.Fprintf(c.stdout, "nothing to apply: the cluster is at version %d\n", d.FromVersion)
	case *dryRun:
		fmt.Fprintln(c.stdout, "dry run: the document is valid; nothing applied")
	default:
		fmt.Fprintf(c.stdout, "applied: version %d\n", out["version"])
	}
	return nil
}

func cmdDiff(c *cli, args []string, stdin io.Reader) error {
	file := c.fs.String("f", "", "config file, YAML or JSON (- for stdin)")
	if err := c.parse(args, 0, 0); err != nil {
		return err
	}
	_, _, raw, d, err := c.diff("diff", *file, stdin)
	if err != nil {
		return err
	}
	if c.output != "table" {
		return c.printRaw(raw)
	}
	printDiff(c.stdout, d)
	return nil
}

// diff reads the document in file (- for stdin) and asks the node what
// applying it would change. It returns the document, its content type,
// the raw answer and the decoded one.
func (c *cli) diff(cmd, file string, stdin io.Reader) (doc []byte, ct string, raw []byte, d diffBody, err error) {
	if file == "" {
		return nil, "", nil, d, usageError{cmd + " needs -f FILE"}
	}
	if doc, ct, err = readDocument(file, stdin); err != nil {
		return nil, "", nil, d, err
	}
	if raw, _, err = c.call(http.MethodPost, "/v1/config/diff", doc, map[string]string{"Content-Type": ct}); err != nil {
		return nil, "", nil, d, err
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		return nil, "", nil, d, fmt.Errorf("decode diff: %w", err)
	}
	return doc, ct, raw, d, nil
}

// cmdGet shows the config (YAML by default) or a kind of entity as a table.
func cmdGet(c *cli, args []string) error {
	consistent := c.fs.Bool("consistent", false, "read through the leader (?consistent=true)")
	if err := c.parse(args, 1, 2); err != nil {
		return err
	}
	q := ""
	if *consistent {
		q = "?consistent=true"
	}
	what := c.args[0]
	if what == "config" {
		if len(c.args) > 1 {
			return usageError{"get config takes no NAME"}
		}
		return c.getConfig(q)
	}
	t, ok := entityTableFor(what)
	if !ok {
		return usageError{fmt.Sprintf("cannot get %q: want config, services, routes, consumers, plugins or certificates", what)}
	}
	path := "/v1/" + t.plural
	if len(c.args) == 2 {
		path += "/" + url.PathEscape(c.args[1])
	}
	raw, _, err := c.call(http.MethodGet, path+q, nil, nil)
	if err != nil {
		return err
	}
	if c.output != "table" {
		return c.printRaw(raw)
	}
	var rows []map[string]any
	if len(c.args) == 2 {
		var one map[string]any
		err = json.Unmarshal(raw, &one)
		rows = []map[string]any{one}
	} else {
		var list map[string][]map[string]any
		err = json.Unmarshal(raw, &list)
		rows = list[t.plural]
	}
	if err != nil {
		return fmt.Errorf("decode answer: %w", err)
	}
	return t.print(c.stdout, rows)
}

func (c *cli) getConfig(q string) error {
	if c.output == "json" {
		raw, _, err := c.call(http.MethodGet, "/v1/config"+q, nil, nil)
		if err != nil {
			return err
		}
		return c.printRaw(raw)
	}
	sep := "?"
	if q != "" {
		sep = "&"
	}
	raw, _, err := c.call(http.MethodGet, "/v1/config"+q+sep+"format=yaml", nil, nil)
	if err != nil {
		return err
	}
	_, err = c.stdout.Write(raw)
	return err
}

// clusterBody is the answer of GET /v1/cluster.
type clusterBody struct {
	NodeID   string `json:"node_id"`
	State    string `json:"state"`
	LeaderID string `json:"leader_id"`
	Members  []struct {
		ID            string `json:"id"`
		RaftAddr      string `json:"raft_addr"`
		AdminAddr     string `json:"admin_addr"`
		Suffrage      string `json:"suffrage"`
		Gossip        string `json:"gossip"`
		ConfigVersion uint64 `json:"config_version"`
		Leader        bool   `json:"leader"`
	} `json:"members"`
}

func cmdMembers(c *cli, args []string) error {
	force := c.fs.Bool("force", false, "with remove: remove even a node gossip sees alive")
	if err := c.parse(args, 0, 2); err != nil {
		return err
	}
	if len(c.args) > 0 {
		if c.args[0] != "remove" || len(c.args) != 2 {
			return usageError{"usage: tollgate members [remove ID]"}
		}
		return c.removeMember(c.args[1], *force)
	}
	var st clusterBody
	raw, err := c.getJSON("/v1/cluster", &st)
	if err != nil {
		return err
	}
	if c.output != "table" {
		return c.printRaw(raw)
	}
	tw := newTable(c.stdout, "ID", "LEADER", "SUFFRAGE", "GOSSIP", "VERSION", "RAFT", "ADMIN")
	for _, m := range st.Members {
		leader := ""
		if m.Leader {
			leader = "*"
		}
		tw.row(m.ID, leader, m.Suffrage, m.Gossip, m.ConfigVersion, m.RaftAddr, m.AdminAddr)
	}
	return tw.flush()
}

func (c *cli) removeMember(id string, force bool) error {
	path := "/v1/cluster/members/" + url.PathEscape(id)
	if force {
		path += "?force=true"
	}
	raw, _, err := c.call(http.MethodDelete, path, nil, nil)
	if err != nil {
		return err
	}
	if c.output != "table" {
		return c.printRaw(raw)
	}
	fmt.Fprintf(c.stdout, "removed %s from the raft configuration\n", id)
	return nil
}

func cmdHistory(c *cli, args []string) error {
	limit := c.fs.Int("limit", 0, "show only the newest N versions")
	if err := c.parse(args, 0, 0); err != nil {
		return err
	}
	var h struct {
		Versions []struct {
			Version uint64 `json:"version"`
			Time    string `json:"time"`
			Author  string `json:"author"`
			Summary string `json:"summary"`
		} `json:"versions"`
	}
	raw, err := c.getJSON("/v1/config/history?limit="+strconv.Itoa(*limit), &h)
	if err != nil {
		return err
	}
	if c.output != "table" {
		return c.printRaw(raw)
	}
	tw := newTable(c.stdout, "VERSION", "TIME", "AUTHOR", "SUMMARY")
	for _, v := range h.Versions {
		tw.row(v.Version, shortTime(v.Time), v.Author, v.Summary)
	}
	return tw.flush()
}

func cmdRollback(c *cli, args []string) error {
	dryRun := c.fs.Bool("dry-run", false, "validate and show the changes; apply nothing")
	if err := c.parse(args, 1, 1); err != nil {
		return err
	}
	v, err := strconv.ParseUint(c.args[0], 10, 64)
	if err != nil || v == 0 {
		return usageError{fmt.Sprintf("rollback: %q is not a version number", c.args[0])}
	}
	path := "/v1/config/rollback"
	if *dryRun {
		path += "?dry_run=true"
	}
	body, _ := json.Marshal(map[string]uint64{"version": v})
	raw, _, err := c.call(http.MethodPost, path, body, nil)
	if err != nil {
		return err
	}
	if c.output != "table" {
		return c.printRaw(raw)
	}
	if *dryRun {
		var dr struct{ Diff diffBody }
		if err := json.Unmarshal(raw, &dr); err != nil {
			return fmt.Errorf("decode answer: %w", err)
		}
		printDiff(c.stdout, dr.Diff)
		fmt.Fprintln(c.stdout, "dry run: nothing applied")
		return nil
	}
	var res struct{ Version uint64 }
	if err := json.Unmarshal(raw, &res); err != nil {
		return fmt.Errorf("decode answer: %w", err)
	}
	fmt.Fprintf(c.stdout, "rolled back to version %d: the config is now version %d\n", v, res.Version)
	return nil
}

func cmdRouteMatch(c *cli, args []string) error {
	if err := c.parse(args, 3, 3); err != nil {
		return err
	}
	q := url.Values{"method": {c.args[0]}, "host": {c.args[1]}, "path": {c.args[2]}}
	var m struct {
		Matched bool   `json:"matched"`
		Route   string `json:"route"`
		Service string `json:"service"`
	}
	raw, err := c.getJSON("/v1/routes/match?"+q.Encode(), &m)
	if err != nil {
		return err
	}
	if c.output != "table" {
		return c.printRaw(raw)
	}
	if !m.Matched {
		fmt.Fprintln(c.stdout, "no route matches")
		return nil
	}
	tw := newTable(c.stdout, "ROUTE", "SERVICE")
	tw.row(m.Route, m.Service)
	return tw.flush()
}

// shortTime shows an RFC 3339 time to the second, in UTC.
func shortTime(s string) string {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return s
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}
