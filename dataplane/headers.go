package dataplane

import (
	"net"
	"net/http"
	"net/textproto"
	"strings"
)

// removeHopByHop deletes the headers that apply to one connection only:
// those named in Connection, then Connection, Keep-Alive, Proxy-*, TE,
// Trailer, Transfer-Encoding and Upgrade.
func removeHopByHop(h http.Header) {
	for _, v := range h["Connection"] {
		for name := range strings.SplitSeq(v, ",") {
			if name = textproto.TrimString(name); name != "" {
				h.Del(name)
			}
		}
	}
	for k := range h {
		if isHopByHop(k) {
			delete(h, k)
		}
	}
}

// isHopByHop reports whether the canonical header name k is hop-by-hop.
func isHopByHop(k string) bool {
	switch k {
	case "Connection", "Keep-Alive", "Te", "Trailer", "Transfer-Encoding", "Upgrade":
		return true
	}
	return strings.HasPrefix(k, "Proxy-")
}

// setForwarded adds what the upstream should know about the client hop:
// X-Forwarded-For (appended), X-Forwarded-Proto, X-Forwarded-Host, Via and
// the request id.
func setForwarded(h http.Header, in *http.Request, requestID string) {
	if ip, _, err := net.SplitHostPort(in.RemoteAddr); err == nil {
		if prior := h["X-Forwarded-For"]; len(prior) > 0 {
			ip = strings.Join(prior, ", ") + ", " + ip
		}
		h["X-Forwarded-For"] = []string{ip}
	}
	proto := "http"
	if in.TLS != nil {
		proto = "https"
	}
	h["X-Forwarded-Proto"] = []string{proto}
	h["X-Forwarded-Host"] = []string{in.Host}
	h["Via"] = append(h["Via"], viaProtocol(in)+" tollgate")
	h[headerRequestID] = []string{requestID}
}

// viaProtocol is the received-protocol of a Via entry for in.
func viaProtocol(in *http.Request) string {
	switch {
	case in.ProtoMajor == 1 && in.ProtoMinor == 0:
		return "1.0"
	case in.ProtoMajor == 2:
		return "2"
	case in.ProtoMajor == 3:
		return "3"
	}
	return "1.1"
}

// hasToken reports whether a comma-separated header holds token (any case).
func hasToken(values []string, token string) bool {
	for _, v := range values {
		for t := range strings.SplitSeq(v, ",") {
			if t = textproto.TrimString(t); strings.EqualFold(t, token) || hasParams(t, token) {
				return true
			}
		}
	}
	return false
}

// hasParams reports whether t is token followed by ";parameters".
func hasParams(t, token string) bool {
	return len(t) > len(token) && t[len(token)] == ';' && strings.EqualFold(t[:len(token)], token)
}
