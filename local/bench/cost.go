package bench

import (
	"math"
	"time"
)

// AWS list prices in us-east-1, as published on the Step Functions and
// Lambda pricing pages on PricesDate. First pricing tier; free tiers are
// left out, so costs are what an account past its free tier pays.
const (
	PricesDate = "2024-06-01"
	// StandardPerTransition: Standard workflows, $0.025 per 1,000 state
	// transitions.
	StandardPerTransition = 0.025 / 1000
	// ExpressPerRequest: Express workflows, $1.00 per 1 M requests.
	ExpressPerRequest = 1.00 / 1e6
	// ExpressPerGBSecond: Express duration, first 1,000 GB-hours; billed
	// in 100 ms steps with memory in 64 MB chunks.
	ExpressPerGBSecond = 0.00001667
	// ExpressMemoryMB is the Express memory charge assumed for this
	// workflow: its definition and state are far below one 64 MB chunk.
	ExpressMemoryMB = 64
	// LambdaArmPerGBSecond: Lambda on arm64, first 7.5 B GB-s per month.
	LambdaArmPerGBSecond = 0.0000133334
	// LambdaPerRequest: Lambda, $0.20 per 1 M requests.
	LambdaPerRequest = 0.20 / 1e6
)

// Cost is the cost of 1 M executions of a scenario.
type Cost struct {
	Scenario string `json:"scenario"`
	// Lambda is invocations and billed GB-s; Standard and Express add the
	// workflow's own charge to it.
	Lambda   float64 `json:"lambda_usd"`
	Standard float64 `json:"standard_usd"`
	Express  float64 `json:"express_usd"`
	// ExpressDuration is the workflow duration Express bills, in seconds.
	ExpressDuration float64 `json:"express_duration_s"`
}

// costPerMillion prices one scenario. duration is the execution's wall
// time as Express would bill it (waits included).
func costPerMillion(name string, transitions, invocations int, gbSeconds float64, duration time.Duration) Cost {
	const n = 1e6
	lambda := n * (float64(invocations)*LambdaPerRequest + gbSeconds*LambdaArmPerGBSecond)
	billed := math.Ceil(duration.Seconds()*10) / 10 // 100 ms steps
	express := n * (ExpressPerRequest + billed*ExpressMemoryMB/1024*ExpressPerGBSecond)
	return Cost{
		Scenario:        name,
		Lambda:          lambda,
		Standard:        lambda + n*float64(transitions)*StandardPerTransition,
		Express:         lambda + express,
		ExpressDuration: billed,
	}
}

// TradeOff is one row of the poll interval × Symbolicator timeout table:
// a model of a crash that takes Work to symbolicate, built on the
// measured happy path.
type TradeOff struct {
	Work         time.Duration `json:"work_ns"`
	PollInterval time.Duration `json:"poll_interval_ns"`
	Timeout      time.Duration `json:"timeout_ns"`
	Polls        int           `json:"polls"`
	Transitions  int           `json:"transitions"`
	// Held is the Lambda time spent waiting on Symbolicator's answer
	// (submit and polls), billed at the functions' memory.
	Held time.Duration `json:"held_ns"`
	// Late is how long after the result is ready the workflow sees it.
	Late     time.Duration `json:"late_ns"`
	Standard float64       `json:"standard_usd_per_million"`
	Express  float64       `json:"express_usd_per_million"`
}

// tradeOff models the poll loop: SubmitTask waits up to timeout for the
// answer; while pending, the machine waits interval (WaitForTask) and
// PollTask waits up to timeout again. Each poll adds three transitions
// (WaitForTask, PollTask, IsDone) and one invocation to the happy path.
// Held time is billed at SubmitTask's and PollTask's memory (MB).
func tradeOff(happy Scenario, submitMB, pollMB int, work, interval, timeout time.Duration) TradeOff {
	t := min(work, timeout) // SubmitTask answers
	held := t
	gb := happy.GBSeconds + t.Seconds()*float64(submitMB)/1024
	polls := 0
	for t < work {
		t += interval
		polls++
		end := min(max(work, t), t+timeout)
		held += end - t
		gb += (end - t).Seconds() * float64(pollMB) / 1024
		t = end
	}
	r := TradeOff{Work: work, PollInterval: interval, Timeout: timeout, Polls: polls,
		Transitions: happy.Transitions + 3*polls, Held: held, Late: t - work}
	c := costPerMillion("", r.Transitions, happy.Invocations+polls, gb, happy.Duration+t)
	r.Standard, r.Express = c.Standard, c.Express
	return r
}
