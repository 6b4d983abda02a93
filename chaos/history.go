package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// keptVersions asks the cluster which versions it kept, with each one's
// marker. It uses GET /v1/config/history when a node serves it (entries
// with their config, or else GET /v1/config/versions/{v} for each), and
// otherwise falls back to the final config alone.
func keptVersions(ctx context.Context, c *adminClient, nodes []Node) (map[uint64]string, bool, string, error) {
	for _, n := range nodes {
		code, body, _, err := c.do(ctx, http.MethodGet, n.Admin+"/v1/config/history", nil, 5*time.Second)
		if err != nil || code != http.StatusOK {
			continue
		}
		entries, err := decodeHistory(body)
		if err != nil {
			continue
		}
		kept, err := fillMarkers(ctx, c, n, entries)
		if err != nil {
			return nil, false, "", err
		}
		return kept, true, "GET /v1/config/history on " + n.ID, nil
	}
	for _, n := range nodes {
		v, err := c.getConfig(ctx, n, false, 5*time.Second)
		if err == nil {
			return map[uint64]string{v.Version: v.marker()}, false,
				"the final config (no /v1/config/history; reads fill the gaps)", nil
		}
	}
	return nil, false, "", fmt.Errorf("read the final config: %w", errNodeDown)
}

// historyEntry is one version in a history listing, in any of the shapes
// the endpoint might take: with the config inline or not.
type historyEntry struct {
	Version uint64      `json:"version"`
	Config  *configView `json:"config,omitempty"`
}

// decodeHistory accepts a bare list of entries or an object holding the
// list under "history", "versions", "items" or "entries".
func decodeHistory(body []byte) ([]historyEntry, error) {
	var list []historyEntry
	if err := json.Unmarshal(body, &list); err == nil {
		return list, nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(body, &obj); err != nil {
		return nil, fmt.Errorf("decode history: %w", err)
	}
	for _, k := range []string{"history", "versions", "items", "entries"} {
		if raw, ok := obj[k]; ok {
			if err := json.Unmarshal(raw, &list); err != nil {
				return nil, fmt.Errorf("decode history %q: %w", k, err)
			}
			return list, nil
		}
	}
	return nil, fmt.Errorf("decode history: no list of versions in %.80s", body)
}

// fillMarkers returns version → marker, fetching versions whose entry
// has no config inline.
func fillMarkers(ctx context.Context, c *adminClient, n Node, entries []historyEntry) (map[uint64]string, error) {
	kept := make(map[uint64]string, len(entries))
	for _, e := range entries {
		if e.Version == 0 {
			continue
		}
		if e.Config != nil && len(e.Config.Routes) > 0 {
			kept[e.Version] = e.Config.marker()
			continue
		}
		m, err := versionMarker(ctx, c, n, e.Version)
		if err != nil {
			return nil, err
		}
		kept[e.Version] = m
	}
	return kept, nil
}

func versionMarker(ctx context.Context, c *adminClient, n Node, v uint64) (string, error) {
	url := n.Admin + "/v1/config/versions/" + strconv.FormatUint(v, 10)
	code, body, _, err := c.do(ctx, http.MethodGet, url, nil, 5*time.Second)
	if err != nil {
		return "", fmt.Errorf("GET version %d: %w", v, err)
	}
	if code != http.StatusOK {
		return "", fmt.Errorf("GET version %d: status %d", v, code)
	}
	var wrapped struct {
		Config *configView `json:"config"`
	}
	if json.Unmarshal(body, &wrapped) == nil && wrapped.Config != nil {
		return wrapped.Config.marker(), nil
	}
	var cv configView
	if err := json.Unmarshal(body, &cv); err != nil {
		return "", fmt.Errorf("decode version %d: %w", v, err)
	}
	return cv.marker(), nil
}
