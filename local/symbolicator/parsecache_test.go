package symbolicator

import (
	"testing"
	"time"
)

// TestBudget: reservations are granted in arrival order within the size,
// a larger one waits for the whole budget, and release frees once.
func TestBudget(t *testing.T) {
	b := newBudget(100)
	waiting := func(n int) {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		for {
			b.mu.Lock()
			got := b.waiters.Len()
			b.mu.Unlock()
			if got == n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("waited a minute for %d reservations to queue; %d did", n, got)
			}
			time.Sleep(time.Millisecond)
		}
	}
	granted := make(chan string, 3)
	reserve := func(name string, n int64) chan func() {
		out := make(chan func(), 1)
		go func() {
			r := b.Reserve(n)
			granted <- name
			out <- r
		}()
		return out
	}
	first := b.Reserve(60)
	second := reserve("second 60", 60)
	waiting(1)
	// 10 would fit beside the 60 held, but the second arrived first:
	// the third queues behind it rather than being granted.
	third := reserve("third 10", 10)
	waiting(2)
	first()
	first() // a second release frees nothing more
	got := map[string]bool{<-granted: true, <-granted: true}
	if !got["second 60"] || !got["third 10"] {
		t.Fatalf("granted %v", got)
	}
	b.mu.Lock()
	used := b.used
	b.mu.Unlock()
	if used != 70 {
		t.Errorf("%d bytes held, want 70", used)
	}
	big := reserve("1000, capped to 100", 1000)
	waiting(1)
	(<-second)()
	(<-third)()
	if g := <-granted; g != "1000, capped to 100" {
		t.Fatalf("%s granted", g)
	}
	(<-big)()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used != 0 || b.waiters.Len() != 0 {
		t.Errorf("after all releases: %d held, %d waiting", b.used, b.waiters.Len())
	}
}
