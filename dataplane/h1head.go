package dataplane

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/textproto"
	"strings"
)

// errHeadTooLarge is a message head, or a trailer section, over its limit.
var errHeadTooLarge = errors.New("message head too large")

// maxKeptScratch bounds the head buffer a connection keeps between
// messages: a rare large head does not pin its memory.
const maxKeptScratch = 16 << 10

// readMessageHead reads from br one message head: the lines up to and
// including the empty line that ends it, at most max bytes. The head is
// returned as one string, so that every field parsed from it is a
// substring and costs no allocation of its own. scratch is a buffer the
// caller reuses across heads.
func readMessageHead(br *bufio.Reader, scratch *[]byte, max int) (string, error) {
	buf := (*scratch)[:0]
	lineStart := 0
	for {
		frag, err := br.ReadSlice('\n')
		if len(buf)+len(frag) > max {
			return "", errHeadTooLarge
		}
		buf = append(buf, frag...)
		switch {
		case err == bufio.ErrBufferFull:
			continue // the line goes on
		case err == io.EOF && len(buf) > 0:
			return "", io.ErrUnexpectedEOF
		case err != nil:
			return "", err
		}
		line := buf[lineStart:]
		if len(line) == 1 || len(line) == 2 && line[0] == '\r' {
			if lineStart == 0 {
				return "", errors.New("empty line where a message head was expected")
			}
			if cap(buf) <= maxKeptScratch {
				*scratch = buf
			}
			return string(buf), nil
		}
		lineStart = len(buf)
	}
}

// headLine cuts the first line off s, without its line ending.
func headLine(s string) (line, rest string) {
	line, rest = s, ""
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		line, rest = s[:i], s[i+1:]
	}
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, rest
}

// Bounds on what parsing a head keeps.
const (
	// maxFieldsHint caps the fields a header map is sized for up front,
	// as net/textproto does.
	maxFieldsHint = 1000
	// maxPinnedHead is the largest head whose names and values stay
	// substrings of it. Those of a larger head are copied, so that keeping
	// one short value (in the cache, say) does not keep the whole head.
	maxPinnedHead = 16 << 10
)

// parseHeaderFields parses the field lines of a head (after its first
// line, up to and including the empty line that ends it) as net/textproto
// does: names are canonicalised, values trimmed, obsolete line folding is
// replaced by one space, and a name or value with a byte that RFC 9110
// does not allow is refused. The values share one backing array; in a
// head up to maxPinnedHead they are substrings of it.
func parseHeaderFields(fields string) (http.Header, error) {
	h, _, _, err := parseFields(fields, "")
	return h, err
}

// parseFields is parseHeaderFields that keeps the field named aside (in
// canonical form; "" for none) out of the header: it returns its first
// value and how many there were. A folded aside field is refused.
func parseFields(fields, aside string) (h http.Header, asideValue string, asides int, err error) {
	return parseFieldsInto(fields, aside, nil, nil)
}

// parseFieldsInto is parseFields that keeps the values in scratch when
// they fit, and the fields in into (which must be empty) unless it is
// nil.
func parseFieldsInto(fields, aside string, scratch []string, into http.Header) (h http.Header, asideValue string, asides int, err error) {
	detach := len(fields) > maxPinnedHead
	n := min(strings.Count(fields, "\n")-1, maxFieldsHint)
	h = into
	if h == nil {
		h = make(http.Header, max(n, 0))
	}
	if n <= 0 {
		return h, "", 0, nil
	}
	var strs []string // one array for the values, unless a dropped one could pin it
	switch {
	case detach:
	case n <= len(scratch):
		strs = scratch[:n]
	default:
		strs = make([]string, n)
	}
	var last string // the name of the previous field, for a folded line
	for {
		line, rest := headLine(fields)
		fields = rest
		if line == "" {
			return h, asideValue, asides, nil
		}
		if line[0] == ' ' || line[0] == '\t' {
			if last == "" || last == aside {
				return nil, "", 0, fmt.Errorf("malformed header: folded line %q", clip(line))
			}
			if err := unfold(h, last, line); err != nil {
				return nil, "", 0, err
			}
			continue
		}
		colon := strings.IndexByte(line, ':')
		if colon < 0 {
			return nil, "", 0, fmt.Errorf("malformed header line %q", clip(line))
		}
		name, value := line[:colon], line[colon+1:]
		canonical, valid := checkFieldName(name)
		if !valid {
			return nil, "", 0, fmt.Errorf("malformed header line %q", clip(line))
		}
		value = trimOWS(value)
		if !validFieldValue(value) {
			return nil, "", 0, fmt.Errorf("malformed header line %q", clip(line))
		}
		if !canonical {
			name = textproto.CanonicalMIMEHeaderKey(name)
		}
		if detach {
			name, value = strings.Clone(name), strings.Clone(value)
		}
		last = name
		switch vv, ok := h[name]; {
		case name == aside:
			if asides++; asides == 1 {
				asideValue = value
			}
		case ok:
			h[name] = append(vv, value)
		case len(strs) == 0:
			h[name] = []string{value}
		default:
			vv, strs = strs[:1:1], strs[1:]
			vv[0] = value
			h[name] = vv
		}
	}
}

// checkFieldName reports, in one pass, whether name is a token (valid)
// and already in canonical form ("Content-Type"), which most names an
// upstream or a client sends are.
func checkFieldName(name string) (canonical, valid bool) {
	if name == "" {
		return false, false
	}
	canonical, upper := true, true
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !tokenBytes[c] {
			return false, false
		}
		if upper && 'a' <= c && c <= 'z' || !upper && 'A' <= c && c <= 'Z' {
			canonical = false
		}
		upper = c == '-'
	}
	return canonical, true
}

// unfold appends a continuation line to the last value of name.
func unfold(h http.Header, name, line string) error {
	more := trimOWS(line)
	if !validFieldValue(more) {
		return fmt.Errorf("malformed header line %q", clip(line))
	}
	vv := h[name]
	vv[len(vv)-1] = strings.TrimLeft(vv[len(vv)-1]+" "+more, " \t") // as net/textproto joins them
	return nil
}

// trimOWS trims the optional whitespace around a field value: spaces and
// tabs only, so that a stray CR is left to be refused.
func trimOWS(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// clip shortens s for an error message.
func clip(s string) string {
	const max = 80
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}
