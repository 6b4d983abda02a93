package dataplane

import (
	"crypto/rand"
	"strconv"
	"sync/atomic"
)

// maxRequestIDLen is the longest client request id the gateway keeps.
const maxRequestIDLen = 128

// idSource generates request ids: a random prefix chosen once, then a
// counter, so generating one costs an atomic add and one small string.
type idSource struct {
	prefix string
	n      atomic.Uint64
}

func newIDSource() *idSource {
	return &idSource{prefix: rand.Text()[:12] + "-"}
}

// id returns the client's id when it is sane, otherwise a new one.
func (s *idSource) id(client string) string {
	if validRequestID(client) {
		return client
	}
	return s.next()
}

// next returns a new id, unique for this source.
func (s *idSource) next() string {
	var b [40]byte
	buf := append(b[:0], s.prefix...)
	buf = strconv.AppendUint(buf, s.n.Add(1), 36)
	return string(buf)
}

// validRequestID accepts 1 to 128 printable ASCII characters.
func validRequestID(id string) bool {
	if id == "" || len(id) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x20 || id[i] > 0x7e {
			return false
		}
	}
	return true
}
