package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/symflow/symflow/local/asl"
	"github.com/symflow/symflow/local/chaos"
	"github.com/symflow/symflow/local/invoke"
	"github.com/symflow/symflow/local/stack"
	"github.com/symflow/symflow/shared/project"
	"github.com/symflow/symflow/shared/task"
)

// execStats collects what one execution's Task states cost.
type execStats struct {
	mu          sync.Mutex
	invocations int
	invoke      time.Duration // wall time inside handlers
	billedMS    int64         // each invocation rounded up to 1 ms
	gbSeconds   float64       // billed duration × memory
	byFunction  map[string]time.Duration
}

type statsKey struct{}

// timedInvoker runs the in-process handlers and charges each invocation
// to the execStats in its context.
type timedInvoker struct {
	next   asl.Invoker
	memory map[string]int // function logical id → MB
}

func (t timedInvoker) Invoke(ctx context.Context, resource string, input json.RawMessage) (json.RawMessage, error) {
	start := time.Now()
	out, err := t.next.Invoke(ctx, resource, input)
	d := time.Since(start)
	if s, ok := ctx.Value(statsKey{}).(*execStats); ok {
		name := invoke.FunctionName(resource)
		ms := int64(math.Ceil(float64(d) / float64(time.Millisecond)))
		mem := t.memory[name]
		if mem == 0 {
			mem = 128
		}
		s.mu.Lock()
		s.invocations++
		s.invoke += d
		s.billedMS += ms
		s.gbSeconds += float64(ms) / 1000 * float64(mem) / 1024
		if s.byFunction == nil {
			s.byFunction = map[string]time.Duration{}
		}
		s.byFunction[name] += d
		s.mu.Unlock()
	}
	return out, err
}

// env runs executions of the sample crash on a stack.
type env struct {
	st      *stack.Stack
	clock   asl.Clock
	input   task.State
	invoker timedInvoker
}

func newEnv(st *stack.Stack, root string, clock asl.Clock) (*env, error) {
	raw, err := os.ReadFile(filepath.Join(root, "events/execution/native-crash.json"))
	if err != nil {
		return nil, err
	}
	e := &env{st: st, clock: clock, invoker: timedInvoker{next: st.Handlers, memory: map[string]int{}}}
	if err := json.Unmarshal(raw, &e.input); err != nil {
		return nil, fmt.Errorf("events/execution/native-crash.json: %w", err)
	}
	for _, f := range st.Template.Functions() {
		e.invoker.memory[f.LogicalID] = f.MemorySize
	}
	return e, nil
}

// outcome is one execution measured.
type outcome struct {
	exec    *asl.Execution
	wall    time.Duration
	stats   *execStats
	entered int
}

func (e *env) execute(ctx context.Context, name string) (outcome, error) {
	s := e.input
	s.EventID = newEventID()
	in, err := json.Marshal(s)
	if err != nil {
		return outcome{}, err
	}
	stats := &execStats{}
	ctx = context.WithValue(ctx, statsKey{}, stats)
	start := time.Now()
	exec, err := e.st.Machine.Run(ctx, name, in, asl.Options{Invoker: e.invoker, Clock: e.clock})
	wall := time.Since(start)
	if err != nil {
		return outcome{}, fmt.Errorf("execution %s: %w", name, err)
	}
	o := outcome{exec: exec, wall: wall, stats: stats}
	for _, h := range exec.History {
		if strings.HasSuffix(h.Type, "StateEntered") {
			o.entered++
		}
	}
	return o, nil
}

func newEventID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// loadSample stores the sample project and uploads its debug file.
func loadSample(ctx context.Context, st *stack.Stack, root string) error {
	raw, err := os.ReadFile(filepath.Join(root, "events/project/sample-project.json"))
	if err != nil {
		return err
	}
	var p project.Project
	if err := json.Unmarshal(raw, &p); err != nil {
		return fmt.Errorf("sample project: %w", err)
	}
	if err := st.LoadProject(ctx, p); err != nil {
		return err
	}
	_, err = st.UploadDebugFile(ctx, p.ID, filepath.Join(root, "events/debug-files/crashy"))
	return err
}

// Level is end-to-end throughput at one concurrency.
type Level struct {
	Concurrency int           `json:"concurrency"`
	Executions  int           `json:"executions"`
	PerSecond   float64       `json:"executions_per_second"`
	P50         time.Duration `json:"p50_ns"`
	P99         time.Duration `json:"p99_ns"`
}

// EndToEnd is section 2.
type EndToEnd struct {
	Levels []Level `json:"levels"`
	// EnginePerState is the time the local engine spends per state
	// entered (execution wall time less time inside handlers, over the
	// states entered), from the happy path at concurrency 1, median.
	EnginePerState time.Duration `json:"engine_per_state_ns"`
	// HandlerShare is the share of an execution's wall time spent in the
	// handlers (HTTP to the Symbolicator, the store, S3).
	HandlerShare float64 `json:"handler_share"`
}

func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(math.Ceil(p*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

// measureEndToEnd runs section 2 on a stack with the embedded Symbolicator,
// warmed by one execution.
func measureEndToEnd(ctx context.Context, cfg Config) (*EndToEnd, error) {
	st, err := stack.Start(ctx, stack.Options{Root: cfg.Root, Config: task.Config{PollTimeout: 5 * time.Second}})
	if err != nil {
		return nil, fmt.Errorf("start the local stack: %w", err)
	}
	defer st.Close()
	if err := loadSample(ctx, st, cfg.Root); err != nil {
		return nil, err
	}
	e, err := newEnv(st, cfg.Root, asl.RealClock{})
	if err != nil {
		return nil, err
	}
	// Warm: the Symbolicator parses and caches the debug file.
	for i := 0; i < 3; i++ {
		o, err := e.execute(ctx, fmt.Sprintf("warm-%d", i))
		if err != nil {
			return nil, err
		}
		if o.exec.Status != asl.StatusSucceeded {
			return nil, fmt.Errorf("warm-up execution %s: %s %s", o.exec.Status, o.exec.Error, o.exec.Cause)
		}
	}
	rep := &EndToEnd{}
	var engine []time.Duration
	var handler, wall time.Duration
	for _, c := range cfg.Concurrency {
		n := cfg.ExecutionsPerWorker * c
		lat := make([]time.Duration, n)
		var mu sync.Mutex
		var firstErr error
		sem := make(chan struct{}, c)
		var wg sync.WaitGroup
		start := time.Now()
		for i := range n {
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer func() { <-sem; wg.Done() }()
				o, err := e.execute(ctx, fmt.Sprintf("c%d-%d", c, i))
				if err == nil && o.exec.Status != asl.StatusSucceeded {
					err = fmt.Errorf("execution %s: %s %s", o.exec.Status, o.exec.Error, o.exec.Cause)
				}
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					if firstErr == nil {
						firstErr = err
					}
					return
				}
				lat[i] = o.wall
				if c == 1 {
					engine = append(engine, (o.wall-o.stats.invoke)/time.Duration(o.entered))
					handler += o.stats.invoke
					wall += o.wall
				}
			}()
		}
		wg.Wait()
		if firstErr != nil {
			return nil, firstErr
		}
		elapsed := time.Since(start)
		rep.Levels = append(rep.Levels, Level{Concurrency: c, Executions: n,
			PerSecond: float64(n) / elapsed.Seconds(), P50: percentile(lat, 0.50), P99: percentile(lat, 0.99)})
	}
	rep.EnginePerState = percentile(engine, 0.5)
	if wall > 0 {
		rep.HandlerShare = handler.Seconds() / wall.Seconds()
	}
	return rep, nil
}

// Scenario is one path through the workflow.
type Scenario struct {
	Name   string   `json:"name"`
	Faults []string `json:"faults"`
	Path   []string `json:"path"`
	// Transitions counts states entered, what Standard workflows bill.
	Transitions int `json:"transitions"`
	Invocations int `json:"lambda_invocations"`
	// BilledMS is the Lambda billed duration (each invocation rounded up
	// to 1 ms) measured in-process; GBSeconds weighs it by each function's
	// MemorySize in template.yaml.
	BilledMS  int64   `json:"billed_ms"`
	GBSeconds float64 `json:"gb_seconds"`
	// Duration is the execution's wall time with instant waits; Waited
	// the time its Wait states and retries would have waited.
	Duration       time.Duration `json:"duration_ns"`
	Waited         time.Duration `json:"waited_ns"`
	EnginePerState time.Duration `json:"engine_per_state_ns"`
	Status         string        `json:"status"`
}

// measureScenarios runs the happy path, one lost task and one unavailable
// answer through the chaos proxy, with instant waits; each is run
// cfg.Repeats times and the median-duration run kept.
func measureScenarios(ctx context.Context, cfg Config) ([]Scenario, error) {
	clock := asl.NewFakeClock(time.Now())
	cenv, err := chaos.StartEnv(ctx, chaos.EnvConfig{
		Root:   cfg.Root,
		Proxy:  chaos.Config{Seed: 1, SlowDelay: time.Minute},
		Config: task.Config{PollTimeout: 100 * time.Millisecond, NetworkRetryWaits: []time.Duration{time.Millisecond}},
		Clock:  clock,
	})
	if err != nil {
		return nil, err
	}
	defer cenv.Close()
	e, err := newEnv(cenv.Stack, cfg.Root, clock)
	if err != nil {
		return nil, err
	}
	cases := []struct {
		name   string
		script []chaos.Fault
	}{
		{"happy path", nil},
		{"one lost task", []chaos.Fault{chaos.Pending, chaos.Lost}},
		{"one unavailability", []chaos.Fault{chaos.Unavailable}},
	}
	var out []Scenario
	for _, c := range cases {
		var runs []outcome
		for i := 0; i < max(cfg.Repeats, 1)+1; i++ {
			cenv.Proxy.AppendScript(c.script...)
			o, err := e.execute(ctx, fmt.Sprintf("scenario-%d-%d", len(out), i))
			if err != nil {
				return nil, err
			}
			if i > 0 { // the first run warms caches
				runs = append(runs, o)
			}
		}
		slices.SortFunc(runs, func(a, b outcome) int { return int(a.wall - b.wall) })
		o := runs[len(runs)/2]
		faults := make([]string, len(c.script))
		for i, f := range c.script {
			faults[i] = string(f)
		}
		out = append(out, Scenario{
			Name: c.name, Faults: faults, Path: asl.Path(o.exec), Transitions: o.entered,
			Invocations: o.stats.invocations, BilledMS: o.stats.billedMS, GBSeconds: o.stats.gbSeconds,
			Duration: o.wall, Waited: o.exec.StopDate.Sub(o.exec.StartDate), EnginePerState: (o.wall - o.stats.invoke) / time.Duration(max(o.entered, 1)),
			Status: o.exec.Status,
		})
	}
	return out, nil
}
