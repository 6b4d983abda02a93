package admin

import (
	"net/http"

	"github.com/tollgate/tollgate/store"
)

// pluginView is a plugin with its id (see store.PluginID), the key of the
// /v1/plugins/{id} endpoints.
type pluginView struct {
	ID string `json:"id"`
	store.Plugin
}

// registerEntities adds the endpoints of every entity kind.
func (s *Server) registerEntities(mux *http.ServeMux) {
	entityAPI[store.Service]{s, kind[store.Service]{
		singular: "service", plural: "services", keyField: "name",
		list:      func(c *store.Config) *[]store.Service { return &c.Services },
		key:       func(e store.Service) string { return e.Name },
		setKey:    func(e *store.Service, k string) { e.Name = k },
		referrers: serviceReferrers,
	}}.register(mux)
	entityAPI[store.Route]{s, kind[store.Route]{
		singular: "route", plural: "routes", keyField: "name",
		list:   func(c *store.Config) *[]store.Route { return &c.Routes },
		key:    func(e store.Route) string { return e.Name },
		setKey: func(e *store.Route, k string) { e.Name = k },
		referrers: func(c *store.Config, key string) map[string][]string {
			return map[string][]string{"plugins": c.RouteReferrers(key)}
		},
	}}.register(mux)
	entityAPI[store.Consumer]{s, kind[store.Consumer]{
		singular: "consumer", plural: "consumers", keyField: "username",
		list:    func(c *store.Config) *[]store.Consumer { return &c.Consumers },
		key:     func(e store.Consumer) string { return e.Username },
		setKey:  func(e *store.Consumer, k string) { e.Username = k },
		view:    func(e store.Consumer) any { return e.Redacted() },
		prepare: prepareConsumer,
	}}.register(mux)
	entityAPI[store.Plugin]{s, kind[store.Plugin]{
		singular: "plugin", plural: "plugins",
		list: func(c *store.Config) *[]store.Plugin { return &c.Plugins },
		key:  store.PluginID,
		view: func(e store.Plugin) any { return pluginView{ID: store.PluginID(e), Plugin: e} },
	}}.register(mux)
	entityAPI[store.Certificate]{s, kind[store.Certificate]{
		singular: "certificate", plural: "certificates", keyField: "name",
		list:   func(c *store.Config) *[]store.Certificate { return &c.Certificates },
		key:    func(e store.Certificate) string { return e.Name },
		setKey: func(e *store.Certificate, k string) { e.Name = k },
		view:   func(e store.Certificate) any { return certificateView{Certificate: e} },
		prepare: func(cur *store.Config, in *store.Certificate) {
			keepCertificateKey(cur, in)
		},
	}}.register(mux)
}

func serviceReferrers(c *store.Config, key string) map[string][]string {
	routes, plugins := c.ServiceReferrers(key)
	return map[string][]string{"routes": routes, "plugins": plugins}
}

// prepareConsumer restores credentials sent redacted and hashes plaintext
// API keys, as for a whole document.
func prepareConsumer(cur *store.Config, e *store.Consumer) {
	doc := &store.Config{Consumers: []store.Consumer{*e}}
	doc.RestoreRedactedCredentials(cur)
	doc.HashAPIKeys()
	*e = doc.Consumers[0]
}

// keepCertificateKey gives a certificate sent without its key (or with
// the redacted placeholder) the key stored under its name.
func keepCertificateKey(cur *store.Config, c *store.Certificate) {
	if c.Key != "" && c.Key != store.RedactedValue {
		return
	}
	for _, old := range cur.Certificates {
		if old.Name == c.Name {
			c.Key = old.Key
		}
	}
}
