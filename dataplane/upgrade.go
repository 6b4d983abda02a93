package dataplane

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
)

// upgradeProtocol returns the protocol a request asks to switch to
// (Connection: upgrade with an Upgrade header), or "". h2c upgrades are
// not passed on: the gateway speaks HTTP/2 to clients itself.
func upgradeProtocol(h http.Header) string {
	if !hasToken(h["Connection"], "upgrade") {
		return ""
	}
	p := h.Get("Upgrade")
	if strings.EqualFold(p, "h2c") {
		return ""
	}
	return p
}

// keepUpgrade puts the upgrade request's hop-by-hop headers back on the
// outbound request, after the others were stripped.
func keepUpgrade(out http.Header, protocol string) {
	out["Connection"] = []string{"Upgrade"}
	out["Upgrade"] = []string{protocol}
}

// switchProtocols completes an upgrade the upstream accepted (101): it
// takes over the client's connection, sends it the 101 and the upstream's
// headers, then copies bytes both ways until either side closes. Upgraded
// connections are not bound by the read timeout.
func (g *Gateway) switchProtocols(rc *RequestContext, resp *http.Response) {
	up, ok := resp.Body.(io.ReadWriteCloser)
	if !ok {
		rc.fail(fmt.Errorf("%w: upgrade response body is not writable", errUpstreamAborted))
		return
	}
	defer up.Close()
	conn, brw, err := http.NewResponseController(rc.Writer).Hijack()
	if err != nil {
		rc.fail(fmt.Errorf("upgrade: hijack client connection: %w", err))
		return
	}
	defer conn.Close()
	rc.status = http.StatusSwitchingProtocols
	hdr := resp.Header.Clone()
	removeHopByHop(hdr)
	removeGatewayOnly(hdr)
	keepUpgrade(hdr, resp.Header.Get("Upgrade"))
	hdr[headerRequestID] = []string{rc.RequestID}
	if err := writeSwitching(brw.Writer, hdr); err != nil {
		rc.err = fmt.Errorf("%w: %w", errClientGone, err)
		return
	}
	// Bytes the client sent after its request are already buffered.
	var client io.Reader = conn
	if n := brw.Reader.Buffered(); n > 0 {
		buffered, _ := brw.Reader.Peek(n)
		client = io.MultiReader(strings.NewReader(string(buffered)), conn)
	}
	rc.err = pipe(conn, client, up)
}

// writeSwitching writes a 101 status line and headers.
func writeSwitching(w interface {
	io.Writer
	Flush() error
}, h http.Header) error {
	if _, err := io.WriteString(w, "HTTP/1.1 101 Switching Protocols\r\n"); err != nil {
		return err
	}
	if err := h.Write(w); err != nil {
		return err
	}
	if _, err := io.WriteString(w, "\r\n"); err != nil {
		return err
	}
	return w.Flush()
}

// pipe copies client→upstream and upstream→client until one direction
// ends, then closes both so the other ends too. It returns the first
// error that is not a plain close.
func pipe(clientConn net.Conn, client io.Reader, up io.ReadWriteCloser) error {
	errs := make(chan error, 2)
	var once sync.Once
	closeBoth := func() { once.Do(func() { clientConn.Close(); up.Close() }) }
	go func() {
		_, err := io.Copy(up, client)
		closeBoth()
		errs <- err
	}()
	go func() {
		_, err := io.Copy(clientConn, up)
		closeBoth()
		errs <- err
	}()
	err1, err2 := <-errs, <-errs
	for _, err := range []error{err1, err2} {
		if err != nil && !errors.Is(err, io.EOF) && !isClosedErr(err) {
			return fmt.Errorf("upgraded connection: %w", err)
		}
	}
	return nil
}

// isClosedErr reports errors from using a connection the other direction
// closed.
func isClosedErr(err error) bool {
	return errors.Is(err, io.ErrClosedPipe) || errors.Is(err, net.ErrClosed)
}
