package admin

import (
	"net/http"
	"strconv"

	"github.com/tollgate/tollgate/store"
)

// Read headers: every read carries the version it shows and how stale
// this node may be.
const (
	headerVersion     = "X-Tollgate-Version"
	headerLastContact = "X-Tollgate-Last-Contact" // ms since the leader was last heard; 0 on the leader
	headerKnownLeader = "X-Tollgate-Known-Leader"
	headerConsistent  = "X-Tollgate-Consistent"
)

// read returns the config a read request sees. Reads are local by
// default; with ?consistent=true this node first catches up with
// everything the leader has committed (see cluster.Node.ConsistentRead).
// The version and staleness headers are set either way.
func (s *Server) read(w http.ResponseWriter, r *http.Request) (*store.Config, error) {
	consistent, err := queryBool(r, "consistent")
	if err != nil {
		return nil, err
	}
	if consistent {
		if err := s.deps.Reads.ConsistentRead(r.Context()); err != nil {
			return nil, err
		}
		w.Header().Set(headerConsistent, "true")
	}
	cfg := s.deps.Config.Current()
	setVersionHeaders(w, cfg.Version)
	s.setStaleness(w)
	return cfg, nil
}

// setStaleness sets the staleness headers of a local read.
func (s *Server) setStaleness(w http.ResponseWriter) {
	last, known := s.deps.Reads.ReadStaleness()
	if last >= 0 {
		w.Header().Set(headerLastContact, strconv.FormatInt(last.Milliseconds(), 10))
	}
	w.Header().Set(headerKnownLeader, strconv.FormatBool(known))
}
