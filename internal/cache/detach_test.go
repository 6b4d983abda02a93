package cache

import (
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
	"unsafe"
)

// within reports whether s lies in the memory of big.
func within(s, big string) bool {
	p, start := uintptr(unsafe.Pointer(unsafe.StringData(s))), uintptr(unsafe.Pointer(unsafe.StringData(big)))
	return s != "" && p >= start && p < start+uintptr(len(big))
}

// TestStoredStringsAreCopies: an entry's header and a node's path and
// query are copies. The gateway parses requests and upstream responses
// into slices of one string per head, which a cached entry must not keep
// alive, since its size counts only its own fields.
func TestStoredStringsAreCopies(t *testing.T) {
	head := "/items?page=1|Cache-Control|max-age=60|Vary|Accept|X-Pad|" + strings.Repeat("p", 4000)
	part := func(s string) string { i := strings.Index(head, s); return head[i : i+len(s)] }
	h := http.Header{part("Cache-Control"): {part("max-age=60")}, part("Vary"): {part("Accept"), part("max-age=60")}}
	e := newEntry(200, h, nil, http.Header{}, freshness{}, 0, time.Now())
	if !reflect.DeepEqual(e.header, h) {
		t.Fatalf("stored header %v, want %v", e.header, h)
	}
	for k, vv := range e.header {
		if within(k, head) || cap(vv) != len(vv) {
			t.Errorf("name %q shares the head's memory, or its values have spare capacity", k)
		}
		for _, v := range vv {
			if within(v, head) {
				t.Errorf("%s: value %q shares the head's memory", k, v)
			}
		}
	}
	s := NewStore(1 << 20)
	s.mu.Lock()
	n := s.node(part("/items?page=1"), resource{route: "r", path: part("/items"), query: part("page=1")})
	s.mu.Unlock()
	if within(n.key, head) || within(n.res.path, head) || within(n.res.query, head) {
		t.Errorf("the node's key, path or query shares the request head's memory")
	}
}
