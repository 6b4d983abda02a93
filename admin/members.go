package admin

import (
	"fmt"
	"net/http"
)

// removeMember removes a dead node from Raft. A node gossip still sees as
// alive is refused with 409 (the leader would add it straight back)
// unless ?force=true; ?dry_run=true only checks.
func (s *Server) removeMember(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	force, err := queryBool(r, "force")
	if err == nil {
		err = s.checkRemovable(id, force)
	}
	dryRun := false
	if err == nil {
		dryRun, err = queryBool(r, "dry_run")
	}
	if err != nil {
		fail(w, r, err)
		return
	}
	if dryRun {
		writeJSON(w, http.StatusOK, map[string]any{"dry_run": true, "id": id})
		return
	}
	if err := s.deps.Members.RemoveMember(r.Context(), id); err != nil {
		fail(w, r, err)
		return
	}
	s.log.Info("removed raft member", "id", id, "by", author(r))
	writeJSON(w, http.StatusOK, map[string]string{"removed": id})
}

// checkRemovable answers 404 for an id that is not a Raft member and 409
// for one that gossip sees alive, unless force.
func (s *Server) checkRemovable(id string, force bool) error {
	for _, m := range s.deps.Cluster.Status().Members {
		if m.ID != id {
			continue
		}
		if m.Suffrage == "none" {
			break
		}
		if !force && (m.Gossip == "alive" || m.Gossip == "suspect") {
			return newAPIError(http.StatusConflict, codeConflict,
				fmt.Errorf("member %q is %s in gossip; stop it first (the leader re-adds live nodes), or pass ?force=true", id, m.Gossip))
		}
		return nil
	}
	return newAPIError(http.StatusNotFound, codeNotFound, fmt.Errorf("no raft member %q", id))
}
