// Package chaos is tollgate's chaos harness: it starts a cluster (local
// processes or the Docker Compose cluster), drives open-loop HTTP load at a
// fixed rate through every node, injects faults on a seeded schedule that
// replays exactly (SIGKILL, SIGSTOP/SIGCONT, restart, partition, killing
// the leader during a config write), writes the config through random
// nodes while it does, and then checks the invariants tollgate promises:
//
//   - every acknowledged config write is in the final history, in order,
//     and the history of versions is linearizable (checked with porcupine);
//   - after the faults stop, every live node serves the same version
//     within 2 s;
//   - no request fails except on a node at the instant it was killed;
//   - a rate-limited route never admits more than 1.10× its limit per
//     window.
//
// The result is a Report: a human-readable summary, a JSON file and a PNG
// timeline of throughput, errors and faults.
//
// The gateway never imports this package; cmd/tollgate exposes it as
// `tollgate chaos`.
package chaos
