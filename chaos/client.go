package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// clusterStatus is the part of GET /v1/cluster the harness reads.
type clusterStatus struct {
	NodeID   string `json:"node_id"`
	State    string `json:"state"`
	Term     uint64 `json:"term"`
	LeaderID string `json:"leader_id"`
	Members  []struct {
		ID            string `json:"id"`
		Suffrage      string `json:"suffrage"`
		Gossip        string `json:"gossip"`
		ConfigVersion uint64 `json:"config_version"`
	} `json:"members"`
}

// version is the config version this node reports serving.
func (s clusterStatus) version() uint64 {
	for _, m := range s.Members {
		if m.ID == s.NodeID {
			return m.ConfigVersion
		}
	}
	return 0
}

// adminClient talks to the admin API of any node, with a bearer token
// when one is set.
type adminClient struct {
	hc    *http.Client
	token string
}

func newAdminClient(token string) *adminClient {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 8
	return &adminClient{hc: &http.Client{Transport: tr}, token: token}
}

func (c *adminClient) close() { c.hc.CloseIdleConnections() }

// do sends one request bounded by timeout and returns status and body.
func (c *adminClient) do(ctx context.Context, method, url string, body []byte, timeout time.Duration) (int, []byte, http.Header, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("build request: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return resp.StatusCode, nil, resp.Header, fmt.Errorf("read %s %s: %w", method, url, err)
	}
	return resp.StatusCode, b, resp.Header, nil
}

func (c *adminClient) status(ctx context.Context, n Node, timeout time.Duration) (clusterStatus, error) {
	var s clusterStatus
	code, body, _, err := c.do(ctx, http.MethodGet, n.Admin+"/v1/cluster", nil, timeout)
	if err != nil {
		return s, err
	}
	if code != http.StatusOK {
		return s, fmt.Errorf("GET /v1/cluster on %s: status %d", n.ID, code)
	}
	if err := json.Unmarshal(body, &s); err != nil {
		return s, fmt.Errorf("decode /v1/cluster from %s: %w", n.ID, err)
	}
	return s, nil
}

// putResult is the outcome of one config write.
type putResult struct {
	Status  int
	Version uint64
	Err     error
}

func (c *adminClient) putConfig(ctx context.Context, n Node, doc []byte, timeout time.Duration) putResult {
	code, body, _, err := c.do(ctx, http.MethodPut, n.Admin+"/v1/config", doc, timeout)
	if err != nil {
		return putResult{Err: err}
	}
	if code != http.StatusOK {
		return putResult{Status: code, Err: fmt.Errorf("status %d: %s", code, strings.TrimSpace(string(body)))}
	}
	var v struct {
		Version uint64 `json:"version"`
	}
	if err := json.Unmarshal(body, &v); err != nil || v.Version == 0 {
		return putResult{Status: code, Err: fmt.Errorf("PUT answer without a version: %s", body)}
	}
	return putResult{Status: code, Version: v.Version}
}

// configView is a config document as far as the harness reads it.
type configView struct {
	// Consistent: the node confirmed a linearizable read.
	Consistent bool   `json:"-"`
	Version    uint64 `json:"version"`
	Routes     []struct {
		Name string `json:"name"`
	} `json:"routes"`
}

// marker returns the chaos marker route's name, or "".
func (c configView) marker() string {
	for _, r := range c.Routes {
		if strings.HasPrefix(r.Name, markerPrefix) {
			return r.Name
		}
	}
	return ""
}

// getConfig reads node n's config. With consistent set it asks for a
// linearizable read (?consistent=true); Consistent in the answer says
// whether the node confirmed one (X-Tollgate-Consistent: true).
func (c *adminClient) getConfig(ctx context.Context, n Node, consistent bool, timeout time.Duration) (configView, error) {
	var v configView
	url := n.Admin + "/v1/config"
	if consistent {
		url += "?consistent=true"
	}
	code, body, hdr, err := c.do(ctx, http.MethodGet, url, nil, timeout)
	if err != nil {
		return v, err
	}
	if code != http.StatusOK {
		return v, fmt.Errorf("GET /v1/config on %s: status %d", n.ID, code)
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return v, fmt.Errorf("decode /v1/config from %s: %w", n.ID, err)
	}
	v.Consistent = consistent && hdr.Get("X-Tollgate-Consistent") == "true"
	return v, nil
}

// healthy reports whether node n's admin API answers.
func (c *adminClient) healthy(ctx context.Context, n Node) bool {
	code, _, _, err := c.do(ctx, http.MethodGet, n.Admin+"/v1/healthz", nil, time.Second)
	return err == nil && code == http.StatusOK
}

// waitAgreedLeader waits until every node answers and names the same leader.
func waitAgreedLeader(ctx context.Context, c *adminClient, nodes []Node, d time.Duration) error {
	err := pollUntil(ctx, d, 100*time.Millisecond, func() bool {
		_, ok := agreedLeader(ctx, c, nodes)
		return ok
	})
	if err != nil {
		return fmt.Errorf("%w: no leader every node agrees on: %w", errNotReady, err)
	}
	return nil
}

// agreedLeader returns the leader id every node names, if they agree.
func agreedLeader(ctx context.Context, c *adminClient, nodes []Node) (string, bool) {
	leader := ""
	for _, n := range nodes {
		s, err := c.status(ctx, n, 2*time.Second)
		if err != nil || s.LeaderID == "" || (leader != "" && s.LeaderID != leader) {
			return "", false
		}
		leader = s.LeaderID
	}
	return leader, leader != ""
}

// pollUntil calls cond every interval until it holds, d passes or ctx ends.
func pollUntil(ctx context.Context, d, interval time.Duration, cond func() bool) error {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			return fmt.Errorf("timed out after %s", d)
		case <-tick.C:
		}
	}
	return nil
}

// markerPrefix starts the name of the route that marks a chaos write.
const markerPrefix = "chaos-mark-"

// markerName is the marker of write number id.
func markerName(id int) string { return markerPrefix + strconv.Itoa(id) }
