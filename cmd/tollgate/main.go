// Command tollgate is the clustered API gateway: `tollgate agent` runs a
// node; `tollgate echo` runs a small demo upstream.
package main

import (
	"fmt"
	"io"
	"os"

	"github.com/tollgate/tollgate/cluster"
)

const usage = `tollgate: a clustered, highly available API gateway

Usage:
  tollgate agent [flags]   run a gateway node (see tollgate agent -h)
  tollgate echo [flags]    run a demo upstream that echoes requests as JSON
  tollgate chaos [flags]   kill, pause, restart and partition a cluster under load; check invariants
  tollgate keygen          print a new random key (for --cluster-key or --admin-token)
  tollgate version         print the version

Talking to a node's admin API:
` + cliUsage

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "agent":
		return runAgent(args[1:], stderr)
	case "echo":
		return runEcho(args[1:], stderr)
	case "chaos":
		return runChaos(args[1:], stdout, stderr)
	case "keygen":
		fmt.Fprintln(stdout, cluster.GenerateKey())
		return 0
	case "version", "--version":
		fmt.Fprintln(stdout, "tollgate", version)
		return 0
	case "apply", "diff", "get", "members", "history", "rollback", "route-match":
		return runCLI(args[0], args[1:], os.Stdin, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "tollgate: unknown command %q\n\n%s", args[0], usage)
	return 2
}
