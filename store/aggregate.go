package store

import "time"

// Aggregate error policies (Aggregate.OnError).
const (
	// AggregateFail answers a gateway error when any call fails.
	AggregateFail = "fail"
	// AggregatePartial answers with a null for each failed call and an
	// "errors" list; only a failed Required call fails the response.
	AggregatePartial = "partial"
)

// Limits of aggregate routes, shared by validation and the docs.
const (
	// MaxAggregateCalls bounds the calls of one aggregate route.
	MaxAggregateCalls = 32
	// MaxAggregateTimeout bounds a call's timeout.
	MaxAggregateTimeout = 5 * time.Minute
	// AggregateErrorsKey is the key of the error list in a partial
	// answer; no call may use it as its name.
	AggregateErrorsKey = "errors"
)

// Aggregate makes a route a backend-for-frontend: instead of proxying the
// request, the gateway sends every call in parallel and answers one JSON
// object holding each call's JSON body under the call's name:
//
//	routes:
//	  - name: user-dashboard
//	    paths: ["/v1/dashboard/{id}"]
//	    aggregate:
//	      on_error: partial
//	      calls:
//	        - {name: user, service: users, path: "/users/{id}", timeout: 300ms, required: true}
//	        - {name: orders, service: orders, path: "/orders?user={id}&by={consumer}"}
//
// answers {"user": {...}, "orders": [...]}, and with a failed orders call
// {"user": {...}, "orders": null, "errors": [{"call": "orders", "error": "..."}]}.
//
// The route's policies (authentication, rate limits, header transforms)
// run first; the calls carry the client's headers as transformed, the
// identity headers that authentication set included, but no body. A
// call fails on a connection error, its timeout, a non-2xx status, a body
// that is not JSON or one larger than the gateway's per-call limit.
// Rewrite, strip_path and mirror do not apply to an aggregate route.
type Aggregate struct {
	// Calls are the upstream calls, 1 to MaxAggregateCalls, answered in
	// this order.
	Calls []AggregateCall `json:"calls"`
	// OnError is "fail" (the default: any failed call answers a gateway
	// error naming it) or "partial" (see AggregatePartial).
	OnError string `json:"on_error,omitempty"`
}

// AggregateCall is one upstream call of an aggregate route.
type AggregateCall struct {
	// Name is the call's key in the answer (required, unique in the
	// route, not "errors").
	Name string `json:"name"`
	// Service is the service called (required); its balancer, health
	// checks, retry policy and circuit breaker apply.
	Service string `json:"service"`
	// Path is a template of the path and query sent, under the service's
	// base path, for example /users/{id}/orders?limit=5. It may use the
	// route's captures and the variables of header transforms, such as
	// {consumer} and {request_id}; expanded values are escaped.
	Path string `json:"path"`
	// Method is GET (the default), POST, PUT, PATCH or DELETE. The call
	// carries no body.
	Method string `json:"method,omitempty"`
	// Timeout bounds the call from its start to the end of its body, up to
	// MaxAggregateTimeout (default: the service's timeout).
	Timeout Duration `json:"timeout,omitempty"`
	// Required makes a failure of this call fail the whole answer even
	// with on_error partial.
	Required bool `json:"required,omitempty"`
}

// EffectiveMethod returns the call's method with the default applied.
func (c AggregateCall) EffectiveMethod() string {
	if c.Method == "" {
		return "GET"
	}
	return c.Method
}

// Partial reports whether failed calls (other than required ones) answer
// null instead of failing the response.
func (a *Aggregate) Partial() bool { return a.OnError == AggregatePartial }
