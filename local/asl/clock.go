package asl

import (
	"context"
	"sort"
	"sync"
	"time"
)

// Clock is the engine's source of time. Wait states, retry back-off and
// timeouts go through it, and so do the timestamps in the context object
// and the history, so a test can make an execution instant.
type Clock interface {
	Now() time.Time
	// Sleep pauses for d or until ctx is done, whichever is first, and
	// returns ctx.Err() in the latter case.
	Sleep(ctx context.Context, d time.Duration) error
}

// TimerClock is implemented by clocks that can call a function once d has
// passed on that clock. The engine uses it for TimeoutSeconds; with a clock
// that lacks it, a goroutine sleeping through Sleep stands in.
type TimerClock interface {
	AfterFunc(d time.Duration, f func()) (stop func() bool)
}

// RealClock is the wall clock.
type RealClock struct{}

// Now returns time.Now().
func (RealClock) Now() time.Time { return time.Now() }

// Sleep sleeps for d unless ctx ends first.
func (RealClock) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// AfterFunc is time.AfterFunc.
func (RealClock) AfterFunc(d time.Duration, f func()) func() bool {
	return time.AfterFunc(d, f).Stop
}

// FakeClock is a virtual clock for tests: Sleep returns at once after moving
// virtual time forward by d, firing the AfterFunc callbacks whose time has
// come (synchronously, before Sleep returns). Concurrent sleepers (Map
// iterations, Parallel branches) each move the same clock, so their waits
// add up rather than overlap. Time never moves by itself: a task that blocks
// without sleeping on this clock never times out.
type FakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
	seq    int
}

type fakeTimer struct {
	at      time.Time
	seq     int
	f       func()
	stopped bool
}

// NewFakeClock returns a FakeClock that reads start.
func NewFakeClock(start time.Time) *FakeClock {
	return &FakeClock{now: start}
}

// Now returns the virtual time.
func (c *FakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Sleep advances virtual time by d (unless ctx is already done) and returns
// ctx.Err(), which a timer fired by the advance may have set.
func (c *FakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.Advance(d)
	return ctx.Err()
}

// Advance moves virtual time forward by d and fires due timers in order.
func (c *FakeClock) Advance(d time.Duration) {
	if d < 0 {
		d = 0
	}
	c.mu.Lock()
	c.now = c.now.Add(d)
	var due []*fakeTimer
	keep := c.timers[:0]
	for _, t := range c.timers {
		if t.stopped {
			continue
		}
		if !t.at.After(c.now) {
			t.stopped = true
			due = append(due, t)
		} else {
			keep = append(keep, t)
		}
	}
	c.timers = keep
	c.mu.Unlock()
	sort.Slice(due, func(i, j int) bool {
		if due[i].at.Equal(due[j].at) {
			return due[i].seq < due[j].seq
		}
		return due[i].at.Before(due[j].at)
	})
	for _, t := range due {
		t.f()
	}
}

// AfterFunc schedules f for when virtual time reaches Now()+d.
func (c *FakeClock) AfterFunc(d time.Duration, f func()) func() bool {
	c.mu.Lock()
	c.seq++
	t := &fakeTimer{at: c.now.Add(d), seq: c.seq, f: f}
	c.timers = append(c.timers, t)
	c.mu.Unlock()
	if d <= 0 {
		c.Advance(0)
	}
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		was := !t.stopped
		t.stopped = true
		return was
	}
}

// afterFunc uses the clock's timers when it has them.
func afterFunc(c Clock, d time.Duration, f func()) (stop func()) {
	if tc, ok := c.(TimerClock); ok {
		s := tc.AfterFunc(d, f)
		return func() { s() }
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		if c.Sleep(ctx, d) == nil {
			f()
		}
	}()
	return cancel
}
