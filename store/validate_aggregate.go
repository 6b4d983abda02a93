package store

import (
	"fmt"
	"strings"
)

// aggregateMethods are the methods an aggregate call may use.
var aggregateMethods = map[string]bool{"GET": true, "POST": true, "PUT": true, "PATCH": true, "DELETE": true}

// aggregate checks routes[i].aggregate (p is "routes[i]"): the calls, their
// services and templates, and the route fields that do not go with it.
func (v *validator) aggregate(p string, r *Route, services map[string]bool, captures []string) {
	a := r.Aggregate
	if a == nil {
		return
	}
	ap := p + ".aggregate"
	if r.Rewrite != "" {
		v.addf(p+".rewrite", "not allowed with aggregate")
	}
	if r.StripPath {
		v.addf(p+".strip_path", "not allowed with aggregate")
	}
	if r.Mirror != nil {
		v.addf(p+".mirror", "not allowed with aggregate")
	}
	switch a.OnError {
	case "", AggregateFail, AggregatePartial:
	default:
		v.addf(ap+".on_error", "must be fail or partial, not %q", a.OnError)
	}
	if len(a.Calls) == 0 || len(a.Calls) > MaxAggregateCalls {
		v.addf(ap+".calls", "must hold 1 to %d calls", MaxAggregateCalls)
	}
	seen := map[string]bool{}
	for j := range a.Calls {
		v.aggregateCall(fmt.Sprintf("%s.calls[%d]", ap, j), &a.Calls[j], services, captures, seen)
	}
}

// aggregateCall checks one call; seen collects the names used so far.
func (v *validator) aggregateCall(p string, c *AggregateCall, services map[string]bool, captures []string, seen map[string]bool) {
	v.uniqueName(p, "name", c.Name, seen)
	if c.Name == AggregateErrorsKey {
		v.addf(p+".name", "%q is reserved for the error list", AggregateErrorsKey)
	}
	switch {
	case c.Service == "":
		v.addf(p+".service", "is required")
	case !services[c.Service]:
		v.addf(p+".service", "unknown service %q", c.Service)
	}
	if !strings.HasPrefix(c.Path, "/") || strings.ContainsAny(c.Path, "# \r\n") {
		v.addf(p+".path", "is required, must start with / and hold no spaces or fragment")
	} else {
		v.template(p+".path", c.Path, captures)
	}
	if c.Method != "" && !aggregateMethods[c.Method] {
		v.addf(p+".method", "must be GET, POST, PUT, PATCH or DELETE, not %q", c.Method)
	}
	if c.Timeout < 0 || c.Timeout.Std() > MaxAggregateTimeout {
		v.addf(p+".timeout", "must be between 0 (the service's timeout) and %v", MaxAggregateTimeout)
	}
}
