package cache

import (
	"net/http"
	"testing"
	"time"
)

func TestParseDirectives(t *testing.T) {
	cases := []struct {
		lines []string
		want  directives
	}{
		{nil, directives{maxAge: -1, sMaxAge: -1}},
		{[]string{"max-age=60"}, directives{maxAge: 60, sMaxAge: -1}},
		{[]string{"Max-Age=60, S-MAXAGE=30"}, directives{maxAge: 60, sMaxAge: 30}},
		{[]string{`max-age="120"`}, directives{maxAge: 120, sMaxAge: -1}},
		{[]string{"max-age=60", "max-age=10"}, directives{maxAge: 10, sMaxAge: -1}}, // most restrictive
		{[]string{"max-age=abc"}, directives{maxAge: 0, sMaxAge: -1}},               // invalid: stale
		{[]string{"max-age"}, directives{maxAge: 0, sMaxAge: -1}},
		{[]string{"max-age=99999999999999"}, directives{maxAge: maxDelta, sMaxAge: -1}},
		{[]string{"no-store"}, directives{maxAge: -1, sMaxAge: -1, noStore: true}},
		{[]string{"no-cache"}, directives{maxAge: -1, sMaxAge: -1, noCache: true}},
		{[]string{`no-cache="Set-Cookie, X-A", max-age=5`}, directives{maxAge: 5, sMaxAge: -1, noCache: true}},
		{[]string{`private="X-User", public`}, directives{maxAge: -1, sMaxAge: -1, private: true, public: true}},
		{[]string{"must-revalidate"}, directives{maxAge: -1, sMaxAge: -1, mustRevalidate: true}},
		{[]string{"proxy-revalidate"}, directives{maxAge: -1, sMaxAge: -1, mustRevalidate: true}},
		{[]string{" , ,public,, max-age = 7 ,"}, directives{maxAge: 7, sMaxAge: -1, public: true}},
		{[]string{`ext="a\"b,c", max-age=3`}, directives{maxAge: 3, sMaxAge: -1}},
	}
	for _, c := range cases {
		if got := parseDirectives(c.lines); got != c.want {
			t.Errorf("parseDirectives(%q) = %+v, want %+v", c.lines, got, c.want)
		}
	}
}

// TestAnalyzeDirectives covers each response directive: whether a shared
// cache may store the response, and the freshness it gets under a
// default ttl of 10s and a max_ttl of 1h.
func TestAnalyzeDirectives(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	date := now.Format(http.TimeFormat)
	cases := []struct {
		name     string
		status   int
		header   http.Header
		auth     bool
		storable bool
		ttl      time.Duration
	}{
		{"max-age", 200, http.Header{"Cache-Control": {"max-age=60"}}, false, true, time.Minute},
		{"s-maxage beats max-age", 200, http.Header{"Cache-Control": {"max-age=60, s-maxage=5"}}, false, true, 5 * time.Second},
		{"max_ttl caps max-age", 200, http.Header{"Cache-Control": {"max-age=86400"}}, false, true, time.Hour},
		{"max-age=0", 200, http.Header{"Cache-Control": {"max-age=0"}}, false, true, 0},
		{"no-store", 200, http.Header{"Cache-Control": {"max-age=60, no-store"}}, false, false, 0},
		{"private", 200, http.Header{"Cache-Control": {"private, max-age=60"}}, false, false, 0},
		{"qualified private", 200, http.Header{"Cache-Control": {`private="X-User", max-age=60`}}, false, false, 0},
		{"no-cache: stored, revalidated on use", 200, http.Header{"Cache-Control": {"no-cache, max-age=60"}}, false, true, 0},
		{"Expires", 200, http.Header{"Date": {date}, "Expires": {now.Add(90 * time.Second).Format(http.TimeFormat)}}, false, true, 90 * time.Second},
		{"Expires in the past", 200, http.Header{"Date": {date}, "Expires": {now.Add(-time.Hour).Format(http.TimeFormat)}}, false, true, 0},
		{"invalid Expires", 200, http.Header{"Expires": {"0"}}, false, true, 0},
		{"max-age beats Expires", 200, http.Header{"Cache-Control": {"max-age=30"}, "Date": {date}, "Expires": {now.Add(time.Hour).Format(http.TimeFormat)}}, false, true, 30 * time.Second},
		{"no freshness: default ttl", 200, http.Header{}, false, true, 10 * time.Second},
		{"no freshness, 404: default ttl", 404, http.Header{}, false, true, 10 * time.Second},
		{"no freshness, 302: not heuristic", 302, http.Header{}, false, false, 0},
		{"302 with max-age", 302, http.Header{"Cache-Control": {"max-age=60"}}, false, true, time.Minute},
		{"500 with max-age", 500, http.Header{"Cache-Control": {"max-age=60"}}, false, false, 0},
		{"206", 206, http.Header{"Cache-Control": {"max-age=60"}}, false, false, 0},
		{"Vary: *", 200, http.Header{"Cache-Control": {"max-age=60"}, "Vary": {"Accept, *"}}, false, false, 0},
		{"Set-Cookie", 200, http.Header{"Cache-Control": {"max-age=60"}, "Set-Cookie": {"a=b"}}, false, false, 0},
		{"authorized, max-age only", 200, http.Header{"Cache-Control": {"max-age=60"}}, true, false, 0},
		{"authorized, public", 200, http.Header{"Cache-Control": {"public, max-age=60"}}, true, true, time.Minute},
		{"authorized, s-maxage", 200, http.Header{"Cache-Control": {"s-maxage=60"}}, true, true, time.Minute},
		{"authorized, must-revalidate", 200, http.Header{"Cache-Control": {"must-revalidate, max-age=60"}}, true, true, time.Minute},
		{"authorized, nothing", 200, http.Header{}, true, false, 0},
		{"public without freshness: default ttl", 200, http.Header{"Cache-Control": {"public"}}, false, true, 10 * time.Second},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, ok := analyze(c.status, c.header, c.auth, now)
			if ok != c.storable {
				t.Fatalf("storable = %v, want %v (%+v)", ok, c.storable, f)
			}
			if got := f.ttl(10*time.Second, time.Hour); ok && got != c.ttl {
				t.Fatalf("ttl = %s, want %s", got, c.ttl)
			}
		})
	}
}

func TestFreshnessDefaultTTLZero(t *testing.T) {
	f, ok := analyze(200, http.Header{}, false, time.Now())
	if !ok || f.ttl(0, 0) != 0 {
		t.Fatalf("a response without freshness got %s with ttl 0", f.ttl(0, 0))
	}
	f, _ = analyze(200, http.Header{"Cache-Control": {"max-age=600"}}, false, time.Now())
	if f.ttl(0, 0) != 10*time.Minute {
		t.Fatalf("max_ttl 0 capped max-age: %s", f.ttl(0, 0))
	}
}

func TestInitialAge(t *testing.T) {
	req := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	resp := req.Add(2 * time.Second)
	cases := []struct {
		name   string
		header http.Header
		want   time.Duration
	}{
		{"no Date, no Age: the response delay", http.Header{}, 2 * time.Second},
		{"Age plus delay", http.Header{"Age": {"100"}}, 102 * time.Second},
		{"apparent age from Date", http.Header{"Date": {req.Add(-time.Minute).Format(http.TimeFormat)}}, time.Minute + 2*time.Second},
		{"Date in the future counts 0", http.Header{"Date": {req.Add(time.Hour).Format(http.TimeFormat)}}, 2 * time.Second},
		{"invalid Age is 0", http.Header{"Age": {"x"}}, 2 * time.Second},
	}
	for _, c := range cases {
		if got := initialAge(c.header, req, resp); got != c.want {
			t.Errorf("%s: initialAge = %s, want %s", c.name, got, c.want)
		}
	}
	if got := ageSeconds(1999 * time.Millisecond); got != "1" {
		t.Errorf("ageSeconds rounds %q", got)
	}
}

func TestRequestRules(t *testing.T) {
	cases := []struct {
		header http.Header
		want   requestRules
	}{
		{http.Header{}, requestRules{maxAge: -1}},
		{http.Header{"Cache-Control": {"no-cache"}}, requestRules{noCache: true, maxAge: -1}},
		{http.Header{"Pragma": {"no-cache"}}, requestRules{noCache: true, maxAge: -1}},
		{http.Header{"Pragma": {"no-cache"}, "Cache-Control": {"max-age=5"}}, requestRules{maxAge: 5}},
		{http.Header{"Cache-Control": {"no-store"}}, requestRules{noStore: true, maxAge: -1}},
		{http.Header{"Cache-Control": {"max-age=0"}}, requestRules{maxAge: 0}},
	}
	for _, c := range cases {
		if got := parseRequestRules(c.header); got != c.want {
			t.Errorf("parseRequestRules(%v) = %+v, want %+v", c.header, got, c.want)
		}
	}
}

func TestBypasses(t *testing.T) {
	cases := []struct {
		method string
		header http.Header
		want   bool
	}{
		{"GET", nil, false},
		{"HEAD", nil, false},
		{"POST", nil, true},
		{"DELETE", nil, true},
		{"OPTIONS", nil, true},
		{"GET", http.Header{"Range": {"bytes=0-10"}}, true},
		{"GET", http.Header{"Upgrade": {"websocket"}}, true},
		{"GET", http.Header{"Cache-Control": {"no-store"}}, true},
		{"GET", http.Header{"Cache-Control": {"no-cache"}}, false},
	}
	for _, c := range cases {
		r, _ := http.NewRequest(c.method, "http://x/", nil)
		if c.header != nil {
			r.Header = c.header
		}
		if got := bypasses(r); got != c.want {
			t.Errorf("%s %v: bypasses = %v, want %v", c.method, c.header, got, c.want)
		}
	}
}

func TestNotModified(t *testing.T) {
	lm := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	stored := http.Header{"Etag": {`W/"v1"`}, "Last-Modified": {lm.Format(http.TimeFormat)}}
	cases := []struct {
		name string
		req  http.Header
		want bool
	}{
		{"no conditional", http.Header{}, false},
		{"same tag, weak comparison", http.Header{"If-None-Match": {`"v1"`}}, true},
		{"weak tag", http.Header{"If-None-Match": {`W/"v1"`}}, true},
		{"in a list", http.Header{"If-None-Match": {`"v0", "v1"`}}, true},
		{"other tag", http.Header{"If-None-Match": {`"v2"`}}, false},
		{"star", http.Header{"If-None-Match": {"*"}}, true},
		{"If-None-Match wins over If-Modified-Since", http.Header{"If-None-Match": {`"v2"`}, "If-Modified-Since": {lm.Format(http.TimeFormat)}}, false},
		{"not modified since", http.Header{"If-Modified-Since": {lm.Format(http.TimeFormat)}}, true},
		{"modified since", http.Header{"If-Modified-Since": {lm.Add(-time.Hour).Format(http.TimeFormat)}}, false},
		{"invalid date", http.Header{"If-Modified-Since": {"yesterday"}}, false},
	}
	for _, c := range cases {
		if got := notModified(c.req, stored); got != c.want {
			t.Errorf("%s: notModified = %v, want %v", c.name, got, c.want)
		}
	}
	if notModified(http.Header{"If-None-Match": {`"v1"`}}, http.Header{}) {
		t.Error("a response without ETag matched If-None-Match")
	}
}

func TestVaryMatching(t *testing.T) {
	h := http.Header{"Vary": {"accept-encoding, Accept-Language", "Accept-Encoding"}}
	e := newEntry(200, h, nil, http.Header{"Accept-Encoding": {"gzip"}}, freshness{}, 0, time.Now())
	if len(e.vary) != 2 || e.vary[0] != "Accept-Encoding" || e.vary[1] != "Accept-Language" {
		t.Fatalf("vary = %q", e.vary)
	}
	cases := []struct {
		req  http.Header
		want bool
	}{
		{http.Header{"Accept-Encoding": {"gzip"}}, true},
		{http.Header{"Accept-Encoding": {" gzip "}}, true}, // trimmed
		{http.Header{"Accept-Encoding": {"br"}}, false},
		{http.Header{}, false}, // absent differs from present
		{http.Header{"Accept-Encoding": {"gzip"}, "Accept-Language": {"fr"}}, false},
	}
	for _, c := range cases {
		if got := e.matches(c.req); got != c.want {
			t.Errorf("matches(%v) = %v, want %v", c.req, got, c.want)
		}
	}
	// Content-Encoding implies Vary: Accept-Encoding.
	enc := newEntry(200, http.Header{"Content-Encoding": {"gzip"}}, nil, http.Header{"Accept-Encoding": {"gzip"}}, freshness{}, 0, time.Now())
	if enc.matches(http.Header{}) {
		t.Fatal("a gzip body would be served to a client that did not accept it")
	}
}
