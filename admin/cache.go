package admin

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// CachePurger drops this node's cached responses (the cache plugin's
// registry). It is optional: without it the cache endpoints answer 501.
type CachePurger interface {
	// PurgeAll drops every cached response and returns how many keys.
	PurgeAll() int
	// PurgeRoute drops the responses cached for a route.
	PurgeRoute(route string) int
	// PurgeKey drops one request target ("/p?q=1" exactly, or "/p" with
	// any query) of route, or of every route when route is "".
	PurgeKey(route, target string) int
}

// peerPurgeTimeout bounds each peer's part of a cluster-wide purge.
const peerPurgeTimeout = 3 * time.Second

// purgeResult is one node's part of a purge.
type purgeResult struct {
	Node   string `json:"node"`
	Purged int    `json:"purged"`
	Error  string `json:"error,omitempty"`
}

// purgeCache handles POST /v1/cache/purge?route=&key=[&local=true]. Each
// node caches on its own, so the node that takes the call purges its
// cache and then asks every other live member's admin API to purge
// theirs (with ?local=true and the caller's credentials). The answer
// lists each node's count; complete is false when a peer could not be
// reached, and the purge can simply be repeated.
func (s *Server) purgeCache(w http.ResponseWriter, r *http.Request) {
	if s.deps.Cache == nil {
		writeError(w, r, http.StatusNotImplemented, codeNotImplemented, errNoCache)
		return
	}
	q := r.URL.Query()
	local, err := queryBool(r, "local")
	if err != nil {
		fail(w, r, err)
		return
	}
	route, key := q.Get("route"), q.Get("key")
	self := s.deps.Cluster.Status().NodeID
	results := []purgeResult{{Node: self, Purged: s.purgeLocal(route, key)}}
	if !local {
		results = append(results, s.purgePeers(r, self)...)
	}
	total, complete := 0, true
	for _, res := range results {
		total += res.Purged
		complete = complete && res.Error == ""
	}
	s.log.Info("cache purged", "route", route, "key", key, "local", local, "purged", total, "by", author(r))
	writeJSON(w, http.StatusOK, map[string]any{"purged": total, "complete": complete, "nodes": results})
}

func (s *Server) purgeLocal(route, key string) int {
	switch {
	case key != "":
		return s.deps.Cache.PurgeKey(route, key)
	case route != "":
		return s.deps.Cache.PurgeRoute(route)
	}
	return s.deps.Cache.PurgeAll()
}

// purgePeers asks every other live member with a known admin address to
// purge locally, in parallel.
func (s *Server) purgePeers(r *http.Request, self string) []purgeResult {
	q := r.URL.Query()
	q.Set("local", "true")
	var (
		mu  sync.Mutex
		out []purgeResult
		wg  sync.WaitGroup
	)
	for _, m := range s.deps.Cluster.Status().Members {
		if m.ID == self || m.Gossip != "alive" {
			continue
		}
		if m.AdminAddr == "" {
			out = append(out, purgeResult{Node: m.ID, Error: "admin address unknown"})
			continue
		}
		target := (&url.URL{Scheme: "http", Host: m.AdminAddr, Path: "/v1/cache/purge", RawQuery: q.Encode()}).String()
		wg.Go(func() {
			res := purgePeer(r.Context(), target, r.Header.Get("Authorization"))
			res.Node = m.ID
			mu.Lock()
			out = append(out, res)
			mu.Unlock()
		})
	}
	wg.Wait()
	return out
}

// purgePeer calls one peer's purge endpoint.
func purgePeer(ctx context.Context, target, authorization string) purgeResult {
	ctx, cancel := context.WithTimeout(ctx, peerPurgeTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, nil)
	if err != nil {
		return purgeResult{Error: err.Error()}
	}
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return purgeResult{Error: err.Error()}
	}
	defer resp.Body.Close()
	var body struct {
		Purged int `json:"purged"`
	}
	if resp.StatusCode != http.StatusOK {
		return purgeResult{Error: fmt.Sprintf("answered %s", resp.Status)}
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return purgeResult{Error: fmt.Errorf("reading the answer: %w", err).Error()}
	}
	return purgeResult{Purged: body.Purged}
}
