package dataplane

import (
	"bufio"
	"fmt"
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
)

// writeRequestHead writes the request line, the Host header, req's
// headers and the framing of a body of length bytes (0: none) into w.
// It adds nothing else: no User-Agent, no Accept-Encoding.
func writeRequestHead(w *bufio.Writer, req *http.Request, host string, length int64) error {
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	if !validToken(method) {
		return fmt.Errorf("invalid method %q", method)
	}
	if !validFieldValue(host) || strings.IndexByte(host, ' ') >= 0 {
		return fmt.Errorf("invalid host %q", host)
	}
	w.WriteString(method)
	w.WriteByte(' ')
	if err := writeRequestURI(w, req.URL); err != nil {
		return err
	}
	w.WriteString(" HTTP/1.1\r\nHost: ")
	w.WriteString(host)
	w.WriteString("\r\n")
	if err := writeHeaderFields(w, req.Header); err != nil {
		return err
	}
	if req.Close {
		w.WriteString("Connection: close\r\n")
	}
	if length > 0 || length == 0 && sendsZeroLength(method) {
		w.WriteString("Content-Length: ")
		w.Write(strconv.AppendInt(w.AvailableBuffer(), length, 10))
		w.WriteString("\r\n")
	}
	_, err := w.WriteString("\r\n")
	return err
}

// sendsZeroLength reports the methods that announce an empty body, as
// net/http does (some servers answer 411 otherwise).
func sendsZeroLength(method string) bool {
	return method == http.MethodPost || method == http.MethodPut || method == http.MethodPatch
}

// writeRequestURI writes the origin-form target of u: its escaped path
// and query, or its opaque part (see appendRequestURI).
func writeRequestURI(w *bufio.Writer, u *url.URL) error {
	b, err := appendRequestURI(w.AvailableBuffer(), u)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// writeHeaderFields writes h, except the fields the client frames itself,
// refusing names and values that would break the message.
func writeHeaderFields(w *bufio.Writer, h http.Header) error {
	for k, vv := range h {
		if framingField(k) {
			continue
		}
		if !validToken(k) {
			return fmt.Errorf("invalid header field name %q", k)
		}
		for _, v := range vv {
			v = textproto.TrimString(v)
			if !validFieldValue(v) {
				return fmt.Errorf("invalid header field value for %q", k)
			}
			w.WriteString(k)
			w.WriteString(": ")
			w.WriteString(v)
			w.WriteString("\r\n")
		}
	}
	return nil
}

// framingField reports the header fields that writeRequestHead writes
// from the request's own fields instead.
func framingField(k string) bool {
	switch len(k) {
	case 4:
		return strings.EqualFold(k, "Host")
	case 7:
		return strings.EqualFold(k, "Trailer")
	case 14:
		return strings.EqualFold(k, "Content-Length")
	case 17:
		return strings.EqualFold(k, "Transfer-Encoding")
	}
	return false
}

// validToken reports whether s is a non-empty RFC 9110 token.
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isTokenByte(s[i]) {
			return false
		}
	}
	return true
}

func isTokenByte(b byte) bool { return tokenBytes[b] }

// tokenBytes marks the bytes of an RFC 9110 token: a table, since every
// header name of both hops is checked byte by byte.
var tokenBytes = func() (t [256]bool) {
	for b := range t {
		switch {
		case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9':
			t[b] = true
		}
	}
	for _, b := range []byte("!#$%&'*+-.^_`|~") {
		t[b] = true
	}
	return t
}()

// validFieldValue reports whether s holds no control bytes other than
// horizontal tab (so no CR or LF to split the message).
func validFieldValue(s string) bool {
	// Eight bytes at a time: a word with no byte below 0x20 and none
	// equal to 0x7f is valid as it is; one with either is checked byte by
	// byte, for a tab. Tokens and the like are tens to hundreds of bytes.
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	i := 0
	for ; i+8 <= len(s); i += 8 {
		w := s[i : i+8]
		x := uint64(w[0]) | uint64(w[1])<<8 | uint64(w[2])<<16 | uint64(w[3])<<24 |
			uint64(w[4])<<32 | uint64(w[5])<<40 | uint64(w[6])<<48 | uint64(w[7])<<56
		del := x ^ 0x7f*ones
		if (x-0x20*ones)&^x&highs|(del-ones)&^del&highs != 0 && !validFieldBytes(w) {
			return false
		}
	}
	return validFieldBytes(s[i:])
}

// validFieldBytes is validFieldValue one byte at a time.
func validFieldBytes(s string) bool {
	for i := 0; i < len(s); i++ {
		if b := s[i]; b < ' ' && b != '\t' || b == 0x7f {
			return false
		}
	}
	return true
}
