//go:build linux

// Command epollprobe is a bare HTTP/1.1 reverse proxy on raw epoll, Linux
// only: one event loop per CPU, each with its own SO_REUSEPORT listener and
// its own keep-alive upstream connections. It forwards the request head as
// it came plus an X-Request-Id, and answers whatever the upstream sends
// with a Content-Length. It is no gateway: it measures the ceiling of a Go
// proxy that never parks a goroutine, beside nginx in the same run:
//
//	go build -o /tmp/epollprobe ./cmd/epollprobe
//	make bench BENCHFLAGS='-also "probe=/tmp/epollprobe -listen 127.0.0.1:{port} -upstream {upstream}"'
//
// On the 2-core bench machine it measured 1.14x nginx's throughput, where
// tollgate's goroutine server reached 0.61x; that is why the data plane
// has an event-loop engine (dataplane/evloop_linux.go).
package main

import (
	"bytes"
	"flag"
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
	"syscall"

	"github.com/tollgate/tollgate/internal/uring"
)

type conn struct {
	fd       int
	upstream bool
	in       []byte
	n        int
	out      []byte
	peer     *conn
	pending  bool // upstream: connect in progress
	sending  bool // a send is queued on the ring
	reading  bool // a receive is queued on the ring
}

type loop struct {
	epfd     int
	lfd      int
	conns    map[int]*conn
	idle     []*conn
	up       syscall.SockaddrInet4
	seq      uint64
	id       int
	useRing  bool
	sendOnly bool
	ring     *uring.Ring // with -uring: sends and receives go through it
	comps    []uring.Completion
}

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "")
	upstream := flag.String("upstream", "", "")
	useRing := flag.Bool("uring", false, "batch each loop pass's sends and receives in io_uring submissions")
	sendOnly := flag.Bool("uring-send-only", false, "with -uring, receive with recvfrom")
	flag.Parse()
	la, err := net.ResolveTCPAddr("tcp4", *listen)
	must(err)
	ua, err := net.ResolveTCPAddr("tcp4", *upstream)
	must(err)
	n := runtime.GOMAXPROCS(0)
	done := make(chan struct{})
	for i := range n {
		l := &loop{conns: map[int]*conn{}, id: i}
		copy(l.up.Addr[:], ua.IP.To4())
		l.up.Port = ua.Port
		must(l.open(la))
		l.useRing, l.sendOnly = *useRing, *sendOnly
		go l.run()
	}
	fmt.Println("epollprobe listening", *listen)
	<-done
}

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func (l *loop) open(la *net.TCPAddr) error {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1)
	syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, 0xf /* SO_REUSEPORT */, 1)
	sa := &syscall.SockaddrInet4{Port: la.Port}
	copy(sa.Addr[:], la.IP.To4())
	if err := syscall.Bind(fd, sa); err != nil {
		return err
	}
	if err := syscall.Listen(fd, 4096); err != nil {
		return err
	}
	l.lfd = fd
	l.epfd, err = syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return err
	}
	return syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_ADD, fd, &syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(fd)})
}

func (l *loop) run() {
	runtime.LockOSThread()
	if l.useRing { // on the thread that submits (IORING_SETUP_SINGLE_ISSUER)
		var err error
		l.ring, err = uring.New(512)
		must(err)
	}
	events := make([]syscall.EpollEvent, 256)
	for {
		if l.ring != nil {
			l.runRing(events)
			continue
		}
		for _, ev := range l.wait(events) {
			fd := int(ev.Fd)
			c := l.connOf(fd)
			if c == nil {
				continue
			}
			if ev.Events&(syscall.EPOLLERR|syscall.EPOLLHUP) != 0 && ev.Events&syscall.EPOLLIN == 0 {
				l.close(c)
				continue
			}
			if ev.Events&syscall.EPOLLOUT != 0 {
				l.writable(c)
			}
			if ev.Events&syscall.EPOLLIN != 0 && l.conns[fd] == c {
				l.readable(c)
			}
		}
	}
}

// wait returns the events epoll reports, none when interrupted.
func (l *loop) wait(events []syscall.EpollEvent) []syscall.EpollEvent {
	n, err := syscall.EpollWait(l.epfd, events, -1)
	if err == syscall.EINTR {
		return nil
	}
	if err != nil {
		panic(err)
	}
	return events[:n]
}

// connOf returns the connection of fd; for the listener it accepts and
// returns nil.
func (l *loop) connOf(fd int) *conn {
	if fd == l.lfd {
		l.accept()
		return nil
	}
	return l.conns[fd]
}

func (l *loop) accept() {
	for {
		fd, _, err := syscall.Accept4(l.lfd, syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC)
		if err != nil {
			return
		}
		syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1)
		c := &conn{fd: fd, in: make([]byte, 8192)}
		l.conns[fd] = c
		syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_ADD, fd, &syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP, Fd: int32(fd)})
	}
}

func (l *loop) close(c *conn) {
	delete(l.conns, c.fd)
	syscall.Close(c.fd)
	if p := c.peer; p != nil {
		p.peer = nil
		if p.upstream || c.upstream {
			l.close(p)
		}
	}
}

func (l *loop) readable(c *conn) {
	if c.n == len(c.in) {
		l.close(c)
		return
	}
	m, err := syscall.Read(c.fd, c.in[c.n:])
	if errno, ok := err.(syscall.Errno); ok {
		m = -int(errno)
	}
	l.received(c, m)
}

var crlf2 = []byte("\r\n\r\n")

func (l *loop) request(c *conn) {
	if c.peer != nil {
		return // one exchange at a time per client
	}
	i := bytes.Index(c.in[:c.n], crlf2)
	if i < 0 {
		return
	}
	head := c.in[:i+2]
	l.seq++
	req := make([]byte, 0, len(head)+64)
	req = append(req, head...)
	req = append(req, "X-Request-Id: "...)
	req = strconv.AppendUint(req, uint64(l.id)<<56|l.seq, 16)
	req = append(req, "\r\n\r\n"...)
	rest := copy(c.in, c.in[i+4:c.n])
	c.n = rest
	u := l.upstreamConn()
	if u == nil {
		syscall.Write(c.fd, []byte("HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n"))
		return
	}
	u.peer, c.peer = c, u
	l.send(u, req)
}

func (l *loop) upstreamConn() *conn {
	if k := len(l.idle); k > 0 {
		u := l.idle[k-1]
		l.idle = l.idle[:k-1]
		return u
	}
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1)
	u := &conn{fd: fd, upstream: true, in: make([]byte, 16384)}
	err = syscall.Connect(fd, &l.up)
	if err != nil && err != syscall.EINPROGRESS {
		syscall.Close(fd)
		return nil
	}
	u.pending = err == syscall.EINPROGRESS
	l.conns[fd] = u
	syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_ADD, fd, &syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLOUT | syscall.EPOLLRDHUP, Fd: int32(fd)})
	return u
}

// send writes b to c now, or keeps the rest for EPOLLOUT.
func (l *loop) send(c *conn, b []byte) {
	if l.ring != nil && !c.pending && len(c.out) == 0 {
		c.out = append(c.out, b...)
		c.sending = true
		l.ring.Send(c.fd, c.out, uint64(c.fd))
		return
	}
	if c.pending || len(c.out) > 0 || c.sending {
		c.out = append(c.out, b...)
		return
	}
	m, err := syscall.Write(c.fd, b)
	if err != nil && err != syscall.EAGAIN {
		l.close(c)
		return
	}
	if m < 0 {
		m = 0
	}
	if m < len(b) {
		c.out = append(c.out, b[m:]...)
		syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_MOD, c.fd, &syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLOUT | syscall.EPOLLRDHUP, Fd: int32(c.fd)})
	}
}

func (l *loop) writable(c *conn) {
	c.pending = false
	if len(c.out) > 0 {
		m, err := syscall.Write(c.fd, c.out)
		if err != nil && err != syscall.EAGAIN {
			l.close(c)
			return
		}
		if m > 0 {
			c.out = c.out[m:]
		}
	}
	if len(c.out) == 0 {
		c.out = nil
		syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_MOD, c.fd, &syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP, Fd: int32(c.fd)})
	}
}

var clKey = []byte("\r\ncontent-length:")

func (l *loop) response(u *conn) {
	buf := u.in[:u.n]
	i := bytes.Index(buf, crlf2)
	if i < 0 {
		return
	}
	head := buf[:i+2]
	j := bytes.Index(bytes.ToLower(head), clKey)
	if j < 0 {
		l.close(u)
		return
	}
	v := head[j+len(clKey):]
	v = v[:bytes.IndexByte(v, '\r')]
	cl, err := strconv.Atoi(string(bytes.TrimSpace(v)))
	if err != nil {
		l.close(u)
		return
	}
	total := i + 4 + cl
	if u.n < total {
		return
	}
	c := u.peer
	if c != nil {
		l.send(c, buf[:total])
		c.peer = nil
	}
	u.n = copy(u.in, u.in[total:u.n])
	u.peer = nil
	l.idle = append(l.idle, u)
	if c != nil && l.conns[c.fd] == c && c.n > 0 {
		l.request(c)
	}
}

// runRing is one pass of the loop with -uring: wait for events, receive
// from every readable socket in one submission, handle what came, and
// send what that produced in a second one.
func (l *loop) runRing(events []syscall.EpollEvent) {
	for _, ev := range l.wait(events) {
		fd := int(ev.Fd)
		c := l.connOf(fd)
		if c == nil {
			continue
		}
		if ev.Events&syscall.EPOLLOUT != 0 && !c.sending {
			l.writable(c)
		}
		if ev.Events&(syscall.EPOLLIN|syscall.EPOLLERR|syscall.EPOLLHUP) != 0 && !c.reading && l.conns[fd] == c {
			if c.n == len(c.in) {
				l.close(c)
				continue
			}
			if l.sendOnly {
				l.readable(c)
				continue
			}
			c.reading = true
			l.ring.Recv(fd, c.in[c.n:], uint64(fd))
		}
	}
	l.submit()
	for l.ring.Space() < 512 { // sends the receives produced
		l.submit()
	}
}

// submit submits what is queued and handles the completions.
func (l *loop) submit() {
	var err error
	l.comps, err = l.ring.Submit(l.comps[:0])
	if err != nil {
		panic(err)
	}
	for _, comp := range l.comps {
		c := l.conns[int(comp.UserData)]
		if c == nil {
			continue
		}
		switch {
		case c.reading:
			c.reading = false
			l.received(c, int(comp.Res))
		case c.sending:
			c.sending = false
			l.sent(c, int(comp.Res))
		}
	}
}

// received takes res bytes read into c, or a negated errno.
func (l *loop) received(c *conn, res int) {
	if res == -int(syscall.EAGAIN) {
		return
	}
	if res <= 0 {
		l.close(c)
		return
	}
	c.n += res
	if c.upstream {
		l.response(c)
	} else {
		l.request(c)
	}
}

func (l *loop) sent(c *conn, res int) {
	if res < 0 && res != -int(syscall.EAGAIN) {
		l.close(c)
		return
	}
	c.out = c.out[max(res, 0):]
	if len(c.out) > 0 {
		syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_MOD, c.fd, &syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLOUT | syscall.EPOLLRDHUP, Fd: int32(c.fd)})
	} else {
		c.out = c.out[:0]
	}
}
