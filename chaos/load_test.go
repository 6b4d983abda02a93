package chaos

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"
)

// A connection refused by a dead node is retried once on the next node.
func TestLoadRetriesRefusedConnectionOnNextNode(t *testing.T) {
	live := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	defer live.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close() // nothing listens there now: connections are refused
	g := newLoadGen([]Node{{ID: "dead", HTTP: dead}, {ID: "live", HTTP: live.URL}}, 10, 5*time.Second, false, false)
	defer g.base.CloseIdleConnections()
	req, _ := http.NewRequest(http.MethodGet, dead+loadPath+"/x?n=0", nil)
	req.Header.Set("X-Vegeta-Seq", "7")
	resp, err := g.RoundTrip(req)
	if err != nil {
		t.Fatalf("round trip: %v", err)
	}
	resp.Body.Close()
	if h := g.takeHop(7); !h.retried || h.node != 1 || resp.StatusCode != 200 {
		t.Fatalf("hop %+v, status %d; want a retry answered by node 1", h, resp.StatusCode)
	}
	// A hidden node is skipped by the rotation.
	g.hide(0, true)
	for k := range 4 {
		if i := g.pick(k % 2); i != 1 {
			t.Fatalf("pick(%d) = %d with node 0 hidden", k%2, i)
		}
	}
	if got := strconv.Itoa(g.pick(1)); got != "1" {
		t.Fatalf("only node 1 visible, pick gave %s", got)
	}
}

func TestTimelineRendersDoctoredReport(t *testing.T) {
	rep := &Report{Target: "test", Duration: 10 * time.Second, Rate: 100, Seed: 3,
		Schedule: &Schedule{}, Invariants: []Invariant{{Verdict: VerdictPass}}}
	for s := range 10 {
		rep.Buckets = append(rep.Buckets, Bucket{Second: s, Sent: 100, OK: 100 - s, Failed: s, Retried: s % 3, P99: Millis(s), Max: Millis(2 * s)})
	}
	rep.Events = []FaultEvent{
		{At: 2 * time.Second, Episode: 0, Kind: FaultKill, Action: "kill", Node: "node1", WasLeader: true},
		{At: 4 * time.Second, Episode: 0, Kind: FaultKill, Action: "revive", Node: "node1"},
	}
	rep.LeaderChanges = []LeaderChange{{At: 3 * time.Second, From: "node1", To: "node2"}}
	path := t.TempDir() + "/t.png"
	if err := writeTimeline(path, rep); err != nil {
		t.Fatal(err)
	}
}
