package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"sigs.k8s.io/yaml"
)

// Exit codes of the CLI subcommands.
const (
	exitOK       = 0
	exitError    = 1 // the request failed, or the server said no
	exitUsage    = 2 // bad command line
	exitConflict = 3 // 409 Conflict or 412 Precondition Failed: retry after re-reading
)

// defaultAdminAddr is the admin API a CLI command talks to by default.
const defaultAdminAddr = "127.0.0.1:8081"

// cli is one CLI invocation: its flags, output streams and API client.
type cli struct {
	name           string
	fs             *flag.FlagSet
	stdout, stderr io.Writer
	addr, token    string
	output         string
	timeout        time.Duration
	args           []string // positional arguments
}

// usageError is a bad command line: exit code 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// apiError is an error answer of the admin API.
type apiError struct {
	Status  int
	Code    string `json:"code"`
	Message string `json:"message"`
	Fields  []struct {
		Path    string `json:"path"`
		Message string `json:"message"`
	} `json:"fields"`
}

func (e *apiError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d %s: %s", e.Status, e.Code, e.Message)
	for _, f := range e.Fields {
		if f.Path != "" {
			fmt.Fprintf(&b, "\n  %s: %s", f.Path, f.Message)
		}
	}
	return b.String()
}

// newCLI prepares the common flags of a subcommand: --addr, --token, -o,
// --timeout. The address and token default to TOLLGATE_ADDR and
// TOLLGATE_TOKEN.
func newCLI(name, usage string, stdout, stderr io.Writer) *cli {
	c := &cli{name: name, fs: flag.NewFlagSet(name, flag.ContinueOnError), stdout: stdout, stderr: stderr}
	c.fs.SetOutput(stderr)
	addr := os.Getenv("TOLLGATE_ADDR")
	if addr == "" {
		addr = defaultAdminAddr
	}
	c.fs.StringVar(&c.addr, "addr", addr, "admin API address of any node, host:port or URL (env TOLLGATE_ADDR)")
	c.fs.StringVar(&c.token, "token", os.Getenv("TOLLGATE_TOKEN"), "admin API bearer token (env TOLLGATE_TOKEN)")
	c.fs.StringVar(&c.output, "o", "table", "output: table, json or yaml")
	c.fs.DurationVar(&c.timeout, "timeout", 30*time.Second, "how long to wait for the API")
	c.fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: tollgate %s\n\nFlags:\n", usage)
		c.fs.PrintDefaults()
	}
	return c
}

// parse parses flags anywhere among the positional arguments and checks
// their count is between min and max (max < 0: any).
func (c *cli) parse(args []string, min, max int) error {
	for {
		if err := c.fs.Parse(args); err != nil {
			return err
		}
		if c.fs.NArg() == 0 {
			break
		}
		c.args = append(c.args, c.fs.Arg(0))
		args = c.fs.Args()[1:]
	}
	switch {
	case len(c.args) < min || (max >= 0 && len(c.args) > max):
		c.fs.Usage()
		return usageError{fmt.Sprintf("%s: wrong number of arguments", c.name)}
	case c.output != "table" && c.output != "json" && c.output != "yaml":
		return usageError{fmt.Sprintf("-o must be table, json or yaml, not %q", c.output)}
	}
	return nil
}

// exit reports err and returns the exit code it maps to.
func (c *cli) exit(err error) int {
	if err == nil {
		return exitOK
	}
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	fmt.Fprintf(c.stderr, "tollgate %s: %v\n", c.name, err)
	var ue usageError
	var ae *apiError
	switch {
	case errors.As(err, &ue):
		return exitUsage
	case errors.As(err, &ae) && (ae.Status == http.StatusConflict || ae.Status == http.StatusPreconditionFailed):
		return exitConflict
	}
	return exitError
}

// baseURL is the admin API's base URL.
func (c *cli) baseURL() string {
	a := strings.TrimRight(c.addr, "/")
	if !strings.Contains(a, "://") {
		a = "http://" + a
	}
	return a
}

// call sends a request to the admin API and returns the body of a 2xx
// answer, or an *apiError.
func (c *cli) call(method, path string, body []byte, header map[string]string) ([]byte, http.Header, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, c.baseURL()+path, rd)
	if err != nil {
		return nil, nil, fmt.Errorf("build request: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	hc := http.Client{Timeout: c.timeout}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("admin API at %s: %w", c.addr, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, nil, fmt.Errorf("read answer: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		return nil, resp.Header, decodeAPIError(resp.StatusCode, b)
	}
	return b, resp.Header, nil
}

func decodeAPIError(status int, body []byte) error {
	var e struct {
		Error apiError `json:"error"`
	}
	if err := json.Unmarshal(body, &e); err != nil || e.Error.Code == "" {
		return &apiError{Status: status, Code: http.StatusText(status), Message: strings.TrimSpace(string(body))}
	}
	e.Error.Status = status
	return &e.Error
}

// getJSON calls GET path and decodes the answer into v.
func (c *cli) getJSON(path string, v any) ([]byte, error) {
	b, _, err := c.call(http.MethodGet, path, nil, nil)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return nil, fmt.Errorf("decode answer of %s: %w", path, err)
	}
	return b, nil
}

// printRaw writes an API answer as JSON or YAML (for -o json|yaml).
func (c *cli) printRaw(body []byte) error {
	if c.output == "yaml" {
		y, err := yaml.JSONToYAML(body)
		if err != nil {
			return fmt.Errorf("convert to YAML: %w", err)
		}
		_, err = c.stdout.Write(y)
		return err
	}
	var out bytes.Buffer
	if err := json.Indent(&out, body, "", "  "); err != nil {
		_, err = c.stdout.Write(body)
		return err
	}
	out.WriteByte('\n')
	_, err := out.WriteTo(c.stdout)
	return err
}

// readDocument reads a config file ("-" is stdin) and its content type:
// YAML unless the name ends in .json or the content starts with '{'.
func readDocument(path string, stdin io.Reader) ([]byte, string, error) {
	var (
		b   []byte
		err error
	)
	if path == "-" {
		b, err = io.ReadAll(stdin)
	} else {
		b, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, "", fmt.Errorf("read %s: %w", path, err)
	}
	ct := "application/yaml"
	if strings.HasSuffix(path, ".json") || strings.HasPrefix(strings.TrimSpace(string(b)), "{") {
		ct = "application/json"
	}
	return b, ct, nil
}
