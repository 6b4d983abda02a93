package cache

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// maxDelta is the largest delta-seconds value honoured (RFC 9111 1.2.2).
const maxDelta = 1<<31 - 1

// directives are the Cache-Control directives of a request or a response
// that the cache acts on.
type directives struct {
	maxAge, sMaxAge int64 // seconds; -1 when absent
	noStore         bool
	noCache         bool // qualified (no-cache="field") counts as unqualified
	private         bool // qualified (private="field") counts as unqualified
	public          bool
	mustRevalidate  bool // must-revalidate or proxy-revalidate
}

// parseDirectives parses Cache-Control field lines. Directive names are
// case-insensitive; an invalid or missing delta-seconds counts as 0 and a
// repeated one keeps its smallest value (the most restrictive).
func parseDirectives(lines []string) directives {
	d := directives{maxAge: -1, sMaxAge: -1}
	for _, line := range lines {
		for rest := line; rest != ""; {
			var name, arg string
			name, arg, rest = nextDirective(rest)
			switch strings.ToLower(name) {
			case "max-age":
				d.maxAge = minDelta(d.maxAge, parseDelta(arg))
			case "s-maxage":
				d.sMaxAge = minDelta(d.sMaxAge, parseDelta(arg))
			case "no-store":
				d.noStore = true
			case "no-cache":
				d.noCache = true
			case "private":
				d.private = true
			case "public":
				d.public = true
			case "must-revalidate", "proxy-revalidate":
				d.mustRevalidate = true
			}
		}
	}
	return d
}

// nextDirective splits the first directive off a Cache-Control line: its
// name, its argument (unquoted) and what follows the next comma.
func nextDirective(s string) (name, arg, rest string) {
	s = strings.TrimLeft(s, " \t,")
	i := strings.IndexAny(s, "=,")
	if i < 0 {
		return strings.TrimSpace(s), "", ""
	}
	name = strings.TrimSpace(s[:i])
	if s[i] == ',' {
		return name, "", s[i+1:]
	}
	s = strings.TrimLeft(s[i+1:], " \t")
	if strings.HasPrefix(s, `"`) {
		var b strings.Builder
		j := 1
		for ; j < len(s) && s[j] != '"'; j++ {
			if s[j] == '\\' && j+1 < len(s) {
				j++
			}
			b.WriteByte(s[j])
		}
		arg, s = b.String(), s[min(j+1, len(s)):]
	} else {
		end := strings.IndexByte(s, ',')
		if end < 0 {
			end = len(s)
		}
		arg, s = strings.TrimSpace(s[:end]), s[end:]
	}
	if k := strings.IndexByte(s, ','); k >= 0 {
		return name, arg, s[k+1:]
	}
	return name, arg, ""
}

// parseDelta parses delta-seconds; anything else is 0 (stale).
func parseDelta(s string) int64 {
	if s == "" {
		return 0
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0
		}
		if n = n*10 + int64(c-'0'); n > maxDelta {
			return maxDelta
		}
	}
	return n
}

// minDelta keeps the smaller of two delta-seconds, -1 meaning absent.
func minDelta(old, v int64) int64 {
	if old < 0 || v < old {
		return v
	}
	return old
}

// requestRules are what a request's own directives ask of the cache.
type requestRules struct {
	noStore bool  // neither use nor store a response (treated as a bypass)
	noCache bool  // do not use a stored response without revalidating it
	maxAge  int64 // use a stored response only up to this age; -1: any
}

// parseRequestRules reads Cache-Control, and Pragma: no-cache when there
// is no Cache-Control (RFC 9111 5.4).
func parseRequestRules(h http.Header) requestRules {
	cc, ok := h["Cache-Control"]
	if !ok {
		return requestRules{noCache: hasToken(h["Pragma"], "no-cache"), maxAge: -1}
	}
	d := parseDirectives(cc)
	return requestRules{noStore: d.noStore, noCache: d.noCache, maxAge: d.maxAge}
}

// hasToken reports whether a comma-separated field holds token.
func hasToken(lines []string, token string) bool {
	for _, line := range lines {
		for t := range strings.SplitSeq(line, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// bypasses reports whether a request is never answered from, nor stored
// in, the cache: a method other than GET and HEAD, a range request, a
// protocol upgrade, or a request that says no-store.
func bypasses(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return true
	}
	if _, ok := r.Header["Range"]; ok {
		return true
	}
	if _, ok := r.Header["Upgrade"]; ok {
		return true
	}
	return parseRequestRules(r.Header).noStore
}

// statusClass says whether a shared cache may store a response of this
// status with explicit freshness (understood), and whether it may also
// give it a default freshness (heuristic, RFC 9110 15.1).
func statusClass(status int) (understood, heuristic bool) {
	switch status {
	case 200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501:
		return true, true
	case 302, 307:
		return true, false
	}
	return false, false
}

// freshness is what a stored response's freshness depends on. The
// plugin's ttl and max_ttl are applied when the response is used, so a
// config change applies to responses already stored.
type freshness struct {
	lifetime   time.Duration // the explicit lifetime, when explicit
	explicit   bool          // s-maxage, max-age or Expires was given
	heuristic  bool          // no explicit lifetime, but the default ttl may apply
	revalidate bool          // no-cache: revalidate before every use
}

// ttl is the freshness lifetime under the plugin's default and cap.
func (f freshness) ttl(defaultTTL, maxTTL time.Duration) time.Duration {
	switch {
	case f.revalidate:
		return 0
	case f.explicit && maxTTL > 0:
		return min(f.lifetime, maxTTL)
	case f.explicit:
		return f.lifetime
	case f.heuristic:
		return defaultTTL
	}
	return 0
}

// analyze decides whether a shared cache may store a response (RFC 9111
// section 3) and how its freshness is computed (4.2.1). authenticated
// says the request carried credentials: then only a response marked
// public, s-maxage or must-revalidate may be stored (3.5). Responses
// that set cookies or announce trailers are never stored.
func analyze(status int, h http.Header, authenticated bool, respTime time.Time) (freshness, bool) {
	understood, heuristic := statusClass(status)
	if !understood {
		return freshness{}, false
	}
	d := parseDirectives(h["Cache-Control"])
	switch {
	case d.noStore, d.private:
		return freshness{}, false
	case authenticated && !d.public && d.sMaxAge < 0 && !d.mustRevalidate:
		return freshness{}, false
	case hasToken(h["Vary"], "*"), len(h["Set-Cookie"]) > 0, len(h["Trailer"]) > 0:
		return freshness{}, false
	}
	f := freshness{revalidate: d.noCache}
	switch {
	case d.sMaxAge >= 0:
		f.lifetime, f.explicit = time.Duration(d.sMaxAge)*time.Second, true
	case d.maxAge >= 0:
		f.lifetime, f.explicit = time.Duration(d.maxAge)*time.Second, true
	case len(h["Expires"]) > 0:
		f.lifetime, f.explicit = expiresLifetime(h, respTime), true
	default:
		f.heuristic = heuristic || d.public
	}
	return f, f.explicit || f.heuristic
}

// expiresLifetime is Expires minus Date (RFC 9111 4.2.1); an invalid
// Expires means already expired.
func expiresLifetime(h http.Header, respTime time.Time) time.Duration {
	exp, err := http.ParseTime(h.Get("Expires"))
	if err != nil {
		return 0
	}
	date, err := http.ParseTime(h.Get("Date"))
	if err != nil {
		date = respTime
	}
	return max(exp.Sub(date), 0)
}

// initialAge is the corrected_initial_age of RFC 9111 4.2.3: the age the
// response already had when it arrived.
func initialAge(h http.Header, reqTime, respTime time.Time) time.Duration {
	var apparent time.Duration
	if date, err := http.ParseTime(h.Get("Date")); err == nil {
		apparent = max(respTime.Sub(date), 0)
	}
	var ageValue time.Duration
	if v := h.Get("Age"); v != "" {
		ageValue = time.Duration(parseDelta(v)) * time.Second
	}
	corrected := ageValue + respTime.Sub(reqTime)
	return max(apparent, corrected)
}

// ageSeconds formats an age for the Age header: whole seconds, rounded
// down, at most maxDelta.
func ageSeconds(age time.Duration) string {
	return strconv.FormatInt(min(int64(max(age, 0)/time.Second), maxDelta), 10)
}
