package chaos

import (
	"encoding/json"
	"fmt"
)

// Paths of the routes the harness configures.
const (
	loadPath    = "/chaos"
	limitedPath = "/chaos-limited"
	limitedName = "chaos-limited"
)

// docBuilder writes the config documents of a run: a service for the demo
// upstream, the load route, optionally a rate-limited route, and one
// marker route that names the write.
type docBuilder struct {
	upstream  string
	rateLimit int64
}

type docRoute struct {
	Name    string   `json:"name"`
	Service string   `json:"service"`
	Paths   []string `json:"paths"`
}

type docPlugin struct {
	Name   string          `json:"name"`
	Route  string          `json:"route,omitempty"`
	Config json.RawMessage `json:"config,omitempty"`
}

type document struct {
	Services []map[string]string `json:"services"`
	Routes   []docRoute          `json:"routes"`
	Plugins  []docPlugin         `json:"plugins,omitempty"`
}

// build returns the document of the write whose marker route is marker.
func (b docBuilder) build(marker string) []byte {
	d := document{
		Services: []map[string]string{{"name": "chaos", "url": b.upstream, "timeout": "10s"}},
		Routes: []docRoute{
			{Name: "chaos-load", Service: "chaos", Paths: []string{loadPath}},
			{Name: marker, Service: "chaos", Paths: []string{"/" + marker}},
		},
	}
	if b.rateLimit > 0 {
		d.Routes = append(d.Routes, docRoute{Name: limitedName, Service: "chaos", Paths: []string{limitedPath}})
		d.Plugins = append(d.Plugins, docPlugin{Name: "rate-limit", Route: limitedName,
			Config: json.RawMessage(fmt.Sprintf(`{"limit":%d,"window":"second","key":["route"]}`, b.rateLimit))})
	}
	out, _ := json.Marshal(d) // plain structs always encode
	return out
}
