package admin

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/tollgate/tollgate/store"
)

// versionView is a kept version as the API shows it.
type versionView struct {
	Version    uint64            `json:"version"`
	Time       time.Time         `json:"time"`
	Author     string            `json:"author,omitempty"`
	Summary    string            `json:"summary,omitempty"`
	Changes    []store.ChangeRef `json:"changes,omitempty"`
	RollbackOf uint64            `json:"rollback_of,omitempty"`
	Config     *configView       `json:"config,omitempty"`
}

func viewVersion(v store.Version) versionView {
	out := versionView{Version: v.Version, Time: v.Time, Author: v.Author, Summary: v.Summary,
		Changes: v.Changes, RollbackOf: v.RollbackOf}
	if v.Config != nil {
		cv := viewConfig(v.Config)
		out.Config = &cv
	}
	return out
}

// getHistory lists the kept versions, newest first, with time, author and
// a summary of changes; ?limit=N keeps the newest N.
func (s *Server) getHistory(w http.ResponseWriter, r *http.Request) {
	limit := 0
	if l := r.URL.Query().Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 0 {
			writeError(w, r, http.StatusBadRequest, codeBadRequest, fmt.Errorf("limit must be a non-negative number, not %q", l))
			return
		}
		limit = n
	}
	if _, err := s.read(w, r); err != nil {
		fail(w, r, err)
		return
	}
	hist, err := s.deps.History.HistorySummaries()
	if err != nil {
		writeError(w, r, http.StatusInternalServerError, codeInternal, err)
		return
	}
	if limit > 0 && len(hist) > limit {
		hist = hist[:limit]
	}
	out := []versionView{}
	for _, v := range hist {
		out = append(out, viewVersion(v))
	}
	writeJSON(w, http.StatusOK, map[string]any{"versions": out})
}

// lookupVersion returns the kept entry of version v, or a 404 error.
func (s *Server) lookupVersion(v uint64) (*store.Version, error) {
	e, err := s.deps.History.VersionAt(v)
	if errors.Is(err, store.ErrVersionNotKept) {
		return nil, newAPIError(http.StatusNotFound, codeNotFound, err)
	}
	if err != nil {
		return nil, newAPIError(http.StatusInternalServerError, codeInternal, err)
	}
	return e, nil
}

func (s *Server) getVersion(w http.ResponseWriter, r *http.Request) {
	v, err := strconv.ParseUint(r.PathValue("version"), 10, 64)
	if err != nil {
		writeError(w, r, http.StatusBadRequest, codeBadRequest, fmt.Errorf("version must be a number, not %q", r.PathValue("version")))
		return
	}
	if _, err := s.read(w, r); err != nil {
		fail(w, r, err)
		return
	}
	e, err := s.lookupVersion(v)
	if err != nil {
		fail(w, r, err)
		return
	}
	writeFormatted(w, r, viewVersion(*e))
}

// rollbackRequest is the body of POST /v1/config/rollback.
type rollbackRequest struct {
	Version uint64 `json:"version"`
}

// rollback makes a new version whose document equals a kept older one.
// Admin tokens are not rolled back: a revoked token stays revoked.
func (s *Server) rollback(w http.ResponseWriter, r *http.Request) {
	var req rollbackRequest
	if err := decodeEntity(w, r, &req); err != nil {
		fail(w, r, err)
		return
	}
	if req.Version == 0 {
		fail(w, r, fieldError("version", "is required"))
		return
	}
	old, err := s.lookupVersion(req.Version)
	if err != nil {
		fail(w, r, err)
		return
	}
	res, err := s.write(r, func(cur, next *store.Config) error {
		*next = *old.Config.Clone()
		next.Version = cur.Version
		next.AdminTokens = cur.AdminTokens
		return nil
	}, writeOpts{rollbackOf: req.Version})
	if err != nil {
		fail(w, r, err)
		return
	}
	respondWrite(w, res, http.StatusOK, map[string]uint64{"version": res.version, "rollback_of": req.Version})
}
