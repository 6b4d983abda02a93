package dataplane

import (
	"strings"
	"testing"
)

// TestValidFieldValueMatchesBytewise: the word-at-a-time check agrees
// with the byte-at-a-time one for every byte value at every position
// of strings of 0 to 24 bytes.
func TestValidFieldValueMatchesBytewise(t *testing.T) {
	for n := 0; n <= 24; n++ {
		for pos := 0; pos < max(n, 1); pos++ {
			for b := 0; b < 256; b++ {
				buf := []byte(strings.Repeat("a", n))
				if n > 0 {
					buf[pos] = byte(b)
				}
				s := string(buf)
				if got, want := validFieldValue(s), validFieldBytes(s); got != want {
					t.Fatalf("validFieldValue(%q) = %v, want %v", s, got, want)
				}
			}
		}
	}
	for _, s := range []string{"\t\t\t\t\t\t\t\t\t", "a\tb\x80\xff\xfe~ !", strings.Repeat("\x7e\x80", 9) + "\x7f"} {
		if got, want := validFieldValue(s), validFieldBytes(s); got != want {
			t.Fatalf("validFieldValue(%q) = %v, want %v", s, got, want)
		}
	}
}

func BenchmarkValidFieldValue(b *testing.B) {
	token := "Bearer eyJhbGciOiJIUzI1NiIsImtpZCI6ImJlbmNoLWtpZCIsInR5cCI6IkpXVCJ9.eyJleHAiOjE3OTk5OTk5OTksInN1YiI6ImJlbmNoIn0.abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
	b.Run("words", func(b *testing.B) {
		for range b.N {
			validFieldValue(token)
		}
	})
	b.Run("bytes", func(b *testing.B) {
		for range b.N {
			validFieldBytes(token)
		}
	})
}
