package cluster

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// Every connection to the Raft port starts with one byte naming the
// protocol that follows, so Raft and write forwarding share one port.
const (
	protoRaft    byte = 'R'
	protoForward byte = 'F'
)

// mux accepts connections on the Raft port and hands each to Raft or to
// the forward handler according to its first byte.
type mux struct {
	ln        net.Listener
	tls       *peerTLS // nil: plain TCP
	advertise net.Addr
	log       *slog.Logger
	raftConns chan net.Conn
	forward   func(net.Conn)

	closeOnce sync.Once
	closed    chan struct{}
	wg        sync.WaitGroup
}

// newMux serves ln; with peer TLS every connection must complete mutual
// TLS with a certificate from the cluster CA before its first byte is read.
func newMux(ln net.Listener, pt *peerTLS, advertise net.Addr, log *slog.Logger) *mux {
	if pt != nil {
		ln = tls.NewListener(ln, pt.server)
	}
	return &mux{
		ln: ln, tls: pt, advertise: advertise, log: log,
		raftConns: make(chan net.Conn, 16),
		closed:    make(chan struct{}),
	}
}

// serve runs the accept loop until close. forward handles forward
// connections; it is set before serve starts.
func (m *mux) serve(forward func(net.Conn)) {
	m.forward = forward
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		for {
			conn, err := m.ln.Accept()
			if err != nil {
				select {
				case <-m.closed:
					return
				default:
				}
				if errors.Is(err, net.ErrClosed) {
					return
				}
				m.log.Warn("raft port accept", "err", err)
				time.Sleep(10 * time.Millisecond)
				continue
			}
			go m.dispatch(conn)
		}
	}()
}

func (m *mux) dispatch(conn net.Conn) {
	var b [1]byte
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(conn, b[:]); err != nil {
		if m.tls != nil && !errors.Is(err, io.EOF) {
			m.log.Warn("rejected connection on raft port", "remote", conn.RemoteAddr(), "err", err)
		}
		conn.Close()
		return
	}
	_ = conn.SetReadDeadline(time.Time{})
	switch b[0] {
	case protoRaft:
		select {
		case m.raftConns <- conn:
		case <-m.closed:
			conn.Close()
		}
	case protoForward:
		m.forward(conn)
	default:
		m.log.Warn("unknown protocol on raft port", "byte", b[0], "remote", conn.RemoteAddr())
		conn.Close()
	}
}

func (m *mux) close() {
	m.closeOnce.Do(func() {
		close(m.closed)
		m.ln.Close()
	})
	m.wg.Wait()
}

// dial opens a connection to a peer's Raft port announcing proto, over
// mutual TLS when the cluster has a key.
func (m *mux) dial(addr string, proto byte, timeout time.Duration) (net.Conn, error) {
	conn, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	if m.tls != nil {
		tc := tls.Client(conn, m.tls.client)
		_ = tc.SetDeadline(time.Now().Add(timeout))
		if err := tc.Handshake(); err != nil {
			conn.Close()
			return nil, fmt.Errorf("tls handshake with %s: %w", addr, err)
		}
		_ = tc.SetDeadline(time.Time{})
		conn = tc
	}
	if _, err := conn.Write([]byte{proto}); err != nil {
		conn.Close()
		return nil, fmt.Errorf("write protocol byte to %s: %w", addr, err)
	}
	return conn, nil
}

// raftLayer is the raft.StreamLayer over the mux.
type raftLayer struct{ m *mux }

var _ raft.StreamLayer = raftLayer{}

func (l raftLayer) Accept() (net.Conn, error) {
	select {
	case c := <-l.m.raftConns:
		return c, nil
	case <-l.m.closed:
		return nil, net.ErrClosed
	}
}

func (l raftLayer) Close() error { l.m.close(); return nil }

func (l raftLayer) Addr() net.Addr { return l.m.advertise }

func (l raftLayer) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	return l.m.dial(string(addr), protoRaft, timeout)
}
