package admin

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tollgate/tollgate/cluster"
	"github.com/tollgate/tollgate/store"
	"sigs.k8s.io/yaml"
)

// Sentinel errors of the admin API.
var (
	errNotFound      = errors.New("no such endpoint")
	errNoConfig      = errors.New("the data plane has no config yet")
	errBadIfMatch    = errors.New("If-Match must be a config version, like \"7\"")
	errUnsupported   = errors.New("Content-Type must be application/json or application/yaml")
	errBodyTooLarge  = fmt.Errorf("body exceeds %d bytes", store.MaxDocumentBytes)
	errUnknownFormat = errors.New("format must be json or yaml")
)

func setVersionHeaders(w http.ResponseWriter, v uint64) {
	w.Header().Set("ETag", strconv.Quote(strconv.FormatUint(v, 10)))
	w.Header().Set("X-Tollgate-Version", strconv.FormatUint(v, 10))
}

func (s *Server) getConfig(w http.ResponseWriter, r *http.Request) {
	cfg := s.deps.Config.Current()
	setVersionHeaders(w, cfg.Version)
	switch r.URL.Query().Get("format") {
	case "", "json":
		writeJSON(w, http.StatusOK, cfg)
	case "yaml":
		b, err := yaml.Marshal(cfg)
		if err != nil {
			writeError(w, r, http.StatusInternalServerError, codeInternal, err)
			return
		}
		w.Header().Set("Content-Type", "application/yaml")
		_, _ = w.Write(b)
	default:
		writeError(w, r, http.StatusBadRequest, codeBadRequest, errUnknownFormat)
	}
}

func (s *Server) putConfig(w http.ResponseWriter, r *http.Request) {
	ct := r.Header.Get("Content-Type")
	if !supportedType(ct) {
		writeError(w, r, http.StatusUnsupportedMediaType, codeUnsupportedType, errUnsupported)
		return
	}
	ifVersion, err := parseIfMatch(r.Header.Get("If-Match"))
	if err != nil {
		writeError(w, r, http.StatusBadRequest, codeBadRequest, err)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, store.MaxDocumentBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeError(w, r, http.StatusRequestEntityTooLarge, codeTooLarge, errBodyTooLarge)
			return
		}
		writeError(w, r, http.StatusBadRequest, codeBadRequest, fmt.Errorf("read body: %w", err))
		return
	}
	cfg, err := store.Decode(body, ct)
	if err == nil {
		err = cfg.Validate()
	}
	if err != nil {
		writeError(w, r, http.StatusBadRequest, codeInvalidConfig, err)
		return
	}
	cmd := store.Command{Type: store.CmdPutConfig, IfVersion: ifVersion, Config: cfg,
		Time: time.Now().UTC(), Author: author(r)}
	s.apply(w, r, cmd)
}

// apply commits cmd and answers with the new version or the mapped error.
func (s *Server) apply(w http.ResponseWriter, r *http.Request, cmd store.Command) {
	data, err := cmd.Encode()
	if err != nil {
		writeError(w, r, http.StatusInternalServerError, codeInternal, err)
		return
	}
	res, err := s.deps.Applier.Apply(r.Context(), data)
	if err != nil {
		status, code := applyErrorStatus(err)
		s.log.Warn("config write failed", "err", err, "request_id", requestID(r))
		writeError(w, r, status, code, err)
		return
	}
	version, err := store.DecodeResult(res)
	if err != nil {
		status, code := applyErrorStatus(err)
		writeError(w, r, status, code, err)
		return
	}
	setVersionHeaders(w, version)
	writeJSON(w, http.StatusOK, map[string]uint64{"version": version})
}

// applyErrorStatus maps a write failure to an HTTP status and error code.
func applyErrorStatus(err error) (int, string) {
	var ve *store.ValidationError
	switch {
	case errors.As(err, &ve):
		return http.StatusBadRequest, codeInvalidConfig
	case errors.Is(err, store.ErrVersionMismatch):
		return http.StatusPreconditionFailed, codeVersionMismatch
	case errors.Is(err, cluster.ErrNoLeader), errors.Is(err, cluster.ErrClosed):
		return http.StatusServiceUnavailable, codeNoLeader
	}
	return http.StatusServiceUnavailable, codeInternal
}

func supportedType(ct string) bool {
	if ct == "" {
		return true // JSON by default
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	switch mt {
	case "application/json", "application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml":
		return true
	}
	return false
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

// author names who made a change, for the history. Until admin tokens
// exist it is the client address.
func author(r *http.Request) string {
	return "admin@" + r.RemoteAddr
}
