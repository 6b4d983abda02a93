package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// limitsOptions configures the rate-limit accuracy benchmark.
type limitsOptions struct {
	binary   string
	limit    int
	windows  []time.Duration
	duration time.Duration // per window size; 0 = 5 windows
	out      string
}

// limitsScenario is one run: how the nodes are treated mid-run.
type limitsScenario struct {
	name  string
	fault func(c *limitsCluster) error // applied at the run's midpoint; nil for none
}

// runLimits measures how close three real nodes, sharing one limit by
// gossip, keep admissions to the limit under uneven traffic (60/30/10 %
// of 3x the limit), and what a node's death or isolation changes.
func runLimits(o limitsOptions) error {
	scenarios := []limitsScenario{
		{name: "steady"},
		{name: "node3 killed at midpoint", fault: func(c *limitsCluster) error { return c.kill(2) }},
		{name: "node1 isolated at midpoint", fault: func(c *limitsCluster) error { return c.isolate(0) }},
	}
	fmt.Printf("bench-limits: 3 nodes, limit %d per window, traffic 60/30/10%% at 3x the limit\n\n", o.limit)
	for _, w := range o.windows {
		for _, sc := range scenarios {
			if err := runLimitsScenario(o, w, sc); err != nil {
				return fmt.Errorf("%s, window %s: %w", sc.name, w, err)
			}
		}
	}
	return nil
}

func runLimitsScenario(o limitsOptions, window time.Duration, sc limitsScenario) error {
	c, err := startLimitsCluster(o, window)
	if err != nil {
		return err
	}
	defer c.stop()
	d := o.duration
	if d == 0 {
		d = 5 * window
		if window >= 10*time.Second {
			d = 3 * window
		}
	}
	// Start on a window boundary so whole windows are measured.
	time.Sleep(time.Until(time.Now().Truncate(window).Add(window)))
	start := time.Now()
	var faultErr error
	if sc.fault != nil {
		time.AfterFunc(d/2, func() { faultErr = sc.fault(c) })
	}
	shares := []float64{0.6, 0.3, 0.1}
	total := 3 * float64(o.limit) / window.Seconds()
	var mu sync.Mutex
	admitted := map[int64]int{}
	var wg sync.WaitGroup
	for i, share := range shares {
		wg.Add(1)
		go func(url string, rate float64) {
			defer wg.Done()
			attack(url, rate, d, func(at time.Time, code uint16) {
				if code == http.StatusOK {
					mu.Lock()
					admitted[at.Sub(start).Nanoseconds()/window.Nanoseconds()]++
					mu.Unlock()
				}
			})
		}(c.urls[i], total*share)
	}
	wg.Wait()
	if faultErr != nil {
		return faultErr
	}
	printLimits(os.Stdout, sc.name, window, o.limit, admitted, int(d/window))
	return nil
}

// attack offers rate req/s to url for d, reporting each response.
func attack(url string, rate float64, d time.Duration, seen func(time.Time, uint16)) {
	targeter := vegeta.NewStaticTargeter(vegeta.Target{Method: "GET", URL: url})
	atk := vegeta.NewAttacker(vegeta.KeepAlive(true), vegeta.Timeout(2*time.Second))
	per := time.Duration(float64(time.Second) / rate)
	for res := range atk.Attack(targeter, vegeta.ConstantPacer{Freq: 1, Per: per}, d, "limits") {
		seen(res.Timestamp, res.Code)
	}
}

func printLimits(w io.Writer, name string, window time.Duration, limit int, admitted map[int64]int, windows int) {
	var keys []int64
	for k := range admitted {
		if k >= 0 && k < int64(windows) {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	var cells []string
	worst := 0.0
	for _, k := range keys {
		dev := float64(admitted[k]-limit) / float64(limit) * 100
		if abs(dev) > abs(worst) {
			worst = dev
		}
		cells = append(cells, fmt.Sprintf("%d(%+.1f%%)", admitted[k], dev))
	}
	fmt.Fprintf(w, "%-28s window %-5s admitted per window: %s   worst %+.1f%%\n", name, window, strings.Join(cells, " "), worst)
}

func abs(f float64) float64 {
	if f < 0 {
		return -f
	}
	return f
}

// limitsCluster is three tollgate processes on their own loopback IPs.
type limitsCluster struct {
	dir     string
	procs   []*exec.Cmd
	ips     []string
	urls    []string
	rules   [][]string // iptables rules to delete on stop
	closers []func() error
}

func startLimitsCluster(o limitsOptions, window time.Duration) (*limitsCluster, error) {
	dir, err := os.MkdirTemp(o.out, "limits")
	if err != nil {
		return nil, err
	}
	c := &limitsCluster{dir: dir, ips: []string{"127.0.0.11", "127.0.0.12", "127.0.0.13"}}
	up, err := c.startUpstream()
	if err != nil {
		return nil, err
	}
	seed := filepath.Join(dir, "seed.yaml")
	doc := fmt.Sprintf("services:\n  - name: up\n    url: %s\nroutes:\n  - name: limited\n    service: up\n    paths: [/limited]\n"+
		"plugins:\n  - name: rate-limit\n    route: limited\n    config: {limit: %d, window: %q, key: [route]}\n", up, o.limit, window.String())
	if err := os.WriteFile(seed, []byte(doc), 0o644); err != nil {
		return nil, err
	}
	if err := c.startNodes(o.binary, seed); err != nil {
		c.stop()
		return nil, err
	}
	return c, nil
}

func (c *limitsCluster) startUpstream() (string, error) {
	port, err := freePort()
	if err != nil {
		return "", err
	}
	srv := &http.Server{Addr: fmt.Sprintf("127.0.0.1:%d", port), Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, payload)
	})}
	go srv.ListenAndServe()
	c.closers = append(c.closers, srv.Close)
	url := "http://" + srv.Addr
	return url, waitHTTP(url, 200)
}

func (c *limitsCluster) startNodes(bin, seed string) error {
	key, err := exec.Command(bin, "keygen").Output()
	if err != nil {
		return fmt.Errorf("keygen: %w", err)
	}
	gossip := make([]string, len(c.ips))
	for i, ip := range c.ips {
		gossip[i] = ip + ":7946"
	}
	for i, ip := range c.ips {
		var join []string
		for j, g := range gossip {
			if j != i {
				join = append(join, g)
			}
		}
		cmd := exec.Command(bin, "agent", "--node-id", fmt.Sprintf("node%d", i+1),
			"--data-dir", filepath.Join(c.dir, fmt.Sprintf("n%d", i+1)),
			"--http-addr", ip+":8080", "--admin-addr", ip+":8081", "--raft-addr", ip+":7000",
			"--gossip-addr", gossip[i], "--join", strings.Join(join, ","),
			"--cluster-key", strings.TrimSpace(string(key)), "--seed-config", seed)
		log, err := os.Create(filepath.Join(c.dir, fmt.Sprintf("node%d.log", i+1)))
		if err != nil {
			return err
		}
		cmd.Stdout, cmd.Stderr = log, log
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("start node%d: %w", i+1, err)
		}
		c.procs = append(c.procs, cmd)
		c.urls = append(c.urls, "http://"+ip+":8080/limited")
	}
	for _, u := range c.urls {
		if err := waitHTTP(u, 200); err != nil {
			return err
		}
	}
	return nil
}

func (c *limitsCluster) kill(i int) error {
	return c.procs[i].Process.Kill()
}

// isolate drops traffic between node i and the others with iptables.
func (c *limitsCluster) isolate(i int) error {
	for j, ip := range c.ips {
		if j == i {
			continue
		}
		for _, pair := range [][2]string{{c.ips[i], ip}, {ip, c.ips[i]}} {
			rule := []string{"INPUT", "-s", pair[0], "-d", pair[1], "-j", "DROP"}
			if out, err := exec.Command("iptables", append([]string{"-I"}, rule...)...).CombinedOutput(); err != nil {
				return fmt.Errorf("iptables: %w: %s", err, out)
			}
			c.rules = append(c.rules, rule)
		}
	}
	return nil
}

func (c *limitsCluster) stop() {
	for _, r := range c.rules {
		_ = exec.Command("iptables", append([]string{"-D"}, r...)...).Run()
	}
	for _, p := range c.procs {
		_ = p.Process.Kill()
		_ = p.Wait()
	}
	for _, f := range c.closers {
		_ = f()
	}
}
