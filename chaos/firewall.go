package chaos

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
)

// firewallUIDBase is the first user id local nodes run as when partitions
// are enabled: node i runs as firewallUIDBase+i, so that iptables' owner
// match can tell which node sent a packet (on loopback, a node dials its
// peers from 127.0.0.1 whatever address it listens on).
const firewallUIDBase = 47100

// firewall partitions local nodes with iptables: a chain per node, jumped
// to from OUTPUT, that drops the node's cluster traffic (Raft, forwarding
// and gossip) in both directions and leaves its data plane and admin API
// reachable from the harness.
type firewall struct {
	log    *slog.Logger
	prefix string
	chains []string
}

// newFirewall returns a firewall when this process may use iptables with
// the owner match, else nil and the reason.
func newFirewall(log *slog.Logger) (*firewall, string) {
	const why = "skipped: needs root and iptables with the owner match"
	if os.Geteuid() != 0 {
		return nil, why + " (not root)"
	}
	if _, err := exec.LookPath("iptables"); err != nil {
		return nil, why + " (no iptables)"
	}
	f := &firewall{log: log, prefix: fmt.Sprintf("TGCHAOS%d-", os.Getpid())}
	if err := f.probe(); err != nil {
		return nil, why + ": " + err.Error()
	}
	return f, ""
}

// probe checks that a chain with an owner-match rule can be made.
func (f *firewall) probe() error {
	chain := f.prefix + "probe"
	if err := ipt("-N", chain); err != nil {
		return err
	}
	defer func() { _ = ipt("-X", chain) }()
	err := ipt("-A", chain, "-m", "owner", "--uid-owner", strconv.Itoa(firewallUIDBase), "-j", "RETURN")
	_ = ipt("-F", chain)
	return err
}

func ipt(args ...string) error {
	cmd := exec.Command("iptables", append([]string{"-w", "5"}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("iptables %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return nil
}

func (f *firewall) chain(i int) string { return f.prefix + strconv.Itoa(i) }

// install creates an empty chain per node, jumped to from OUTPUT.
func (f *firewall) install(n int) error {
	for i := range n {
		c := f.chain(i)
		if err := ipt("-N", c); err != nil {
			return err
		}
		f.chains = append(f.chains, c)
		if err := ipt("-I", "OUTPUT", "-j", c); err != nil {
			return err
		}
	}
	return nil
}

// isolate drops every cluster packet to or from node i.
func (f *firewall) isolate(i int, nodes []*localNode) error {
	c := f.chain(i)
	me := nodes[i]
	uid := strconv.Itoa(me.uid)
	own := strconv.Itoa(me.ports.Raft) + "," + strconv.Itoa(me.ports.Gossip)
	rules := [][]string{
		// Peers' packets to this node's cluster ports.
		{"-d", me.addr, "-p", "tcp", "-m", "multiport", "--dports", own, "-j", "DROP"},
		{"-d", me.addr, "-p", "udp", "--dport", strconv.Itoa(me.ports.Gossip), "-j", "DROP"},
		// This node's answers on connections peers opened.
		{"-m", "owner", "--uid-owner", uid, "-p", "tcp", "-m", "multiport", "--sports", own, "-j", "DROP"},
		{"-m", "owner", "--uid-owner", uid, "-p", "udp", "-j", "DROP"},
	}
	for j, p := range nodes {
		if j == i {
			continue
		}
		peer := strconv.Itoa(p.ports.Raft) + "," + strconv.Itoa(p.ports.Gossip)
		// This node's packets to its peers' cluster ports.
		rules = append(rules, []string{"-m", "owner", "--uid-owner", uid, "-d", p.addr,
			"-p", "tcp", "-m", "multiport", "--dports", peer, "-j", "DROP"})
	}
	for _, r := range rules {
		if err := ipt(append([]string{"-A", c}, r...)...); err != nil {
			return err
		}
	}
	return nil
}

// heal removes node i's rules.
func (f *firewall) heal(i int) error {
	return ipt("-F", f.chain(i))
}

// remove deletes every chain this firewall made.
func (f *firewall) remove() error {
	var errs []error
	for _, c := range f.chains {
		errs = append(errs, ipt("-D", "OUTPUT", "-j", c), ipt("-F", c), ipt("-X", c))
	}
	f.chains = nil
	return errors.Join(errs...)
}
