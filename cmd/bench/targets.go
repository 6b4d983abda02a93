package main

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// payload is the ~60-byte JSON body every upstream answers with.
const payload = `{"id":1,"name":"tollgate","items":[1,2,3],"ok":true,"n":42}`

// target is one thing the load is pointed at.
type target struct {
	name   string
	url    string
	header string // "Name: value" sent with every request; "" for none
	pid    int    // the process serving it (with its children); 0: not measured
}

// environment owns the processes a bench run starts.
type environment struct {
	dir   string
	extra []string   // more flags for the tollgate agent
	also  string     // name=command of one more proxy to measure; "" for none
	cert  *benchCert // with -tls: the certificate the proxies serve; nil: plain HTTP
	log   *slog.Logger
	procs []*exec.Cmd
	srv   *http.Server
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// startTargets starts the upstream, nginx (if installed) and tollgate.
// With a certificate (-tls) the proxies are reached over TLS; the
// upstream, direct or behind them, stays plain HTTP.
func (e *environment) startTargets(bin string) ([]target, error) {
	up, err := e.startUpstream()
	if err != nil {
		return nil, fmt.Errorf("upstream: %w", err)
	}
	targets := []target{{name: "direct", url: up + "/item", pid: e.lastPid()}}
	if _, err := exec.LookPath("nginx"); err == nil {
		u, err := e.startNginx("proxy", nginxProxyConf(up, e.cert), e.cert != nil)
		if err != nil {
			return nil, fmt.Errorf("nginx proxy: %w", err)
		}
		targets = append(targets, target{name: "nginx", url: u + "/item", pid: e.lastPid()})
	} else {
		e.log.Warn("nginx not installed: no nginx baseline (apt-get install nginx)")
	}
	tg, err := e.startTollgate(bin, up)
	if err != nil {
		return nil, fmt.Errorf("tollgate: %w", err)
	}
	pid := e.lastPid()
	targets = append(targets, target{name: "tollgate", url: tg + "/item", pid: pid},
		target{name: "tollgate+chain", url: tg + "/chain", header: "Authorization: Bearer " + benchToken(), pid: pid})
	if e.also != "" {
		t, err := e.startAlso(up)
		if err != nil {
			return nil, fmt.Errorf("-also: %w", err)
		}
		targets = append(targets, t)
	}
	return targets, nil
}

// startAlso starts the -also proxy in front of upstream. With -tls it is
// reached over TLS, on the certificate and key files {cert} and {key}.
func (e *environment) startAlso(upstream string) (target, error) {
	name, command, ok := strings.Cut(e.also, "=")
	if !ok || name == "" || command == "" {
		return target{}, fmt.Errorf("want name=command, got %q", e.also)
	}
	port, err := freePort()
	if err != nil {
		return target{}, err
	}
	var certFile, keyFile string
	if e.cert != nil {
		certFile, keyFile = e.cert.certFile, e.cert.keyFile
	}
	command = strings.NewReplacer("{port}", fmt.Sprint(port), "{upstream}", strings.TrimPrefix(upstream, "http://"),
		"{cert}", certFile, "{key}", keyFile).Replace(command)
	args := strings.Fields(command)
	if err := e.start(exec.Command(args[0], args[1:]...), filepath.Join(e.dir, name+".log")); err != nil {
		return target{}, err
	}
	url := localURL(port, e.cert != nil)
	return target{name: name, url: url + "/item", pid: e.lastPid()}, waitHTTP(url+"/item", 200)
}

// startUpstream serves payload from nginx with one worker when nginx is
// installed (the fastest upstream available), else from net/http.
func (e *environment) startUpstream() (string, error) {
	if _, err := exec.LookPath("nginx"); err == nil {
		return e.startNginx("upstream", nginxUpstreamConf, false)
	}
	port, err := freePort()
	if err != nil {
		return "", err
	}
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return "", err
	}
	e.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(payload))
	})}
	go e.srv.Serve(ln)
	return "http://" + ln.Addr().String(), nil
}

const nginxUpstreamConf = `worker_processes 1;
events { worker_connections 4096; }
http {
  access_log off;
  server {
    listen 127.0.0.1:%PORT% backlog=4096;
    location / { default_type application/json; return 200 '` + payload + `'; }
  }
}
`

// nginxProxyConf is nginx as a keep-alive reverse proxy to upstream with
// 2 workers, terminating TLS with cert when it is not nil.
func nginxProxyConf(upstream string, cert *benchCert) string {
	return `worker_processes 2;
events { worker_connections 4096; }
http {
  access_log %DIR%/nginx-access.log combined buffer=64k flush=1s;
  upstream backend { server ` + strings.TrimPrefix(upstream, "http://") + `; keepalive 128; }
  server {
    ` + nginxListen(cert) + `
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-Request-Id $request_id;
    }
  }
}
`
}

// startNginx runs nginx with conf, its %PORT% and %DIR% filled in, and
// returns its base URL, https when secure.
func (e *environment) startNginx(name, conf string, secure bool) (string, error) {
	port, err := freePort()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(e.dir, "nginx-"+name)
	if err := os.MkdirAll(filepath.Join(dir, "logs"), 0o755); err != nil {
		return "", err
	}
	conf = strings.NewReplacer("%PORT%", fmt.Sprint(port), "%DIR%", dir).Replace(conf)
	conf = "pid " + dir + "/nginx.pid;\nerror_log " + dir + "/error.log warn;\n" + conf
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		return "", err
	}
	cmd := exec.Command("nginx", "-p", dir, "-c", path, "-g", "daemon off;")
	if err := e.start(cmd, filepath.Join(dir, "stdout.log")); err != nil {
		return "", err
	}
	url := localURL(port, secure)
	return url, waitHTTP(url+"/item", 200)
}

// startTollgate runs the agent with chainSeed in front of upstream and
// returns the data plane's base URL: with a certificate, its
// --https-addr listener serving it.
func (e *environment) startTollgate(bin, upstream string) (string, error) {
	ports := make([]int, 5)
	for i := range ports {
		p, err := freePort()
		if err != nil {
			return "", err
		}
		ports[i] = p
	}
	seed := filepath.Join(e.dir, "tollgate-seed.yaml")
	if err := os.WriteFile(seed, []byte(tollgateSeed(upstream, e.cert)), 0o644); err != nil {
		return "", err
	}
	cmd := exec.Command(bin, "agent", "--data-dir", filepath.Join(e.dir, "tollgate-data"),
		"--http-addr", fmt.Sprintf("127.0.0.1:%d", ports[0]), "--admin-addr", fmt.Sprintf("127.0.0.1:%d", ports[1]),
		"--raft-addr", fmt.Sprintf("127.0.0.1:%d", ports[2]), "--gossip-addr", fmt.Sprintf("127.0.0.1:%d", ports[3]),
		"--seed-config", seed)
	url := localURL(ports[0], false)
	if e.cert != nil {
		cmd.Args = append(cmd.Args, "--https-addr", fmt.Sprintf("127.0.0.1:%d", ports[4]))
		url = localURL(ports[4], true)
	}
	cmd.Args = append(cmd.Args, e.extra...)
	// The access log (one JSON line per request) goes to a file, as in production.
	if err := e.start(cmd, filepath.Join(e.dir, "tollgate.log")); err != nil {
		return "", err
	}
	return url, waitHTTP(url+"/item", 200)
}

// tollgateSeed is the gateway's seed config: chainSeed in front of
// upstream, serving cert on --https-addr when it is not nil.
func tollgateSeed(upstream string, cert *benchCert) string {
	doc := fmt.Sprintf(chainSeed, upstream)
	if cert != nil {
		doc += cert.seedYAML()
	}
	return doc
}

func (e *environment) start(cmd *exec.Cmd, logPath string) error {
	f, err := os.Create(logPath)
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	e.procs = append(e.procs, cmd)
	return nil
}

// lastPid is the pid of the process started last; 0 when the last target
// started is served in-process (the net/http upstream without nginx).
func (e *environment) lastPid() int {
	if len(e.procs) == 0 || e.srv != nil {
		return 0
	}
	return e.procs[len(e.procs)-1].Process.Pid
}

func (e *environment) stopAll() {
	for _, p := range e.procs {
		_ = p.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { p.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = p.Process.Kill()
		}
	}
	if e.srv != nil {
		e.srv.Close()
	}
}

// waitHTTP polls url until it answers with status, for up to 15 s. An
// https url's self-signed certificate is not verified (the load
// generators do not verify it either).
func waitHTTP(url string, status int) error {
	deadline := time.Now().Add(15 * time.Second)
	c := http.Client{Timeout: time.Second, Transport: &http.Transport{TLSClientConfig: insecureTLS()}}
	defer c.CloseIdleConnections()
	last := "no answer"
	for time.Now().Before(deadline) {
		resp, err := c.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == status {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s did not answer %d within 15s (last: %s)", url, status, last)
}
