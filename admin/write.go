package admin

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tollgate/tollgate/store"
)

// maxWriteAttempts bounds how often a write without If-Match is retried
// when concurrent writers keep changing the version under it.
const maxWriteAttempts = 8

// mutation changes next, a private copy of the current config, in place.
type mutation func(cur, next *store.Config) error

// writeResult is the outcome of a write or a dry run.
type writeResult struct {
	prev    *store.Config // the config the mutation was applied to
	next    *store.Config // the document written (Version not yet set)
	version uint64        // the new version; prev.Version on a dry run
	dryRun  bool
}

// writeOpts tunes a write.
type writeOpts struct {
	rollbackOf uint64
}

// write is every config change: read the current config, apply mutate
// to a copy, validate, and commit it as one put_config command that is
// compare-and-set on the version read. A version mismatch caused by a
// concurrent writer is retried, unless the client pinned the version with
// If-Match, which then answers 412. With ?dry_run=true nothing is
// committed.
func (s *Server) write(r *http.Request, mutate mutation, opts writeOpts) (writeResult, error) {
	ifMatch, err := parseIfMatch(r.Header.Get("If-Match"))
	if err != nil {
		return writeResult{}, newAPIError(http.StatusBadRequest, codeBadRequest, err)
	}
	dryRun, err := queryBool(r, "dry_run")
	if err != nil {
		return writeResult{}, err
	}
	for attempt := 1; ; attempt++ {
		cur, err := s.writeBase(r, ifMatch)
		if err != nil {
			return writeResult{}, err
		}
		next := cur.Clone()
		if err := mutate(cur, next); err != nil {
			return writeResult{}, err
		}
		if err := next.Validate(); err != nil {
			return writeResult{}, newAPIError(http.StatusBadRequest, codeInvalidConfig, err)
		}
		if dryRun {
			return writeResult{prev: cur, next: next, version: cur.Version, dryRun: true}, nil
		}
		base := cur.Version
		cmd := store.Command{Type: store.CmdPutConfig, IfVersion: &base, Config: next,
			Time: time.Now().UTC(), Author: author(r), RollbackOf: opts.rollbackOf}
		version, err := s.commit(r, cmd)
		if errors.Is(err, store.ErrVersionMismatch) && ifMatch == nil {
			if attempt < maxWriteAttempts {
				continue
			}
			return writeResult{}, newAPIError(http.StatusConflict, codeConflict,
				fmt.Errorf("the config changed under %d attempts of this write; try again: %w", attempt, err))
		}
		if err != nil {
			return writeResult{}, err
		}
		return writeResult{prev: cur, next: next, version: version}, nil
	}
}

// writeBase returns the config a write starts from. With If-Match it must
// be that version: a local config behind it is brought up to date with a
// consistent read first (this node may lag the leader).
func (s *Server) writeBase(r *http.Request, ifMatch *uint64) (*store.Config, error) {
	cur := s.deps.Config.Current()
	if ifMatch == nil || *ifMatch == cur.Version {
		return cur, nil
	}
	if *ifMatch > cur.Version {
		if err := s.deps.Reads.ConsistentRead(r.Context()); err != nil {
			return nil, err
		}
		cur = s.deps.Config.Current()
	}
	if *ifMatch != cur.Version {
		return nil, newAPIError(http.StatusPreconditionFailed, codeVersionMismatch,
			fmt.Errorf("%w: If-Match names version %d, current is %d", store.ErrVersionMismatch, *ifMatch, cur.Version))
	}
	return cur, nil
}

// commit replicates cmd and returns the new version or the FSM's error.
func (s *Server) commit(r *http.Request, cmd store.Command) (uint64, error) {
	data, err := cmd.Encode()
	if err != nil {
		return 0, newAPIError(http.StatusInternalServerError, codeInternal, err)
	}
	res, err := s.deps.Applier.Apply(r.Context(), data)
	if err != nil {
		s.log.Warn("config write failed", "err", err, "request_id", requestID(r))
		return 0, err
	}
	return store.DecodeResult(res)
}

// dryRunBody is the answer to a write with ?dry_run=true.
type dryRunBody struct {
	DryRun  bool       `json:"dry_run"`
	Valid   bool       `json:"valid"`
	Version uint64     `json:"version"`
	Diff    store.Diff `json:"diff"`
}

// respondWrite answers a write: the dry-run report, or status with body
// and the new version in ETag and X-Tollgate-Version. A nil body answers
// 204 No Content.
func respondWrite(w http.ResponseWriter, res writeResult, status int, body any) {
	setVersionHeaders(w, res.version)
	if res.dryRun {
		writeJSON(w, http.StatusOK, dryRunBody{DryRun: true, Valid: true, Version: res.version,
			Diff: store.DiffConfigs(res.prev, res.next)})
		return
	}
	if body == nil {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	writeJSON(w, status, body)
}

func setVersionHeaders(w http.ResponseWriter, v uint64) {
	w.Header().Set("ETag", strconv.Quote(strconv.FormatUint(v, 10)))
	w.Header().Set("X-Tollgate-Version", strconv.FormatUint(v, 10))
}

// parseIfMatch reads an If-Match header holding one config version,
// quoted or not. An empty header means an unconditional write.
func parseIfMatch(h string) (*uint64, error) {
	h = strings.TrimSpace(h)
	if h == "" || h == "*" {
		return nil, nil
	}
	h = strings.TrimPrefix(h, "W/")
	v, err := strconv.ParseUint(strings.Trim(h, `"`), 10, 64)
	if err != nil {
		return nil, errBadIfMatch
	}
	return &v, nil
}
