//go:build linux

package dataplane

import (
	"runtime"
	"syscall"
	"time"
)

// A loop that has sent a request upstream and has nothing else to do
// polls for the answer for a short while before it sleeps in epoll_wait.
// On the 2-core bench machine an idle CPU halts, and waking a thread on
// it costs tens of microseconds: at 2,000 req/s the loops spent 110 µs
// (p50) between sending a request to a local upstream and reading its
// answer, of which the upstream's own work is a small part. Polling
// through that wait took it to 85-93 µs. Twenty alternating rounds of
// vegeta at 2,000 req/s: added p50 143 → 131 µs, CPU per request 69 →
// 72 µs (see the README's benchmark section).
//
// The poll is bounded three ways, so that it costs little where it
// cannot help:
//   - it lasts at most Options.UpstreamPoll (10 ms at most), and at most
//     1.5 times the target's recent answer time, an average the loop
//     keeps per target address: a target that answers slowly, remote or
//     loaded, is not polled for, while the loop goes on polling for the
//     fast ones it serves beside it;
//   - it ends at the loop's first event, whatever it is;
//   - between two polls the loop yields its CPU (sched_yield), so a task
//     woken on that CPU, the upstream's own thread say, runs at once
//     instead of waiting behind the loop; where the loops hold every P,
//     it lets the process's other goroutines run too (runtime.Gosched:
//     sched_yield gives up the CPU, not the P). Gosched on every poll
//     cost 10-20 µs of CPU per request at 2,000 req/s, so a process with
//     a P to spare (tollgate agent's default) does without it.
//
// A loaded loop never polls: its next wait finds events at once.

// Options.UpstreamPoll's default, and the most it may be: a longer
// poll would hold off the loop's deadline scans and yields (evYieldEvery).
const (
	defaultUpstreamPoll = 200 * time.Microsecond
	maxUpstreamPoll     = 10 * time.Millisecond
)

// maxPolledTargets bounds the answer times a loop keeps; past it, the
// loop forgets them all and learns them again (targets removed from the
// config would otherwise stay in the map).
const maxPolledTargets = 4096

// evPoll is a loop's state for polling for upstream answers.
type evPoll struct {
	max     time.Duration            // the longest poll; 0 or less: never poll
	answers map[string]time.Duration // per target address: moving average of sent → readable
	until   time.Time                // poll until then, unless an event comes first
}

// sent notes that a request went to the target at addr at now, and sets
// how long the loop may poll for its answer.
func (p *evPoll) sent(now time.Time, addr string) {
	answer := p.answers[addr] // 0: none seen yet
	if p.max <= 0 || answer >= p.max {
		return // off, or the target answers too late to be worth waiting for
	}
	d := p.max
	if answer > 0 {
		d = min(d, answer*3/2)
	}
	if until := now.Add(d); until.After(p.until) {
		p.until = until
	}
}

// answered folds one answer time of the target at addr into its average
// (weight 1/8).
func (p *evPoll) answered(addr string, took time.Duration) {
	if took < 0 || p.max <= 0 {
		return
	}
	answer, seen := p.answers[addr]
	switch {
	case !seen && len(p.answers) >= maxPolledTargets:
		clear(p.answers)
	case p.answers == nil:
		p.answers = make(map[string]time.Duration)
	}
	if !seen {
		p.answers[addr] = took
		return
	}
	p.answers[addr] = answer + (took-answer)/8
}

// pollUpstream polls the loop's sockets until an event comes or the
// poll's time is up, and returns the events' count (0: none came). The
// poll ends either way: the next request sent sets a new one.
func (l *evLoop) pollUpstream(events []syscall.EpollEvent) int {
	until := l.poll.until
	l.poll.until = time.Time{}
	if !until.After(l.now) {
		return 0
	}
	l.counts.polled.Add(1)
	// With a P to spare (tollgate agent runs one more than it has loops),
	// the process's other goroutines run there while the loop polls;
	// without one, the loop lets them run between its polls, at the cost
	// of a pass through the scheduler each time.
	shareP := runtime.GOMAXPROCS(0) <= len(l.peers)
	for {
		if n := pollNow(l.epfd, events); n > 0 {
			l.counts.pollAnswered.Add(1)
			return n
		}
		if !time.Now().Before(until) {
			return 0
		}
		if shareP {
			runtime.Gosched() // sched_yield gives up the CPU, not the P
		}
		_, _, _ = syscall.RawSyscall(syscall.SYS_SCHED_YIELD, 0, 0, 0)
	}
}
