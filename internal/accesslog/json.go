package accesslog

import (
	"encoding/json"
	"log/slog"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/tollgate/tollgate/dataplane"
)

// lineEncoder writes a record as the JSON line slog's JSONHandler would
// write for rec.Record() (with the Log's own attributes first), byte for
// byte, without building a slog.Record or going through a handler: on a
// busy gateway the access log is the largest part of the logging work.
type lineEncoder struct {
	prefix []byte      // the Log's attributes, each as ,"key":value
	attrs  []slog.Attr // scratch, reused
	line   []byte      // scratch, reused
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
		b = rec.Time.AppendFormat(b, time.RFC3339Nano)
		b = append(b, `",`...)
	}
	b = append(b, `"level":"INFO","msg":"request"`...)
	b = append(b, e.prefix...)
	e.attrs = rec.AppendAttrs(e.attrs[:0])
	for _, a := range e.attrs {
		b = appendAttr(append(b, ','), a)
	}
	return append(b, "}\n"...)
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
