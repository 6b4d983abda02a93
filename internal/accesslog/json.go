package accesslog

import (
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/tollgate/tollgate/dataplane"
)

// lineEncoder writes a record as the JSON line slog's JSONHandler would
// write for rec.Record() (with the Log's own attributes first), byte for
// byte, without building a slog.Record, slog attributes or going through
// a handler: on a busy gateway the access log is the largest part of the
// logging work.
type lineEncoder struct {
	prefix []byte // the Log's attributes, each as ,"key":value
	line   []byte // scratch, reused
	clock  timeCache
}

func newLineEncoder(attrs []slog.Attr) *lineEncoder {
	e := &lineEncoder{}
	for _, a := range attrs {
		e.prefix = appendAttr(append(e.prefix, ','), a)
	}
	return e
}

// encode returns rec's line; it is valid until the next call.
func (e *lineEncoder) encode(rec *dataplane.AccessRecord) []byte {
	e.line = e.appendLine(e.line[:0], rec)
	return e.line
}

// appendLine appends rec's line, newline included, to b.
func (e *lineEncoder) appendLine(b []byte, rec *dataplane.AccessRecord) []byte {
	b = append(b, '{')
	if !rec.Time.IsZero() { // as slog, which leaves a zero time out
		b = append(b, `"time":"`...)
		b = e.clock.appendTime(b, rec.Time)
		b = append(b, `",`...)
	}
	b = append(b, `"level":"INFO","msg":"request"`...)
	b = append(b, e.prefix...)
	b = appendFields(b, rec)
	return append(b, "}\n"...)
}

// appendFields appends the fields AccessRecord.AppendAttrs lists, in its
// order and as slog's JSONHandler formats them, each as ,"key":value.
// TestLinesAreSlogJSON holds the two to the same output.
func appendFields(b []byte, r *dataplane.AccessRecord) []byte {
	b = appendStringField(b, `,"request_id":`, r.RequestID)
	b = append(b, `,"trace_id":"`...)
	b = hex.AppendEncode(b, r.TraceID[:]) // hex needs no escaping
	b = append(b, '"')
	b = appendStringField(b, `,"method":`, r.Method)
	b = appendStringField(b, `,"host":`, r.Host)
	b = appendStringField(b, `,"path":`, r.Path)
	b = strconv.AppendInt(append(b, `,"status":`...), int64(r.Status), 10)
	b = strconv.AppendInt(append(b, `,"bytes":`...), r.Bytes, 10)
	b = strconv.AppendInt(append(b, `,"duration_us":`...), r.Duration.Microseconds(), 10)
	b = strconv.AppendInt(append(b, `,"upstream_us":`...), r.UpstreamTime.Microseconds(), 10)
	b = appendStringField(b, `,"upstream":`, r.Upstream)
	b = appendStringField(b, `,"route":`, r.Route)
	b = appendStringField(b, `,"service":`, r.Service)
	b = appendStringField(b, `,"client_ip":`, r.ClientIP())
	b = appendSetField(b, `,"consumer":`, r.Consumer)
	b = appendSetField(b, `,"cache":`, r.Cache)
	b = appendSetField(b, `,"reason":`, r.Reason)
	if r.Attempts > 1 {
		b = strconv.AppendInt(append(b, `,"attempts":`...), int64(r.Attempts), 10)
	}
	if r.Err != nil {
		b = appendStringField(b, `,"error":`, r.Err.Error())
	}
	return b
}

// appendStringField appends key (already quoted, with its comma and
// colon) and value as a JSON string.
func appendStringField(b []byte, key, value string) []byte {
	return appendString(append(b, key...), value)
}

// appendSetField is appendStringField for a field left out when empty.
func appendSetField(b []byte, key, value string) []byte {
	if value == "" {
		return b
	}
	return appendStringField(b, key, value)
}

// timeCache formats times as RFC 3339 with nanoseconds, reusing the
// formatted date, clock and zone of the last whole second it saw: an
// access log's times come in order, many to a second.
type timeCache struct {
	sec  int64
	loc  *time.Location
	date []byte // "2006-01-02T15:04:05" of sec in loc
	zone []byte // "Z" or "-07:00"
}

// appendTime appends t as t.AppendFormat(b, time.RFC3339Nano) does.
func (c *timeCache) appendTime(b []byte, t time.Time) []byte {
	if y := t.Year(); y < 1 || y > 9999 {
		return t.AppendFormat(b, time.RFC3339Nano)
	}
	if sec, loc := t.Unix(), t.Location(); sec != c.sec || loc != c.loc || c.date == nil {
		c.sec, c.loc = sec, loc
		c.date = t.AppendFormat(c.date[:0], "2006-01-02T15:04:05")
		c.zone = t.AppendFormat(c.zone[:0], "Z07:00")
	}
	b = append(b, c.date...)
	if ns := t.Nanosecond(); ns != 0 {
		b = appendFraction(b, ns)
	}
	return append(b, c.zone...)
}

// appendFraction appends "." and ns as nine digits without trailing
// zeros (ns > 0).
func appendFraction(b []byte, ns int) []byte {
	var d [10]byte
	d[0] = '.'
	for i := 9; i >= 1; i-- {
		d[i] = byte('0' + ns%10)
		ns /= 10
	}
	n := 10
	for d[n-1] == '0' {
		n--
	}
	return append(b, d[:n]...)
}

// appendAttr appends "key":value as slog's JSONHandler formats it.
func appendAttr(b []byte, a slog.Attr) []byte {
	b = appendString(b, a.Key)
	b = append(b, ':')
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return appendString(b, v.String())
	case slog.KindInt64:
		return strconv.AppendInt(b, v.Int64(), 10)
	case slog.KindUint64:
		return strconv.AppendUint(b, v.Uint64(), 10)
	case slog.KindBool:
		return strconv.AppendBool(b, v.Bool())
	case slog.KindDuration:
		return strconv.AppendInt(b, int64(v.Duration()), 10)
	case slog.KindTime:
		b = append(b, '"')
		return append(v.Time().AppendFormat(b, time.RFC3339Nano), '"')
	}
	if err, ok := v.Any().(error); ok {
		return appendString(b, err.Error())
	}
	j, err := json.Marshal(v.Any())
	if err != nil {
		return appendString(b, "!ERROR:"+err.Error())
	}
	return append(b, j...)
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string, escaped as slog escapes it:
// quotes, backslashes and control characters; invalid UTF-8 becomes
// U+FFFD; U+2028 and U+2029 are escaped for JavaScript.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		var esc string
		switch {
		case r == utf8.RuneError && size == 1:
			esc = `\ufffd`
		case r == '\u2028':
			esc = `\u2028`
		case r == '\u2029':
			esc = `\u2029`
		default:
			i += size
			continue
		}
		b = append(append(b, s[start:i]...), esc...)
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
