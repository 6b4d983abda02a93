package chaos

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// composeTarget drives the Docker Compose cluster: services n1, n2, ...
// and the echo upstream. It brings the project up from fresh volumes and
// takes it down (volumes included) at the end. Faults use docker itself:
// kill -s KILL/STOP/CONT, stop and start, network disconnect and connect.
type composeTarget struct {
	compose []string // "docker compose" or "docker-compose"
	file    string
	project string
	logDir  string // receives each container's log at Close
	token   string // admin API token
	log     *slog.Logger

	services []string
	ids      []string
	network  string
	nodes    []Node
}

func newComposeTarget(file, project, logDir, token string, log *slog.Logger) (*composeTarget, error) {
	cmd, err := composeCommand()
	if err != nil {
		return nil, err
	}
	return &composeTarget{compose: cmd, file: file, project: project, logDir: logDir, token: token, log: log}, nil
}

// composeCommand returns whichever of `docker compose` (v2) and
// `docker-compose` (v1) works here.
func composeCommand() ([]string, error) {
	if exec.Command("docker", "compose", "version").Run() == nil {
		return []string{"docker", "compose"}, nil
	}
	if _, err := exec.LookPath("docker-compose"); err == nil {
		return []string{"docker-compose"}, nil
	}
	return nil, errNoCompose
}

// run runs a command and returns its trimmed standard output.
func run(ctx context.Context, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return strings.TrimSpace(out.String()), nil
}

func (t *composeTarget) dc(ctx context.Context, args ...string) (string, error) {
	all := append(slices.Clone(t.compose[1:]), "-f", t.file, "-p", t.project)
	return run(ctx, t.compose[0], append(all, args...)...)
}

func (t *composeTarget) docker(ctx context.Context, args ...string) error {
	_, err := run(ctx, "docker", args...)
	return err
}

func (t *composeTarget) Name() string {
	return fmt.Sprintf("compose (%s, %d nodes)", strings.Join(t.compose, " "), len(t.nodes))
}

func (t *composeTarget) Nodes() []Node { return slices.Clone(t.nodes) }

func (t *composeTarget) UpstreamURL() string { return "http://echo:9001" }

// Start brings the project up from fresh volumes and finds each node's
// container, network and published ports.
func (t *composeTarget) Start(ctx context.Context) error {
	if err := t.docker(ctx, "image", "inspect", "tollgate:dev"); err != nil {
		return fmt.Errorf("image tollgate:dev is missing (run `make image`): %w", err)
	}
	if _, err := t.dc(ctx, "down", "-v", "--remove-orphans"); err != nil {
		return err
	}
	if _, err := t.dc(ctx, "up", "-d"); err != nil {
		return err
	}
	if err := t.discover(ctx); err != nil {
		return err
	}
	c := newAdminClient(t.token)
	defer c.close()
	return waitAgreedLeader(ctx, c, t.nodes, 90*time.Second)
}

// isNodeService reports whether a compose service is a gateway node: n1, n2, ...
func isNodeService(s string) bool {
	rest, ok := strings.CutPrefix(s, "n")
	return ok && rest != "" && strings.Trim(rest, "0123456789") == ""
}

func (t *composeTarget) discover(ctx context.Context) error {
	out, err := t.dc(ctx, "config", "--services")
	if err != nil {
		return err
	}
	for _, s := range strings.Fields(out) {
		if isNodeService(s) {
			t.services = append(t.services, s)
		}
	}
	slices.Sort(t.services)
	if len(t.services) == 0 {
		return fmt.Errorf("%w: no services named n1, n2, ... in %s", errNotReady, t.file)
	}
	for _, s := range t.services {
		if err := t.discoverNode(ctx, s); err != nil {
			return err
		}
	}
	return nil
}

func (t *composeTarget) discoverNode(ctx context.Context, svc string) error {
	id, err := t.dc(ctx, "ps", "-q", svc)
	if err != nil {
		return err
	}
	if id == "" {
		return fmt.Errorf("%w: service %s has no container", errNotReady, svc)
	}
	httpPort, err := t.hostPort(ctx, svc, "8080")
	if err != nil {
		return err
	}
	adminPort, err := t.hostPort(ctx, svc, "8081")
	if err != nil {
		return err
	}
	if t.network == "" {
		nets, err := run(ctx, "docker", "inspect", "-f", "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}", id)
		if err != nil {
			return err
		}
		if f := strings.Fields(nets); len(f) > 0 {
			t.network = f[0]
		}
	}
	t.ids = append(t.ids, id)
	t.nodes = append(t.nodes, Node{ID: svc, HTTP: "http://127.0.0.1:" + httpPort, Admin: "http://127.0.0.1:" + adminPort})
	return nil
}

// hostPort is the host port that publishes a service's container port.
func (t *composeTarget) hostPort(ctx context.Context, svc, port string) (string, error) {
	out, err := t.dc(ctx, "port", svc, port)
	if err != nil {
		return "", err
	}
	_, p, err := net.SplitHostPort(strings.TrimSpace(strings.Split(out, "\n")[0]))
	if err != nil {
		return "", fmt.Errorf("%s port %s: %q: %w", svc, port, out, err)
	}
	return p, nil
}

func (t *composeTarget) Kill(ctx context.Context, i int) error {
	return t.docker(ctx, "kill", "-s", "KILL", t.ids[i])
}

func (t *composeTarget) Revive(ctx context.Context, i int) error {
	return t.docker(ctx, "start", t.ids[i])
}

func (t *composeTarget) Pause(ctx context.Context, i int) error {
	return t.docker(ctx, "kill", "-s", "STOP", t.ids[i])
}

func (t *composeTarget) Resume(ctx context.Context, i int) error {
	return t.docker(ctx, "kill", "-s", "CONT", t.ids[i])
}

func (t *composeTarget) Restart(ctx context.Context, i int) error {
	if err := t.docker(ctx, "stop", "-t", "20", t.ids[i]); err != nil {
		return err
	}
	return t.docker(ctx, "start", t.ids[i])
}

func (t *composeTarget) PartitionSupport() (bool, string) { return true, "" }

// PartitionHidesNode: a disconnected container loses its published ports too.
func (t *composeTarget) PartitionHidesNode() bool { return true }

// PortsProxied: published ports go through docker-proxy, which accepts a
// connection for a stopped container and then closes it.
func (t *composeTarget) PortsProxied() bool { return true }

func (t *composeTarget) Partition(ctx context.Context, i int) error {
	return t.docker(ctx, "network", "disconnect", t.network, t.ids[i])
}

// Heal reconnects the container under its service name, which peers use
// to reach it.
func (t *composeTarget) Heal(ctx context.Context, i int) error {
	return t.docker(ctx, "network", "connect", "--alias", t.services[i], t.network, t.ids[i])
}

// Close takes the project down, volumes included; a paused container is
// resumed first so that it can stop.
func (t *composeTarget) Close(ctx context.Context) error {
	var errs []error
	for i, id := range t.ids {
		_ = t.docker(ctx, "kill", "-s", "CONT", id)
		errs = append(errs, t.saveLog(ctx, t.services[i], id))
	}
	if _, err := t.dc(ctx, "down", "-v", "--remove-orphans"); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// saveLog writes a container's log to logDir/<service>.log.
func (t *composeTarget) saveLog(ctx context.Context, svc, id string) error {
	f, err := os.Create(filepath.Join(t.logDir, svc+".log"))
	if err != nil {
		return fmt.Errorf("container log: %w", err)
	}
	defer f.Close()
	cmd := exec.CommandContext(ctx, "docker", "logs", "-t", id)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("docker logs %s: %w", svc, err)
	}
	return nil
}
