package admin

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/tollgate/tollgate/store"
	"sigs.k8s.io/yaml"
)

// configView is a config as the API shows it: certificates without their
// private keys, consumer credentials redacted, and no admin tokens.
type configView struct {
	*store.Config
	Certificates []certificateView `json:"certificates,omitempty"`
	AdminTokens  []struct{}        `json:"admin_tokens,omitempty"`
}

// certificateView is a certificate without its private key.
type certificateView struct {
	store.Certificate
	Key string `json:"key,omitempty"`
}

func viewConfig(c *store.Config) configView {
	v := configView{Config: c.WithRedactedCredentials()}
	for _, cert := range c.Certificates {
		v.Certificates = append(v.Certificates, certificateView{Certificate: cert})
	}
	return v
}

// writeFormatted answers v as JSON, or as YAML with ?format=yaml.
func writeFormatted(w http.ResponseWriter, r *http.Request, v any) {
	switch r.URL.Query().Get("format") {
	case "", "json":
		writeJSON(w, http.StatusOK, v)
	case "yaml":
		b, err := yaml.Marshal(v)
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

func (s *Server) getConfig(w http.ResponseWriter, r *http.Request) {
	cfg, err := s.read(w, r)
	if err != nil {
		fail(w, r, err)
		return
	}
	writeFormatted(w, r, viewConfig(cfg))
}

// putConfig replaces the whole document (declarative config). Admin
// tokens carry over; a certificate given without a key keeps the key
// stored under its name.
func (s *Server) putConfig(w http.ResponseWriter, r *http.Request) {
	doc, err := decodeDocument(w, r)
	if err != nil {
		fail(w, r, err)
		return
	}
	res, err := s.write(r, func(cur, next *store.Config) error {
		*next = *adoptDocument(cur, doc)
		return nil
	}, writeOpts{})
	if err != nil {
		fail(w, r, err)
		return
	}
	respondWrite(w, res, http.StatusOK, map[string]uint64{"version": res.version})
}

// adoptDocument is doc prepared to replace cur: cur's admin tokens, the
// stored secrets of certificates and consumer credentials that doc sends
// redacted or leaves out (a document read back from GET applies as is),
// and plaintext API keys hashed.
func adoptDocument(cur, doc *store.Config) *store.Config {
	next := doc.Clone()
	next.Version = cur.Version
	next.AdminTokens = cur.AdminTokens
	for i := range next.Certificates {
		keepCertificateKey(cur, &next.Certificates[i])
	}
	next.RestoreRedactedCredentials(cur)
	next.HashAPIKeys()
	return next
}

// diffConfig answers what PUT /v1/config with the body would change,
// entity by entity, without applying anything.
func (s *Server) diffConfig(w http.ResponseWriter, r *http.Request) {
	doc, err := decodeDocument(w, r)
	if err != nil {
		fail(w, r, err)
		return
	}
	cur, err := s.read(w, r)
	if err != nil {
		fail(w, r, err)
		return
	}
	next := adoptDocument(cur, doc)
	if err := next.Validate(); err != nil {
		writeError(w, r, http.StatusBadRequest, codeInvalidConfig, err)
		return
	}
	writeJSON(w, http.StatusOK, store.DiffConfigs(cur, next))
}

// errMethod says which methods a path allows.
func errMethod(method string, allow []string) error {
	return fmt.Errorf("method %s is not allowed here; allowed: %s", method, strings.Join(allow, ", "))
}
