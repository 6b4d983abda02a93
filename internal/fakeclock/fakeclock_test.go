package fakeclock

import (
	"sync"
	"testing"
	"time"
)

func TestClockMovesOnlyByAdvance(t *testing.T) {
	c := New()
	if got := c.Now(); !got.Equal(Start) {
		t.Fatalf("Now = %v, want %v", got, Start)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.Advance(time.Second)
			_ = c.Now()
		}()
	}
	wg.Wait()
	if got, want := c.Now(), Start.Add(8*time.Second); !got.Equal(want) {
		t.Fatalf("after 8 advances of 1s: Now = %v, want %v", got, want)
	}
}
