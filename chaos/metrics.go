package chaos

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// collector aggregates load results: per 1 s bucket of the run, per
// rate-limit window, and a record of every failure for the checks.
type collector struct {
	start time.Time

	mu       sync.Mutex
	buckets  []*bucket
	failures []Failure
	windows  map[int64]*AdmitWindow // Unix second → admissions on the limited route
	totals   Totals
}

type bucket struct {
	sent, ok, retried int
	causes            map[string]int
	lat               []time.Duration
}

// Failure is one request that did not get a good answer. Node is the
// index of the node that last handled it (after a retry, the second).
type Failure struct {
	Start time.Duration `json:"start"`
	End   time.Duration `json:"end"`
	Node  int           `json:"node"`
	Cause string        `json:"cause"`
}

// Totals counts the whole run's requests.
type Totals struct {
	Sent    int            `json:"sent"`
	OK      int            `json:"ok"`
	Failed  int            `json:"failed"`
	Retried int            `json:"retried"`
	Limited int            `json:"rate_limited"`
	Causes  map[string]int `json:"failed_by_cause"`
}

// AdmitWindow counts a rate-limited route's answers in one window.
type AdmitWindow struct {
	Start    time.Time `json:"start"`
	Admitted int       `json:"admitted"`
	Limited  int       `json:"limited"`
}

func newCollector(start time.Time) *collector {
	return &collector{start: start, windows: map[int64]*AdmitWindow{}, totals: Totals{Causes: map[string]int{}}}
}

func (c *collector) bucketAt(d time.Duration) *bucket {
	i := max(int(d/time.Second), 0)
	for len(c.buckets) <= i {
		c.buckets = append(c.buckets, &bucket{causes: map[string]int{}})
	}
	return c.buckets[i]
}

// add records one result.
func (c *collector) add(res *vegeta.Result, h hop) {
	at := res.Timestamp.Sub(c.start)
	limited := strings.Contains(res.URL, limitedPath)
	c.mu.Lock()
	defer c.mu.Unlock()
	b := c.bucketAt(at)
	b.sent++
	c.totals.Sent++
	if h.retried {
		b.retried++
		c.totals.Retried++
	}
	if limited && (res.Code == 200 || res.Code == 429) {
		c.admit(res, res.Code == 200)
	}
	if res.Code >= 200 && res.Code < 300 || limited && res.Code == 429 {
		b.ok++
		c.totals.OK++
		b.lat = append(b.lat, res.Latency)
		return
	}
	cause := failureCause(res)
	b.causes[cause]++
	c.totals.Failed++
	c.totals.Causes[cause]++
	c.failures = append(c.failures, Failure{Start: at, End: at + res.Latency, Node: h.node, Cause: cause})
}

// admit counts an answer of the rate-limited route in the window it
// arrived in, windows being aligned to the wall clock as the limiter's
// are. The limiter decides when the gateway handles a request, just
// before it answers: a request that waited at a paused node is decided
// when the node resumes, not when it was sent.
func (c *collector) admit(res *vegeta.Result, admitted bool) {
	sec := res.Timestamp.Add(res.Latency).Unix()
	w := c.windows[sec]
	if w == nil {
		w = &AdmitWindow{Start: time.Unix(sec, 0).UTC()}
		c.windows[sec] = w
	}
	if admitted {
		w.Admitted++
	} else {
		w.Limited++
		c.totals.Limited++
	}
}

// failureCause names why a request failed, for counting by cause.
func failureCause(res *vegeta.Result) string {
	if res.Code == 0 {
		e := res.Error
		switch {
		case strings.Contains(e, "connection refused"):
			return "connection refused (after retry)"
		case strings.Contains(e, "Timeout") || strings.Contains(e, "deadline exceeded") || strings.Contains(e, "timeout"):
			return "timeout"
		case strings.Contains(e, "connection reset"):
			return "connection reset"
		case strings.Contains(e, "EOF"):
			return "EOF"
		}
		if i := strings.LastIndex(e, ": "); i >= 0 {
			e = e[i+2:]
		}
		return "error: " + e
	}
	var body struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	cause := "http " + http3(res.Code)
	if json.Unmarshal(res.Body, &body) == nil && body.Error.Code != "" {
		cause += " " + body.Error.Code
	}
	return cause
}

func http3(code uint16) string {
	return string([]byte{byte('0' + code/100%10), byte('0' + code/10%10), byte('0' + code%10)})
}

// Bucket is one second of the run.
type Bucket struct {
	Second  int            `json:"second"`
	Sent    int            `json:"sent"`
	OK      int            `json:"ok"`
	Failed  int            `json:"failed"`
	Retried int            `json:"retried"`
	Causes  map[string]int `json:"failed_by_cause,omitempty"`
	P50     Millis         `json:"latency_p50_ms"`
	P99     Millis         `json:"latency_p99_ms"`
	Max     Millis         `json:"latency_max_ms"`
}

// Millis is a duration written as fractional milliseconds.
type Millis float64

func millis(d time.Duration) Millis {
	return Millis(float64(d.Round(10*time.Microsecond)) / float64(time.Millisecond))
}

// snapshot returns the buckets (at most n: a last partial second is
// folded out), totals, failures and admission windows.
func (c *collector) snapshot(n int) ([]Bucket, Totals, []Failure, []AdmitWindow) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Bucket, min(len(c.buckets), n))
	for i, b := range c.buckets[:len(out)] {
		failed := 0
		for _, n := range b.causes {
			failed += n
		}
		out[i] = Bucket{Second: i, Sent: b.sent, OK: b.ok, Failed: failed, Retried: b.retried, Causes: maps.Clone(b.causes)}
		lat := slices.Clone(b.lat)
		slices.Sort(lat)
		if len(lat) > 0 {
			out[i].P50, out[i].P99, out[i].Max = millis(quantile(lat, 0.50)), millis(quantile(lat, 0.99)), millis(lat[len(lat)-1])
		}
	}
	t := c.totals
	t.Causes = maps.Clone(c.totals.Causes)
	keys := slices.Sorted(maps.Keys(c.windows))
	wins := make([]AdmitWindow, len(keys))
	for i, k := range keys {
		wins[i] = *c.windows[k]
	}
	return out, t, slices.Clone(c.failures), wins
}

// quantile of sorted durations, nearest rank.
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// progress returns the totals so far and the last complete second's counts.
func (c *collector) progress(now time.Time) (Totals, Bucket) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var last Bucket
	if i := int(now.Sub(c.start)/time.Second) - 1; i >= 0 && i < len(c.buckets) {
		b := c.buckets[i]
		last = Bucket{Second: i, Sent: b.sent, OK: b.ok, Failed: b.sent - b.ok}
	}
	t := c.totals
	t.Causes = nil
	return t, last
}
