//go:build linux

package dataplane

import (
	"fmt"
	"maps"
	"net"
	"runtime"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/tollgate/tollgate/internal/uring"
)

// The event-loop engine (Options.Engine "epoll") serves HTTP/1.1 (over TLS
// too: evtls_linux.go) the
// way nginx does: one loop per CPU, each a goroutine that
// waits in epoll_wait for every socket it owns, client and upstream alike,
// and reads a socket only when the kernel says it is readable. A request
// costs no goroutine switch, no empty read and no wake-up of another
// thread. make bench measured a bare loop of this kind at 1.14x nginx's
// throughput on the 2-core bench machine, where the goroutine-per-
// connection server reaches about 0.6x.
//
// The loop serves the common case itself: a request without a body, or
// with a Content-Length body of up to evMaxBody that it takes in whole, on a
// route whose policies are all inline (auth, rate limits, header
// transforms: see InlinePolicy), mirrored or not, to a plain-HTTP
// service whose targets have IP addresses (names are looked up in the
// background: resolve.go), answered by a response that
// arrives whole within evMaxResponse. Everything else is served by the
// goroutine server without a change in behaviour: a connection whose
// request the loop does not serve is handed over, bytes read included,
// before anything of that request is done (evclient_linux.go), and a
// response too large or slow to buffer is streamed by a goroutine that
// then keeps the connection (evexchange_linux.go).

// evScanEvery is how often a loop checks its sockets' deadlines: the
// header, idle, connect and upstream timeouts are kept to this precision.
const evScanEvery = 100 * time.Millisecond

// evSocket is a socket a loop waits on.
type evSocket interface {
	// ready handles the epoll events of the socket.
	ready(l *evLoop, events uint32)
	// expire handles a deadline that passed at now, if the socket has one.
	expire(l *evLoop, now time.Time)
}

// evLoop is one event loop: an epoll instance, the sockets registered in
// it, and its own pool of idle upstream connections. Only the loop's
// goroutine touches its fields, except post.
type evLoop struct {
	s       *h1Server
	g       *Gateway
	epfd    int
	lfd     int  // the loop's duplicate of the listener; -1 once closed
	full    bool // the listener is out of epoll: Options.MaxConns are open
	wakeFD  int  // eventfd that post writes to
	sockets evSockets
	clients int // client connections open on the loop
	// load counts the client connections given to the loop, open or on
	// their way (see assign); any loop reads it.
	load    atomic.Int32
	peers   []*evLoop // every loop of the listener, this one included
	idle    map[string][]*evUpstream
	now     time.Time
	scanned time.Time
	yielded time.Time // when the loop last yielded (evYieldEvery)
	quiet   bool      // the last wait timed out: the next one parks (evpark_linux.go)
	poll    evPoll    // polling for upstream answers (evpoll_linux.go)
	exited  chan struct{}

	// closedAll says closeAll ran (Server.Close): a connection delivered
	// since is closed, not opened.
	closedAll bool

	mu       sync.Mutex
	tasks    []func()
	incoming []evIncoming // connections another loop accepted for this one
	ended    bool         // wakeFD is closed: post does nothing

	up     upstreamScratch
	counts evCounts

	// Sends through io_uring (evring_linux.go); ring is nil without it.
	ring    *uring.Ring
	ringOps []evSender // the sockets of the queued sends, by user data
	sent    []evSender // sockets whose send results wait for afterSend
	comps   []uring.Completion
}

// evCounts counts what a loop did with requests.
type evCounts struct {
	served       atomic.Uint64 // answered on the loop
	handedOff    atomic.Uint64 // connections given to the goroutine server
	streamed     atomic.Uint64 // responses streamed by a goroutine (escalate)
	takenBack    atomic.Uint64 // connections the goroutine server gave back (takeBack)
	parked       atomic.Uint64 // waits parked in the netpoller (park)
	polled       atomic.Uint64 // waits spent polling for an upstream answer (pollUpstream)
	pollAnswered atomic.Uint64 // of those, the ones an event ended
}

// LoopStats sums the counts of every event loop of g since it started.
func (g *Gateway) LoopStats() LoopStats {
	var st LoopStats
	g.srvMu.Lock()
	defer g.srvMu.Unlock()
	servers := slices.AppendSeq(slices.Clone(g.retired), maps.Keys(g.servers))
	for _, srv := range servers {
		s, ok := srv.(*h1Server)
		if !ok {
			continue
		}
		s.mu.Lock()
		e, _ := s.engine.(*evEngine)
		s.mu.Unlock()
		if e == nil {
			continue
		}
		for _, l := range e.loops {
			st.Served += l.counts.served.Load()
			st.HandedOff += l.counts.handedOff.Load()
			st.Streamed += l.counts.streamed.Load()
			st.TakenBack += l.counts.takenBack.Load()
			st.Polls += l.counts.polled.Load()
			st.PollsAnswered += l.counts.pollAnswered.Load()
		}
	}
	return st
}

// loopCounts is LoopStats in short, for tests.
func (g *Gateway) loopCounts() (served, handedOff, streamed uint64) {
	st := g.LoopStats()
	return st.Served, st.HandedOff, st.Streamed
}

// evEngine is the set of loops serving one listener.
type evEngine struct {
	loops []*evLoop
}

// startLoops starts the loops of s on ln, which must be a TCP listener.
func startLoops(s *h1Server, ln net.Listener) (loopEngine, error) {
	tl, ok := ln.(*net.TCPListener)
	if !ok {
		return nil, fmt.Errorf("event loop engine: %T is not a TCP listener", ln)
	}
	e := &evEngine{}
	n := s.g.opts.EventLoops
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	for range n {
		l, err := newEvLoop(s, tl)
		if err != nil {
			for _, started := range e.loops { // none runs yet
				started.release()
			}
			return nil, err
		}
		e.loops = append(e.loops, l)
	}
	for _, l := range e.loops {
		l.peers = e.loops
		go l.run()
	}
	return e, nil
}

// takeBack gives in.fd, a kept connection between two requests (or a TLS
// one after its handshake), to the loop with the fewest clients, and
// reports false (fd untouched) when no loop can take it: they are
// shutting down or ended.
func (e *evEngine) takeBack(in evIncoming) bool {
	if len(e.loops) == 0 || e.loops[0].s.shutting.Load() {
		return false
	}
	target := e.loops[0]
	for _, l := range e.loops[1:] {
		if l.load.Load() < target.load.Load() {
			target = l
		}
	}
	target.load.Add(1)
	target.s.incoming.Add(1)
	if h := testHookTakeBack.Load(); h != nil {
		(*h)()
	}
	if target.deliver(in) {
		target.counts.takenBack.Add(1)
		return true
	}
	target.s.incoming.Add(-1)
	target.load.Add(-1)
	return false
}

// testHookTakeBack, when set, runs in takeBack between its check of
// shutting and the delivery: tests hold a connection there.
var testHookTakeBack atomic.Pointer[func()]

// stopAccepting makes every loop open the clients waiting in the
// listener's queue and close its listener, and returns when they have; a
// loop ends once its last client connection is gone.
func (e *evEngine) stopAccepting() {
	var waits []chan struct{}
	for _, l := range e.loops {
		done := make(chan struct{})
		if l.post(func() { l.stopAccepting(); close(done) }) {
			waits = append(waits, done)
		} else {
			waits = append(waits, nil)
		}
	}
	for i, done := range waits {
		if done != nil {
			select {
			case <-done:
			case <-e.loops[i].exited: // ended without running it (Close)
			}
		}
	}
}

// closeIdle makes every loop close its idle clients; Shutdown calls it
// once no loop holds the listener any more.
func (e *evEngine) closeIdle() {
	for _, l := range e.loops {
		l.post(l.closeIdleClients)
	}
}

// closeAll closes every connection of every loop at once.
func (e *evEngine) closeAll() {
	for _, l := range e.loops {
		l.post(l.closeAll)
	}
}

// wait returns when every loop has ended.
func (e *evEngine) wait() {
	for _, l := range e.loops {
		<-l.exited
	}
}

func newEvLoop(s *h1Server, tl *net.TCPListener) (*evLoop, error) {
	l := &evLoop{s: s, g: s.g, lfd: -1, wakeFD: -1,
		idle: map[string][]*evUpstream{}, exited: make(chan struct{})}
	l.poll.max = min(s.g.opts.UpstreamPoll, maxUpstreamPoll)
	if l.poll.max == 0 {
		l.poll.max = defaultUpstreamPoll
	}
	var err error
	if l.epfd, err = syscall.EpollCreate1(syscall.EPOLL_CLOEXEC); err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	if err := syscall.SetNonblock(l.epfd, true); err != nil { // for park's netpoller registration
		l.release()
		return nil, fmt.Errorf("epoll descriptor: %w", err)
	}
	if l.lfd, err = dupListener(tl); err != nil {
		l.release()
		return nil, err
	}
	if err := l.add(l.lfd, syscall.EPOLLIN|epollExclusive); err != nil {
		l.release()
		return nil, err
	}
	wfd, _, errno := syscall.RawSyscall(syscall.SYS_EVENTFD2, 0, syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if errno != 0 {
		l.release()
		return nil, fmt.Errorf("eventfd: %w", errno)
	}
	l.wakeFD = int(wfd)
	if err := l.add(l.wakeFD, syscall.EPOLLIN); err != nil {
		l.release()
		return nil, err
	}
	return l, nil
}

// epollExclusive wakes one loop, not all, for a new connection.
const epollExclusive = 1 << 28

// dupListener returns a non-blocking duplicate of the listener's socket
// for a loop to accept on and to close on its own schedule.
func dupListener(tl *net.TCPListener) (int, error) {
	raw, err := tl.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd := -1
	var dupErr error
	if err := raw.Control(func(s uintptr) {
		fd, dupErr = syscall.Dup(int(s))
	}); err != nil {
		return -1, err
	}
	if dupErr != nil {
		return -1, fmt.Errorf("dup listener: %w", dupErr)
	}
	syscall.CloseOnExec(fd)
	if err := syscall.SetNonblock(fd, true); err != nil {
		syscall.Close(fd)
		return -1, err
	}
	return fd, nil
}

func (l *evLoop) add(fd int, events uint32) error {
	ev := syscall.EpollEvent{Events: events, Fd: int32(fd)}
	if err := syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
		return fmt.Errorf("epoll_ctl add: %w", err)
	}
	return nil
}

func (l *evLoop) modify(fd int, events uint32) {
	ev := syscall.EpollEvent{Events: events, Fd: int32(fd)}
	_ = syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_MOD, fd, &ev)
}

// forget removes fd from the loop without closing it.
func (l *evLoop) forget(fd int) {
	_ = syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_DEL, fd, nil)
	l.sockets.set(fd, nil)
}

// evSockets maps a loop's file descriptors to their sockets. It is a
// slice indexed by descriptor, as descriptors are small and dense: the map
// it replaced cost 3 % of a loop's user time in its lookup per event.
// Entries of descriptors the loop does not hold are nil.
type evSockets []evSocket

// get returns the socket of fd, or nil.
func (s evSockets) get(fd int) evSocket {
	if fd < 0 || fd >= len(s) {
		return nil
	}
	return s[fd]
}

// set makes v the socket of fd; nil removes it.
func (s *evSockets) set(fd int, v evSocket) {
	if fd >= len(*s) {
		if v == nil {
			return
		}
		grown := make(evSockets, max(fd+1, 2*len(*s), 64))
		copy(grown, *s)
		*s = grown
	}
	(*s)[fd] = v
}

// each calls f with every socket, in descriptor order. f may open and
// close sockets: one closed before its turn is skipped.
func (s *evSockets) each(f func(evSocket)) {
	for fd := 0; fd < len(*s); fd++ {
		if v := (*s)[fd]; v != nil {
			f(v)
		}
	}
}

// post runs f on the loop's goroutine soon, and reports false if the
// loop has ended (f will not run). It may be called from any goroutine.
func (l *evLoop) post(f func()) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ended {
		return false
	}
	l.tasks = append(l.tasks, f)
	one := [8]byte{1}
	_, _ = syscall.Write(l.wakeFD, one[:])
	return true
}

// run is the loop: wait, handle what is ready, run posted tasks, check
// deadlines, until the listener is closed and no client is left.
func (l *evLoop) run() {
	// The loop's goroutine is not locked to its thread. It would keep its
	// P without that, since it never blocks in the scheduler, and locking
	// made each yield (evYieldEvery) a hand-off between threads: the
	// thread stopped, another one took the goroutine off the run queue
	// and woke the locked thread to run it, about five futex calls a
	// yield. Measured at 2,000 req/s: futex calls from 1,300 to 530 a
	// second, and CPU per request 111 to 104 µs (median of five rounds).
	defer close(l.exited)
	l.openRing()
	defer l.closeRing()
	defer l.release()
	events := make([]syscall.EpollEvent, 128)
	n := 0
	for l.lfd >= 0 || l.clients > 0 || l.hasIncoming() {
		// A busy loop (more than one event in the last pass) looks for
		// events without blocking first, which costs no scheduler call;
		// a quiet one blocks at once, instead of making a system call
		// that finds nothing (two per request at 2,000 req/s).
		busy := n > 1
		n = 0
		var err error
		if busy {
			n = pollNow(l.epfd, events)
		}
		if n == 0 {
			n = l.pollUpstream(events)
		} else {
			l.poll.until = time.Time{} // events end a poll, as in pollUpstream
		}
		switch {
		case n > 0:
		case l.quiet:
			n, err = l.park(events)
			l.quiet = n == 0 && err == nil
		default:
			n, err = l.block(events)
			l.quiet = n == 0 && err == nil
		}
		if err != nil && err != syscall.EINTR {
			l.g.log.Error("event loop: epoll_wait failed", "err", err)
			return
		}
		l.now = time.Now()
		for _, ev := range events[:max(n, 0)] {
			l.dispatch(int(ev.Fd), ev.Events)
		}
		if l.now.Sub(l.scanned) >= evScanEvery {
			l.scan()
		}
		l.drainRing()
		if l.now.Sub(l.yielded) >= evYieldEvery {
			l.yielded = l.now
			runtime.Gosched()
		}
	}
}

// evYieldEvery is how often a loop yields to the Go scheduler. A loop
// goroutine is never descheduled on its own (its reads and writes are raw
// system calls, and its wait in epoll_wait leaves and takes back its P on
// the fast path), so the runtime's monitor took it for one that ran too
// long, 10 ms after it started: from then on it signalled the loop to
// preempt it and took its P away whenever it waited in epoll_wait,
// every 20 µs (strace: 2,500 nanosleeps a second at 2,000 req/s, and a
// futex hand-off for each P taken). Yielding within those 10 ms, with
// room for a long pass, keeps the loop's P its own. Measured at 2,000
// req/s: CPU per request 116-125 µs without it, 104-107 µs with it at 5 ms.
const evYieldEvery = 8 * time.Millisecond

// dispatch handles one socket's events. A panic (a policy's, say) is
// logged and ends that socket's connection, as the goroutine server ends
// the connection whose handler panicked; the loop goes on.
func (l *evLoop) dispatch(fd int, events uint32) {
	defer func() {
		if v := recover(); v != nil {
			l.logPanic(v)
			l.abandon(l.sockets.get(fd))
		}
	}()
	switch fd {
	case l.lfd:
		l.accept()
	case l.wakeFD:
		l.runTasks()
	default:
		if s := l.sockets.get(fd); s != nil {
			s.ready(l, events)
		}
	}
}

// logPanic logs a panic recovered while serving a request.
func (l *evLoop) logPanic(v any) {
	l.g.log.Error("panic serving a request on an event loop", "panic", v, "stack", string(debug.Stack()))
}

// afterSend runs s.afterSend, recovering a panic as dispatch does.
func (l *evLoop) afterSend(s evSender) {
	defer func() {
		if v := recover(); v != nil {
			l.logPanic(v)
			if sock, ok := s.(evSocket); ok {
				l.abandon(sock)
			}
		}
	}()
	s.afterSend(l)
}

func (l *evLoop) runTasks() {
	var buf [8]byte
	_, _ = syscall.Read(l.wakeFD, buf[:])
	l.mu.Lock()
	tasks, incoming := l.tasks, l.incoming
	l.tasks, l.incoming = nil, nil
	l.mu.Unlock()
	for _, in := range incoming {
		l.s.incoming.Add(-1)
		l.runTask(func() { l.openClient(in) }) // a panic spares the rest
	}
	for _, f := range tasks {
		l.runTask(f)
	}
}

// evIncoming is an accepted connection on its way to a loop, or a kept
// one the goroutine server gives back (between two requests).
type evIncoming struct {
	fd     int
	remote string
	kept   bool
	tls    *evTLS // a TLS connection's state after its handshake
}

// deliver queues a connection for the loop to open, and reports false if
// the loop has ended.
func (l *evLoop) deliver(in evIncoming) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ended {
		return false
	}
	l.incoming = append(l.incoming, in)
	one := [8]byte{1}
	_, _ = syscall.Write(l.wakeFD, one[:])
	return true
}

// runTask runs a posted task; a panic is logged.
func (l *evLoop) runTask(f func()) {
	defer func() {
		if v := recover(); v != nil {
			l.g.log.Error("panic in an event loop task", "panic", v, "stack", string(debug.Stack()))
		}
	}()
	f()
}

// abandon closes the connection of a socket whose handling panicked,
// with the exchange it was part of.
func (l *evLoop) abandon(s evSocket) {
	var c *evClient
	switch s := s.(type) {
	case *evClient:
		c = s
	case *evUpstream:
		if x := s.ex; x != nil {
			c = x.c
		}
		s.close(l)
	}
	if c == nil || c.closed {
		return
	}
	if x := c.ex; x != nil {
		c.ex = nil
		x.abandon(l)
	}
	c.close(l)
}

// scan expires the deadlines that passed, and listens again once below
// Options.MaxConns.
func (l *evLoop) scan() {
	l.scanned = l.now
	if l.full && l.lfd >= 0 && !l.s.atCapacity() {
		l.full = false
		_ = l.add(l.lfd, syscall.EPOLLIN|epollExclusive)
	}
	l.sockets.each(func(s evSocket) { s.expire(l, l.now) })
}

// accept takes the connections waiting on the listener, up to
// Options.MaxConns open, and gives each to a loop (assign).
func (l *evLoop) accept() {
	for l.lfd >= 0 {
		if l.s.atCapacity() {
			l.full = true
			_ = syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_DEL, l.lfd, nil)
			return
		}
		fd, sa, err := syscall.Accept4(l.lfd, syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC)
		if err != nil {
			if err != syscall.EAGAIN && err != syscall.EINTR && err != syscall.ECONNABORTED {
				l.g.log.Warn("event loop: accept failed", "err", err)
			}
			return
		}
		_ = syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1)
		l.assign(fd, sockaddrString(sa))
	}
}

// assign opens an accepted connection on the loop with the fewest
// clients, this one on a tie. The kernel wakes the loops waiting on an
// exclusive listener last in, first out, so the loop that accepts is most
// often the same: of 64 connections dialled in a row, one loop of two
// took 38 to 63, and its clients waited on each other while the other
// loop idled.
func (l *evLoop) assign(fd int, remote string) {
	target := l
	for _, p := range l.peers {
		if p.load.Load() < target.load.Load() {
			target = p
		}
	}
	if l.s.shutting.Load() {
		target = l // the others may be ending
	}
	target.load.Add(1)
	if target != l {
		l.s.incoming.Add(1)
		if target.deliver(evIncoming{fd: fd, remote: remote}) {
			return
		}
		l.s.incoming.Add(-1)
	}
	if target != l { // it ended
		target.load.Add(-1)
		l.load.Add(1)
	}
	l.openClient(evIncoming{fd: fd, remote: remote})
}

// stopAccepting closes the loop's listener. Its idle clients stay open
// until every loop has closed its listener (evEngine.closeIdle).
func (l *evLoop) stopAccepting() {
	if l.lfd >= 0 {
		l.drainBacklog()
		_ = syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_DEL, l.lfd, nil)
		syscall.Close(l.lfd)
		l.lfd = -1
	}
}

// drainBacklog opens, on this loop, the connections waiting in the
// listener's queue before it closes: the kernel resets those when the
// last descriptor of the listener closes, and their clients, which had
// connected and sent a request, got "connection reset" from a node being
// restarted gracefully (make chaos). Each is served one request, answered
// with Connection: close.
func (l *evLoop) drainBacklog() {
	acceptWaiting(l.lfd, func(fd int, sa syscall.Sockaddr) {
		l.load.Add(1)
		l.openClient(evIncoming{fd: fd, remote: sockaddrString(sa)})
	})
}

// hasIncoming reports whether connections delivered to the loop wait to
// be opened.
func (l *evLoop) hasIncoming() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.incoming) > 0
}

// closeAll closes the listener and every client connection, and those
// delivered from now on (see openClient).
func (l *evLoop) closeAll() {
	l.closedAll = true
	l.stopAccepting()
	l.sockets.each(func(s evSocket) {
		if c, ok := s.(*evClient); ok {
			c.close(l)
		}
	})
}

// release closes what the loop owns once it ends.
func (l *evLoop) release() {
	idle := l.idle
	l.idle = map[string][]*evUpstream{}
	for _, list := range idle {
		for _, u := range list {
			u.close(l)
		}
	}
	for fd, s := range l.sockets {
		if s != nil {
			syscall.Close(fd)
		}
	}
	for _, fd := range []int{l.lfd, l.epfd} {
		if fd >= 0 {
			syscall.Close(fd)
		}
	}
	l.lfd = -1
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, in := range l.incoming { // delivered after the last pass
		syscall.Close(in.fd)
		l.load.Add(-1)
		l.s.incoming.Add(-1)
	}
	l.incoming = nil
	l.ended = true // before the descriptor number can be reused
	if l.wakeFD >= 0 {
		syscall.Close(l.wakeFD)
	}
}

func sockaddrString(sa syscall.Sockaddr) string {
	switch a := sa.(type) {
	case *syscall.SockaddrInet4:
		return (&net.TCPAddr{IP: a.Addr[:], Port: a.Port}).String()
	case *syscall.SockaddrInet6:
		return (&net.TCPAddr{IP: a.Addr[:], Port: a.Port}).String()
	}
	return ""
}
