package bench

import (
	"math"
	"testing"
	"time"
)

func TestTradeOff(t *testing.T) {
	happy := Scenario{Transitions: 6, Invocations: 4}
	s := time.Second
	tests := []struct {
		work, interval, timeout time.Duration
		polls, transitions      int
		held, late              time.Duration
	}{
		{work: 2 * s, interval: s, timeout: 5 * s, polls: 0, transitions: 6, held: 2 * s},
		{work: 2 * s, interval: s, timeout: s, polls: 1, transitions: 9, held: s},
		// Ready during a wait: seen at the next poll.
		{work: 20 * s, interval: 5 * s, timeout: s, polls: 4, transitions: 18, held: 4 * s, late: 4 * s},
		{work: 20 * s, interval: s, timeout: 10 * s, polls: 1, transitions: 9, held: 19 * s},
	}
	for _, tc := range tests {
		r := tradeOff(happy, 512, 256, tc.work, tc.interval, tc.timeout)
		if r.Polls != tc.polls || r.Transitions != tc.transitions || r.Held != tc.held || r.Late != tc.late {
			t.Errorf("work %v interval %v timeout %v: polls %d transitions %d held %v late %v; want %d %d %v %v",
				tc.work, tc.interval, tc.timeout, r.Polls, r.Transitions, r.Held, r.Late, tc.polls, tc.transitions, tc.held, tc.late)
		}
	}
}

func TestCostPerMillion(t *testing.T) {
	// 6 transitions, 4 invocations, 0.5 GB-s, 0.25 s (billed 0.3 s).
	c := costPerMillion("x", 6, 4, 0.5, 250*time.Millisecond)
	lambda := 4*0.20 + 0.5*1e6*LambdaArmPerGBSecond
	express := 1.00 + 0.3*64.0/1024*1e6*ExpressPerGBSecond
	for _, v := range []struct {
		name      string
		got, want float64
	}{
		{"lambda", c.Lambda, lambda},
		{"standard", c.Standard, lambda + 150},
		{"express", c.Express, lambda + express},
		{"express duration", c.ExpressDuration, 0.3},
	} {
		if math.Abs(v.got-v.want) > 1e-9 {
			t.Errorf("%s = %v, want %v", v.name, v.got, v.want)
		}
	}
}
