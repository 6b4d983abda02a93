package cluster

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// maxForwardFrame caps one forwarded command or response.
const maxForwardFrame = 16 << 20

// forwardRequest is what a follower sends to the leader.
type forwardRequest struct {
	// Op selects what the leader does: "" applies Command; the other ops
	// are in leaderops.go.
	Op string `json:"op,omitempty"`
	// ID names the server an op acts on.
	ID      string `json:"id,omitempty"`
	Command []byte `json:"command"`
	// TimeoutMs is how long the leader may take.
	TimeoutMs int64 `json:"timeout_ms"`
}

// forwardResponse is the leader's answer.
type forwardResponse struct {
	Result []byte `json:"result,omitempty"`
	Index  uint64 `json:"index"`
	// Error is set when the leader could not commit the command.
	Error string `json:"error,omitempty"`
	// NotLeader is set when the receiver was not the leader any more.
	NotLeader bool `json:"not_leader,omitempty"`
}

func writeFrame(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode frame: %w", err)
	}
	var hdr [4]byte
	binary.BigEndian.PutUint32(hdr[:], uint32(len(b)))
	if _, err := w.Write(append(hdr[:], b...)); err != nil {
		return fmt.Errorf("write frame: %w", err)
	}
	return nil
}

func readFrame(r io.Reader, v any) error {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return fmt.Errorf("read frame header: %w", err)
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > maxForwardFrame {
		return fmt.Errorf("frame of %d bytes exceeds %d", n, maxForwardFrame)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return fmt.Errorf("read frame: %w", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("decode frame: %w", err)
	}
	return nil
}

// serveForward handles one forwarded write on the leader.
func (n *Node) serveForward(conn net.Conn) {
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(n.cfg.ApplyTimeout + 5*time.Second))
	var req forwardRequest
	if err := readFrame(conn, &req); err != nil {
		n.log.Warn("bad forward request", "remote", conn.RemoteAddr(), "err", err)
		return
	}
	timeout := time.Duration(req.TimeoutMs) * time.Millisecond
	if timeout <= 0 || timeout > n.cfg.ApplyTimeout {
		timeout = n.cfg.ApplyTimeout
	}
	var resp forwardResponse
	if req.Op != "" {
		resp = n.serveOp(req, timeout)
	} else {
		result, index, err := n.applyLocal(req.Command, timeout)
		switch {
		case errors.Is(err, errNotLeader):
			resp.NotLeader = true
		case err != nil:
			resp.Error = err.Error()
		default:
			resp.Result, resp.Index = result, index
		}
	}
	if err := writeFrame(conn, resp); err != nil {
		n.log.Warn("write forward response", "remote", conn.RemoteAddr(), "err", err)
	}
}

// forward sends cmd to the leader at addr and returns its response.
func (n *Node) forward(ctx context.Context, addr string, cmd []byte) (forwardResponse, error) {
	return n.roundTrip(ctx, addr, forwardRequest{Command: cmd})
}

// roundTrip sends req to the leader at addr and returns its response.
func (n *Node) roundTrip(ctx context.Context, addr string, req forwardRequest) (forwardResponse, error) {
	deadline, _ := ctx.Deadline()
	conn, err := n.mux.dial(addr, protoForward, time.Until(deadline))
	if err != nil {
		return forwardResponse{}, fmt.Errorf("%w: %w", ErrForward, &dialError{err})
	}
	defer conn.Close()
	_ = conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()
	req.TimeoutMs = time.Until(deadline).Milliseconds()
	if err := writeFrame(conn, req); err != nil {
		return forwardResponse{}, fmt.Errorf("%w: %w", ErrForward, err)
	}
	var resp forwardResponse
	if err := readFrame(conn, &resp); err != nil {
		return forwardResponse{}, fmt.Errorf("%w: %w", ErrForward, err)
	}
	return resp, nil
}
