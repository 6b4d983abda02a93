package chaos

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// localTarget runs N `tollgate agent` processes on loopback, each on its
// own 127.0.0.x address, joined with --join, and an in-process upstream.
type localTarget struct {
	binary string
	dir    string // work dir: data dirs (and the binary's copy); removed by Close
	logDir string // node logs
	log    *slog.Logger
	nodes  []*localNode
	up     *httptest.Server
	fw     *firewall // nil when partitions are not possible
	fwWhy  string
}

// localNode is one agent process and the command line it always runs with.
type localNode struct {
	Node
	addr    string
	args    []string
	env     []string
	logPath string
	uid     int // 0: run as the harness's own user
	ports   nodePorts

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// nodePorts are a node's listening ports.
type nodePorts struct {
	HTTP, Admin, Raft, Gossip int
}

// newLocalTarget prepares n nodes under dir. When wantPartition is set
// and the firewall works here, each node runs as its own user so that
// iptables can tell its packets apart.
func newLocalTarget(binary, dir, logDir string, n int, wantPartition bool, log *slog.Logger) (*localTarget, error) {
	t := &localTarget{binary: binary, dir: dir, logDir: logDir, log: log}
	if wantPartition {
		t.fw, t.fwWhy = newFirewall(log)
	} else {
		t.fwWhy = "partition not requested"
	}
	if t.fw != nil {
		if err := t.shareBinary(); err != nil {
			t.fw, t.fwWhy = nil, err.Error()
		}
	}
	key, err := clusterKey()
	if err != nil {
		return nil, err
	}
	if err := t.prepare(n, key); err != nil {
		return nil, err
	}
	return t, nil
}

// shareBinary copies the binary where other users may run it.
func (t *localTarget) shareBinary() error {
	if err := os.Chmod(t.dir, 0o755); err != nil {
		return fmt.Errorf("chmod work dir: %w", err)
	}
	dst := filepath.Join(t.dir, "tollgate")
	in, err := os.Open(t.binary)
	if err != nil {
		return fmt.Errorf("open binary: %w", err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return fmt.Errorf("copy binary: %w", err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy binary: %w", err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("copy binary: %w", err)
	}
	t.binary = dst
	return nil
}

func clusterKey() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("cluster key: %w", err)
	}
	return base64.StdEncoding.EncodeToString(b), nil
}

// prepare picks addresses and ports and writes each node's command line.
func (t *localTarget) prepare(n int, key string) error {
	addrs := loopbackAddrs(n)
	gossip := make([]string, n)
	t.nodes = make([]*localNode, n)
	for i := range n {
		p, err := freePorts(addrs[i])
		if err != nil {
			return err
		}
		t.nodes[i] = &localNode{addr: addrs[i], ports: p}
		gossip[i] = net.JoinHostPort(addrs[i], strconv.Itoa(p.Gossip))
	}
	for i, nd := range t.nodes {
		if err := t.describe(i, nd, gossip, key); err != nil {
			return err
		}
	}
	return nil
}

func (t *localTarget) describe(i int, nd *localNode, gossip []string, key string) error {
	nd.ID = fmt.Sprintf("node%d", i+1)
	hp := func(p int) string { return net.JoinHostPort(nd.addr, strconv.Itoa(p)) }
	nd.HTTP, nd.Admin = "http://"+hp(nd.ports.HTTP), "http://"+hp(nd.ports.Admin)
	var join []string
	for j, g := range gossip {
		if j != i {
			join = append(join, g)
		}
	}
	dataDir := filepath.Join(t.dir, nd.ID)
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	if t.fw != nil {
		nd.uid = firewallUIDBase + i
		if err := os.Chown(dataDir, nd.uid, nd.uid); err != nil {
			return fmt.Errorf("chown data dir: %w", err)
		}
	}
	nd.logPath = filepath.Join(t.logDir, nd.ID+".log")
	nd.env = append(os.Environ(), "TOLLGATE_CLUSTER_KEY="+key)
	nd.args = []string{"agent", "--node-id", nd.ID, "--data-dir", dataDir,
		"--http-addr", hp(nd.ports.HTTP), "--admin-addr", hp(nd.ports.Admin),
		"--raft-addr", hp(nd.ports.Raft), "--gossip-addr", hp(nd.ports.Gossip),
		"--join", strings.Join(join, ","), "--log-format", "text"}
	return nil
}

// loopbackAddrs gives each node its own 127.0.0.x address where the
// system routes the whole 127/8 to loopback (Linux), else 127.0.0.1.
func loopbackAddrs(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = "127.0.0.1"
	}
	ln, err := net.Listen("tcp", "127.0.0.11:0")
	if err != nil {
		return out
	}
	ln.Close()
	for i := range out {
		out[i] = fmt.Sprintf("127.0.0.%d", 11+i)
	}
	return out
}

// freePorts finds four ports on addr, the gossip one free for UDP too.
func freePorts(addr string) (nodePorts, error) {
	var p nodePorts
	for _, dst := range []*int{&p.HTTP, &p.Admin, &p.Raft, &p.Gossip} {
		port, err := freePort(addr)
		if err != nil {
			return p, err
		}
		*dst = port
	}
	return p, nil
}

func freePort(addr string) (int, error) {
	for range 50 {
		ln, err := net.Listen("tcp", net.JoinHostPort(addr, "0"))
		if err != nil {
			return 0, fmt.Errorf("find a free port: %w", err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if pc, err := net.ListenPacket("udp", net.JoinHostPort(addr, strconv.Itoa(port))); err == nil {
			pc.Close()
			return port, nil
		}
	}
	return 0, fmt.Errorf("find a free port on %s: none free for TCP and UDP", addr)
}

func (t *localTarget) Name() string {
	return fmt.Sprintf("%d local processes", len(t.nodes))
}

func (t *localTarget) Nodes() []Node {
	out := make([]Node, len(t.nodes))
	for i, n := range t.nodes {
		out[i] = n.Node
	}
	return out
}

func (t *localTarget) UpstreamURL() string { return t.up.URL }

// Start starts the upstream and every node, and waits for a leader that
// every node agrees on.
func (t *localTarget) Start(ctx context.Context) error {
	t.up = httptest.NewServer(http.HandlerFunc(upstreamHandler))
	if t.fw != nil {
		if err := t.fw.install(len(t.nodes)); err != nil {
			t.log.Warn("firewall unusable; partitions will be skipped", "err", err)
			_ = t.fw.remove()
			t.fw, t.fwWhy = nil, "skipped: "+err.Error()
		}
	}
	for i := len(t.nodes) - 1; i >= 0; i-- {
		if err := t.startNode(t.nodes[i]); err != nil {
			return err
		}
	}
	c := newAdminClient("")
	defer c.close()
	return waitAgreedLeader(ctx, c, t.Nodes(), 60*time.Second)
}

// upstreamHandler is the demo upstream: a short answer naming the path.
func upstreamHandler(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain")
	io.WriteString(w, "ok "+r.URL.Path+"\n")
}

func (t *localTarget) startNode(n *localNode) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.done != nil {
		select {
		case <-n.done:
		default:
			return fmt.Errorf("start %s: already running", n.ID)
		}
	}
	logf, err := os.OpenFile(n.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("node log: %w", err)
	}
	fmt.Fprintf(logf, "=== chaos: start %s at %s: %s %s\n", n.ID, time.Now().Format(time.RFC3339Nano), t.binary, strings.Join(n.args, " "))
	cmd := exec.Command(t.binary, n.args...)
	cmd.Env = n.env
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if n.uid != 0 {
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: uint32(n.uid), Gid: uint32(n.uid)}
	}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start %s: %w", n.ID, err)
	}
	done := make(chan struct{})
	go func() {
		err := cmd.Wait()
		fmt.Fprintf(logf, "=== chaos: %s exited at %s: %v\n", n.ID, time.Now().Format(time.RFC3339Nano), err)
		logf.Close()
		close(done)
	}()
	n.cmd, n.done = cmd, done
	return nil
}

// running returns the node's process and exit channel, or errNodeDown.
func (n *localNode) running() (*exec.Cmd, chan struct{}, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil {
		return nil, nil, fmt.Errorf("%s: %w", n.ID, errNodeDown)
	}
	select {
	case <-n.done:
		return nil, nil, fmt.Errorf("%s: %w", n.ID, errNodeDown)
	default:
	}
	return n.cmd, n.done, nil
}

func (t *localTarget) signal(i int, sig syscall.Signal) error {
	cmd, _, err := t.nodes[i].running()
	if err != nil {
		return err
	}
	if err := cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("signal %s to %s: %w", sig, t.nodes[i].ID, err)
	}
	return nil
}

// Kill SIGKILLs node i and waits until it has exited.
func (t *localTarget) Kill(ctx context.Context, i int) error {
	cmd, done, err := t.nodes[i].running()
	if err != nil {
		return err
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		return fmt.Errorf("kill %s: %w", t.nodes[i].ID, err)
	}
	return waitDone(ctx, done, 10*time.Second)
}

func waitDone(ctx context.Context, done <-chan struct{}, d time.Duration) error {
	select {
	case <-done:
		return nil
	case <-time.After(d):
		return fmt.Errorf("process did not exit within %s", d)
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (t *localTarget) Revive(ctx context.Context, i int) error { return t.startNode(t.nodes[i]) }

func (t *localTarget) Pause(ctx context.Context, i int) error { return t.signal(i, syscall.SIGSTOP) }

func (t *localTarget) Resume(ctx context.Context, i int) error { return t.signal(i, syscall.SIGCONT) }

// Restart SIGTERMs node i (a leader hands over leadership), waits for it
// to exit, and starts it again with the same command line.
func (t *localTarget) Restart(ctx context.Context, i int) error {
	cmd, done, err := t.nodes[i].running()
	if err != nil {
		return err
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return fmt.Errorf("stop %s: %w", t.nodes[i].ID, err)
	}
	if err := waitDone(ctx, done, 20*time.Second); err != nil {
		_ = cmd.Process.Signal(syscall.SIGKILL)
		<-done
	}
	return t.startNode(t.nodes[i])
}

func (t *localTarget) PartitionSupport() (bool, string) {
	if t.fw == nil {
		return false, t.fwWhy
	}
	return true, ""
}

func (t *localTarget) PartitionHidesNode() bool { return false }

func (t *localTarget) PortsProxied() bool { return false }

func (t *localTarget) Partition(ctx context.Context, i int) error {
	if t.fw == nil {
		return fmt.Errorf("partition: %w: %s", errUnsupported, t.fwWhy)
	}
	return t.fw.isolate(i, t.nodes)
}

func (t *localTarget) Heal(ctx context.Context, i int) error {
	if t.fw == nil {
		return fmt.Errorf("heal: %w: %s", errUnsupported, t.fwWhy)
	}
	return t.fw.heal(i)
}

// Close kills every node, removes firewall rules and stops the upstream.
func (t *localTarget) Close(ctx context.Context) error {
	var errs []error
	for _, n := range t.nodes {
		if cmd, done, err := n.running(); err == nil {
			_ = cmd.Process.Signal(syscall.SIGKILL)
			errs = append(errs, waitDone(ctx, done, 10*time.Second))
		}
	}
	if t.fw != nil {
		errs = append(errs, t.fw.remove())
	}
	if t.up != nil {
		t.up.Close()
	}
	errs = append(errs, os.RemoveAll(t.dir))
	return errors.Join(errs...)
}
