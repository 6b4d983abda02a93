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

// removeGatewayOnly deletes from an upstream's response header the field
// that marks an answer the gateway made itself (X-Tollgate-Error), so that
// an upstream, a tollgate in front of another included, cannot pass its
// answer off as this gateway's.
func removeGatewayOnly(h http.Header) {
	delete(h, headerError)
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
// the request id. The new values share one allocation.
func setForwarded(h http.Header, in *http.Request, requestID string) {
	vals := make([]string, 5)
	set := func(i int, k, v string) {
		vals[i] = v
		h[k] = vals[i : i+1 : i+1]
	}
	if ip, _, err := net.SplitHostPort(in.RemoteAddr); err == nil {
		if prior := h["X-Forwarded-For"]; len(prior) > 0 {
			ip = strings.Join(prior, ", ") + ", " + ip
		}
		set(0, "X-Forwarded-For", ip)
	}
	proto := "http"
	if in.TLS != nil {
		proto = "https"
	}
	set(1, "X-Forwarded-Proto", proto)
	set(2, "X-Forwarded-Host", in.Host)
	set(3, headerRequestID, requestID)
	if prior := h["Via"]; len(prior) > 0 {
		h["Via"] = append(prior, viaEntry(in))
	} else {
		set(4, "Via", viaEntry(in))
	}
}

// cloneHeader copies h into a map with room for extra more fields, all
// values in one backing array, as http.Header.Clone does but without the
// map growing when the proxy adds its own fields.
func cloneHeader(h http.Header, extra int) http.Header {
	nv := 0
	for _, vv := range h {
		nv += len(vv)
	}
	sv := make([]string, nv)
	out := make(http.Header, len(h)+extra)
	for k, vv := range h {
		if vv == nil {
			out[k] = nil
			continue
		}
		n := copy(sv, vv)
		out[k] = sv[:n:n]
		sv = sv[n:]
	}
	return out
}

// viaEntry is the gateway's Via entry for a request received as in: the
// received-protocol, then the gateway's name.
func viaEntry(in *http.Request) string {
	switch {
	case in.ProtoMajor == 1 && in.ProtoMinor == 0:
		return "1.0 tollgate"
	case in.ProtoMajor == 2:
		return "2 tollgate"
	case in.ProtoMajor == 3:
		return "3 tollgate"
	}
	return "1.1 tollgate"
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
