package dataplane

import "net/http"

// responseWriter records the status and body size of a response for the
// access log. It is embedded in RequestContext so it costs no allocation.
type responseWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

// WriteHeader records the final status and passes it on.
func (w *responseWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

// Write counts the body bytes written.
func (w *responseWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Flush sends buffered data to the client, if the connection can.
func (w *responseWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// retract takes back the status if no body byte went through and the
// writer underneath can take it back (the gateway's HTTP/1.1 writer,
// before it sent anything): the request may then be answered with a
// gateway error instead. Other writers cannot.
func (w *responseWriter) retract() bool {
	r, ok := w.ResponseWriter.(interface{ retract() bool })
	if w.bytes > 0 || !ok || !r.retract() {
		return false
	}
	w.status = 0
	return true
}
