package dataplane

import (
	"net/http"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
)

// The relay is the short way for the most common upstream response: a
// final status with a Content-Length body, answered to an HTTP/1.1 client
// whose response nothing else touches. Instead of a header map built by
// parseResponseHead, filtered by respond and written by h1ResponseWriter,
// the head is checked in one pass and its end-to-end field lines copied
// into the client's head as they are. What the client gets is what the
// general path would send, up to the order of the fields (a map's there).

// relayHead is what scanResponseHead learned of a response head.
type relayHead struct {
	status  int
	length  int64 // the Content-Length
	close   bool  // the upstream closes the connection after this response
	hasDate bool
}

// scanResponseHead checks head, a whole response head as
// parseResponseHead takes it, for the relay: it reports false when the
// response needs the general path (an interim, 204, 304 or 101 status, a
// body framed other than by one Content-Length, Trailer, Pragma, a
// Connection header that lists field names, a folded or a non-canonical
// field name, or anything parseResponseHead refuses).
func scanResponseHead(head string) (relayHead, bool) {
	var rh relayHead
	line, fields := headLine(head)
	var resp http.Response
	if parseStatusLine(line, &resp) != nil {
		return rh, false
	}
	rh.status = resp.StatusCode
	if rh.status < 200 || rh.status == http.StatusNoContent || rh.status == http.StatusNotModified {
		return rh, false
	}
	length, seenLength, keepAlive := "", false, false
	for {
		line, fields = headLine(fields)
		if line == "" {
			break
		}
		name, value, ok := relayField(line)
		if !ok {
			return rh, false
		}
		switch name {
		case "Content-Length":
			v := textproto.TrimString(value)
			if seenLength && v != length {
				return rh, false
			}
			seenLength, length = true, v
		case "Transfer-Encoding", "Trailer", "Pragma":
			return rh, false
		case "Date":
			rh.hasDate = true
		case "Connection":
			if !rh.addConnTokens(value, &keepAlive) {
				return rh, false
			}
		}
	}
	n, err := strconv.ParseUint(length, 10, 63)
	if err != nil || length == "" || length[0] == '+' {
		return rh, false
	}
	rh.length = int64(n)
	if resp.ProtoMinor == 0 && !keepAlive {
		rh.close = true
	}
	return rh, true
}

// relayField splits a field line and checks it as parseFields does; it
// refuses a folded line and a name that is not in canonical form, which
// the general path would rewrite.
func relayField(line string) (name, value string, ok bool) {
	if line[0] == ' ' || line[0] == '\t' {
		return "", "", false
	}
	colon := strings.IndexByte(line, ':')
	if colon < 0 {
		return "", "", false
	}
	name, value = line[:colon], trimOWS(line[colon+1:])
	canonical, valid := checkFieldName(name)
	return name, value, canonical && valid && validFieldValue(value)
}

// splitField splits a field line of a head that scanResponseHead
// accepted, without checking it again.
func splitField(line string) (name, value string) {
	colon := strings.IndexByte(line, ':')
	return line[:colon], trimOWS(line[colon+1:])
}

// addConnTokens reads a Connection value: close or keep-alive; a field
// name it lists takes the general path, which removes that field.
func (rh *relayHead) addConnTokens(value string, keepAlive *bool) bool {
	for token := range strings.SplitSeq(value, ",") {
		token = textproto.TrimString(token)
		switch {
		case token == "":
		case strings.EqualFold(token, "close"):
			rh.close = true
		case strings.EqualFold(token, "keep-alive"):
			*keepAlive = true
		default:
			return false
		}
	}
	return true
}

// dropped reports whether the field name stays behind: hop-by-hop ones,
// the framing the relay writes itself, the upstream's X-Request-Id, which
// the gateway's replaces, and X-Tollgate-Error, which only the gateway's
// own answers carry (see removeGatewayOnly).
func dropped(name string) bool {
	return isHopByHop(name) || name == "Content-Length" || name == headerRequestID || name == headerError
}

// relayableFields reports whether the fields a policy set on the response
// (h, besides X-Request-Id) can go with a relayed head: names the writer
// would write as they are, values without control bytes. Framing,
// hop-by-hop, trailer and Date fields take the general path.
func relayableFields(h http.Header) bool {
	for k, vv := range h {
		if k == headerRequestID {
			continue
		}
		if !validToken(k) || responseFramingField(k) || isHopByHop(k) || k == "Date" || strings.HasPrefix(k, http.TrailerPrefix) {
			return false
		}
		for _, v := range vv {
			if !validFieldValue(v) {
				return false
			}
		}
	}
	return true
}

// appendRelayedHead appends the head the client gets for head, checked
// by scanResponseHead: the status line, the upstream's end-to-end fields
// as they came, a Date if it sent none, the fields a policy set (see
// relayableFields; the upstream's win, as in Gateway.respond), the request
// id and the Content-Length.
func appendRelayedHead(dst []byte, head string, rh *relayHead, requestID string, policy http.Header) []byte {
	dst = append(dst, statusLine(rh.status)...)
	if !rh.hasDate {
		dst = append(dst, "Date: "...)
		dst = append(dst, httpDate()...)
		dst = append(dst, "\r\n"...)
	}
	var names [16]string // the upstream's field names, so that its fields win
	relayed := names[:0]
	_, fields := headLine(head)
	for {
		var line string
		line, fields = headLine(fields)
		if line == "" {
			break
		}
		name, value := splitField(line)
		if dropped(name) {
			continue
		}
		relayed = append(relayed, name)
		dst = append(dst, name...)
		dst = append(dst, ": "...)
		dst = append(dst, value...)
		dst = append(dst, "\r\n"...)
	}
	for k, vv := range policy {
		if k == headerRequestID || slices.Contains(relayed, k) {
			continue
		}
		for _, v := range vv {
			dst = append(dst, k...)
			dst = append(dst, ": "...)
			dst = append(dst, v...)
			dst = append(dst, "\r\n"...)
		}
	}
	dst = append(dst, headerRequestID+": "...)
	dst = append(dst, requestID...)
	dst = append(dst, "\r\nContent-Length: "...)
	dst = strconv.AppendInt(dst, rh.length, 10)
	return append(dst, "\r\n\r\n"...)
}
