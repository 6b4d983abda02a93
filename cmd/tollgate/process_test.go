package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tollgate/tollgate/cluster"
	"github.com/tollgate/tollgate/internal/waitfor"
)

// These tests drive the built binary exactly as a user would: three
// `tollgate agent` processes on loopback, joined with --join.

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "tollgate-bin")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "tollgate")
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build tollgate: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// syncBuffer collects a process's output for failure reports.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// proc is one tollgate agent process and the command line it runs with.
type proc struct {
	name              string
	args              []string
	httpAddr, admAddr string
	cmd               *exec.Cmd
	out               *syncBuffer
}

// freePort finds a port free for both TCP and UDP on 127.0.0.1.
func freePort(t *testing.T) int {
	t.Helper()
	for i := 0; i < 50; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if pc, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			pc.Close()
			return port
		}
	}
	t.Fatal("no free port")
	return 0
}

// newProcs prepares n agents that --join each other on free ports.
func newProcs(t *testing.T, n int, extra ...string) []*proc {
	gossip := make([]string, n)
	for i := range gossip {
		gossip[i] = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	}
	procs := make([]*proc, n)
	for i := range procs {
		var join []string
		for j, g := range gossip {
			if j != i {
				join = append(join, g)
			}
		}
		p := &proc{
			name:     fmt.Sprintf("node%d", i+1),
			httpAddr: fmt.Sprintf("127.0.0.1:%d", freePort(t)),
			admAddr:  fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		}
		p.args = append([]string{"agent",
			"--data-dir", t.TempDir(),
			"--http-addr", p.httpAddr, "--admin-addr", p.admAddr,
			"--raft-addr", fmt.Sprintf("127.0.0.1:%d", freePort(t)),
			"--gossip-addr", gossip[i],
			"--join", strings.Join(join, ","),
			"--log-format", "text",
		}, extra...)
		procs[i] = p
	}
	return procs
}

func (p *proc) start(t *testing.T) {
	t.Helper()
	p.out = &syncBuffer{}
	p.cmd = exec.Command(binary, p.args...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", p.name, err)
	}
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("--- %s output ---\n%s", p.name, p.out.String())
		}
	})
}

func (p *proc) kill() {
	if p.cmd != nil && p.cmd.ProcessState == nil {
		p.cmd.Process.Signal(syscall.SIGKILL)
		p.cmd.Wait()
	}
}

type clusterView struct {
	NodeID   string `json:"node_id"`
	LeaderID string `json:"leader_id"`
	Members  []struct {
		ID            string `json:"id"`
		Suffrage      string `json:"suffrage"`
		Gossip        string `json:"gossip"`
		ConfigVersion uint64 `json:"config_version"`
	} `json:"members"`
}

func (p *proc) cluster() (clusterView, error) {
	var v clusterView
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get("http://" + p.admAddr + "/v1/cluster")
	if err != nil {
		return v, err
	}
	defer resp.Body.Close()
	return v, json.NewDecoder(resp.Body).Decode(&v)
}

func (p *proc) put(body string, timeout time.Duration) (int, string, error) {
	req, _ := http.NewRequest(http.MethodPut, "http://"+p.admAddr+"/v1/config", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/yaml")
	c := http.Client{Timeout: timeout}
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

func (p *proc) get(path string) (int, string, error) {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://" + p.httpAddr + path)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

// leaderIndex returns the index of the process that all live ones agree leads.
func leaderIndex(procs []*proc, live []int) int {
	ids := map[string]int{}
	var leader string
	for _, i := range live {
		v, err := procs[i].cluster()
		if err != nil || v.LeaderID == "" || (leader != "" && v.LeaderID != leader) {
			return -1
		}
		leader = v.LeaderID
		ids[v.NodeID] = i
	}
	if i, ok := ids[leader]; ok {
		return i
	}
	return -1
}

// routeDoc is a config with one service and a route per path prefix.
func routeDoc(upstreamURL string, paths ...string) string {
	doc := fmt.Sprintf("services:\n  - name: s\n    url: %s\nroutes:\n", upstreamURL)
	for i, p := range paths {
		doc += fmt.Sprintf("  - name: r%d\n    service: s\n    paths: [%s]\n", i, p)
	}
	return doc
}

func echoUpstream(t *testing.T) *httptest.Server {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok "+r.URL.Path)
	}))
	t.Cleanup(s.Close)
	return s
}

func TestProcessClusterFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("process-level test")
	}
	up := echoUpstream(t)
	procs := newProcs(t, 3, "--cluster-key", cluster.GenerateKey())
	// Start in reverse order: any start order must work.
	for i := len(procs) - 1; i >= 0; i-- {
		procs[i].start(t)
	}
	all := []int{0, 1, 2}
	waitfor.Condition(t, 20*time.Second, "a leader all agree on", func() bool { return leaderIndex(procs, all) >= 0 })

	// A write through any node is visible on every data plane within 1 s.
	code, body, err := procs[1].put(routeDoc(up.URL, "/a"), 10*time.Second)
	if err != nil || code != 200 {
		t.Fatalf("PUT: %d %s %v", code, body, err)
	}
	for _, p := range procs {
		// Followers apply a committed write a moment after it is
		// acknowledged; under a loaded -race run that can take a while.
		waitfor.Condition(t, 10*time.Second, p.name+" serving /a", func() bool {
			c, b, _ := p.get("/a/x")
			return c == 200 && b == "ok /a/x"
		})
	}

	// Kill the leader under load on the survivors.
	li := leaderIndex(procs, all)
	var survivors []int
	for _, i := range all {
		if i != li {
			survivors = append(survivors, i)
		}
	}
	var sent, failed atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, i := range survivors {
		wg.Add(1)
		go func(p *proc) {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				sent.Add(1)
				if c, b, err := p.get("/a/load"); err != nil || c != 200 {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Sprintf("%s: %d %s %v", p.name, c, b, err))
				}
			}
		}(procs[i])
	}
	procs[li].kill()
	killedAt := time.Now()
	var writeOK time.Duration
	waitfor.Condition(t, 5*time.Second, "a write through a survivor", func() bool {
		code, _, err := procs[survivors[0]].put(routeDoc(up.URL, "/a", "/b"), 2*time.Second)
		if err == nil && code == 200 {
			writeOK = time.Since(killedAt)
			return true
		}
		return false
	})
	close(stop)
	wg.Wait()
	t.Logf("leader %s killed; write succeeded again after %s; %d data-plane requests to survivors, %d failed",
		procs[li].name, writeOK.Round(time.Millisecond), sent.Load(), failed.Load())
	if failed.Load() > 0 {
		t.Fatalf("%d of %d requests to survivors failed; first: %v", failed.Load(), sent.Load(), firstErr.Load())
	}

	// Restarting the killed node with its original command line brings it back, caught up.
	procs[li].start(t)
	waitfor.Condition(t, 15*time.Second, "restarted node caught up", func() bool {
		c, b, _ := procs[li].get("/b/x")
		return c == 200 && b == "ok /b/x"
	})
	waitfor.Condition(t, 10*time.Second, "three voters agree on version 2", func() bool {
		v, err := procs[li].cluster()
		if err != nil || len(v.Members) != 3 {
			return false
		}
		for _, m := range v.Members {
			if m.Suffrage != "voter" || m.ConfigVersion != 2 {
				return false
			}
		}
		return true
	})
}

func TestProcessQuorumLoss(t *testing.T) {
	if testing.Short() {
		t.Skip("process-level test")
	}
	up := echoUpstream(t)
	procs := newProcs(t, 3, "--apply-timeout", "2s")
	for _, p := range procs {
		p.start(t)
	}
	waitfor.Condition(t, 20*time.Second, "a leader", func() bool { return leaderIndex(procs, []int{0, 1, 2}) >= 0 })
	if code, body, err := procs[0].put(routeDoc(up.URL, "/q"), 10*time.Second); err != nil || code != 200 {
		t.Fatalf("PUT: %d %s %v", code, body, err)
	}
	last := procs[2]
	waitfor.Condition(t, 10*time.Second, "last node serving /q", func() bool { c, _, _ := last.get("/q"); return c == 200 })
	procs[0].kill()
	procs[1].kill()
	start := time.Now()
	code, body, err := last.put(routeDoc(up.URL, "/z"), 15*time.Second)
	took := time.Since(start)
	if err != nil || code != http.StatusServiceUnavailable || !strings.Contains(body, "leader") {
		t.Fatalf("write without quorum: %d %s %v, want 503 naming the missing leader", code, body, err)
	}
	if took > 8*time.Second {
		t.Fatalf("write without quorum took %s", took)
	}
	t.Logf("write without quorum answered 503 after %s: %s", took.Round(time.Millisecond), strings.TrimSpace(body))
	for i := 0; i < 20; i++ {
		if c, b, err := last.get("/q/still"); err != nil || c != 200 {
			t.Fatalf("last node stopped proxying: %d %s %v", c, b, err)
		}
	}
}

func TestProcessSIGTERMLeaderTransfersLeadership(t *testing.T) {
	if testing.Short() {
		t.Skip("process-level test")
	}
	up := echoUpstream(t)
	procs := newProcs(t, 3)
	for _, p := range procs {
		p.start(t)
	}
	all := []int{0, 1, 2}
	waitfor.Condition(t, 20*time.Second, "a leader", func() bool { return leaderIndex(procs, all) >= 0 })
	li := leaderIndex(procs, all)
	leader := procs[li]
	if err := leader.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := leader.cmd.Wait(); err != nil {
		t.Fatalf("leader exited with %v after SIGTERM", err)
	}
	if !strings.Contains(leader.out.String(), "leadership transferred") {
		t.Fatalf("leader did not transfer leadership before stopping")
	}
	var survivors []int
	for _, i := range all {
		if i != li {
			survivors = append(survivors, i)
		}
	}
	took := waitfor.Condition(t, 5*time.Second, "survivors agree on a new leader", func() bool { return leaderIndex(procs, survivors) >= 0 })
	t.Logf("new leader known %s after the old one exited", took.Round(time.Millisecond))
	if code, body, err := procs[survivors[0]].put(routeDoc(up.URL, "/t"), 5*time.Second); err != nil || code != 200 {
		t.Fatalf("write after graceful leader stop: %d %s %v", code, body, err)
	}
}
