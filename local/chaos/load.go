package chaos

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/symflow/symflow/local/asl"
	"github.com/symflow/symflow/local/stack"
	"github.com/symflow/symflow/shared/project"
	"github.com/symflow/symflow/shared/task"
)

// LoadConfig configures a load run: many executions of the sample crash
// through the local engine, with the proxy in front of the embedded
// Symbolicator.
type LoadConfig struct {
	// Root is the repository root (template.yaml, statemachine/, events/).
	Root string
	// Executions is how many executions to start; Concurrency how many
	// run at once (0: all).
	Executions, Concurrency int
	// Mix and Seed configure the proxy; Burst and SlowDelay as in Config.
	Mix       Mix
	Seed      uint64
	Burst     int
	SlowDelay time.Duration
	// Config overrides workflow parameters. Load runs want small
	// PollTimeout and NetworkRetryWaits, so slow answers cost little.
	Config task.Config
	// ClockScale runs the state machine's clock this many times faster
	// than the wall clock (Wait states, the deadline, Task timeouts); 0
	// means 5.
	ClockScale float64
	// ExecutionTimeout is the wall time after which an execution still
	// running is aborted and counted stuck; 0 means 2 minutes.
	ExecutionTimeout time.Duration
	// Log receives the handlers' JSON logs; nil discards them.
	Log io.Writer
}

// LoadReport is what a load run saw. Lost and Stuck must be 0.
type LoadReport struct {
	Mix       Mix
	Started   int
	Succeeded int
	// Failed counts executions that ended in a named error, by name.
	Failed map[string]int
	// Lost counts executions that left no record, or succeeded without
	// the result a fault-free run gives.
	Lost int
	// Stuck counts executions still running at ExecutionTimeout.
	Stuck int
	// Injected counts the proxy's faults; Requests the submissions and
	// polls it saw.
	Injected map[Fault]int
	Requests int
	// Resubmits counts the workflow's recoveries by reason: "lost"
	// (ForgetLostTask) and "unavailable" (ResetWorker).
	Resubmits map[string]int
	// Unrecovered counts executions that failed although every fault they
	// met is one the workflow recovers from (Recoverable), or none at all.
	// It must be 0.
	Unrecovered int
	// Met counts, per fault, the executions that met it at least once,
	// and MetSucceeded those of them that still succeeded.
	Met, MetSucceeded map[Fault]int
	Duration          time.Duration
	// Problems describes the first lost or stuck executions.
	Problems []string
}

// FailedTotal is the number of executions that ended in a named error.
func (r *LoadReport) FailedTotal() int {
	n := 0
	for _, c := range r.Failed {
		n += c
	}
	return n
}

// WriteTable prints the report as an aligned table.
func (r *LoadReport) WriteTable(w io.Writer) {
	fmt.Fprintf(w, "load with faults: %d executions, mix %s, %s\n", r.Started, r.Mix, r.Duration.Round(time.Millisecond))
	fmt.Fprintf(w, "  %-28s %6d\n", "started", r.Started)
	fmt.Fprintf(w, "  %-28s %6d\n", "succeeded", r.Succeeded)
	fmt.Fprintf(w, "  %-28s %6d\n", "failed", r.FailedTotal())
	names := make([]string, 0, len(r.Failed))
	for n := range r.Failed {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "    %-26s %6d\n", n, r.Failed[n])
	}
	fmt.Fprintf(w, "  %-28s %6d\n", "lost", r.Lost)
	fmt.Fprintf(w, "  %-28s %6d\n", "stuck", r.Stuck)
	fmt.Fprintf(w, "  %-28s %6d\n", "failed after recoverable", r.Unrecovered)
	injected := 0
	for _, n := range r.Injected {
		injected += n
	}
	fmt.Fprintf(w, "  %-28s %6d\n", "symbolicator requests", r.Requests)
	pct := 0.0
	if r.Requests > 0 {
		pct = 100 * float64(injected) / float64(r.Requests)
	}
	fmt.Fprintf(w, "  %-28s %6d (%.1f %%)\n", "faults injected", injected, pct)
	fmt.Fprintf(w, "  %-16s %9s %10s %10s %10s\n", "fault", "injected", "resubmits", "execs met", "succeeded")
	for _, f := range Faults {
		resub := "-"
		switch f {
		case Lost:
			resub = fmt.Sprint(r.Resubmits[task.ReasonLost])
		case Unavailable:
			resub = fmt.Sprint(r.Resubmits[task.ReasonUnavailable])
		}
		if r.Injected[f] == 0 && resub == "-" {
			continue
		}
		fmt.Fprintf(w, "  %-16s %9d %10s %10d %10d\n", f, r.Injected[f], resub, r.Met[f], r.MetSucceeded[f])
	}
	for _, p := range r.Problems {
		fmt.Fprintf(w, "  problem: %s\n", p)
	}
}

// RunLoad starts cfg.Executions executions and waits for all of them.
// The error is for a load run that could not start; what the executions
// did is in the report.
func RunLoad(ctx context.Context, cfg LoadConfig) (*LoadReport, error) {
	if cfg.Executions <= 0 {
		return nil, fmt.Errorf("load: executions must be positive, got %d", cfg.Executions)
	}
	if cfg.Concurrency <= 0 || cfg.Concurrency > cfg.Executions {
		cfg.Concurrency = cfg.Executions
	}
	if cfg.ClockScale <= 0 {
		cfg.ClockScale = 5
	}
	if cfg.ExecutionTimeout <= 0 {
		cfg.ExecutionTimeout = 2 * time.Minute
	}
	env, err := StartEnv(ctx, EnvConfig{
		Root:   cfg.Root,
		Proxy:  Config{Mix: cfg.Mix, Seed: cfg.Seed, Burst: cfg.Burst, SlowDelay: cfg.SlowDelay},
		Config: cfg.Config,
		Clock:  NewScaledClock(cfg.ClockScale),
		Log:    cfg.Log,
	})
	if err != nil {
		return nil, err
	}
	defer env.Close()

	// A fault-free execution first: its frames are what every succeeded
	// execution must show.
	want, err := env.baseline(ctx)
	if err != nil {
		return nil, err
	}
	baseTotal, baseCounts := env.Proxy.Total(), env.Proxy.Counts()
	env.Proxy.SetMix(cfg.Mix) //nolint:errcheck // validated by StartEnv

	rep := &LoadReport{Mix: cfg.Mix, Failed: map[string]int{}, Resubmits: map[string]int{},
		Met: map[Fault]int{}, MetSucceeded: map[Fault]int{}}
	succeeded := map[string]bool{}      // event id → the execution succeeded
	failedEvents := map[string]string{} // event id → execution name, for those that failed
	var mu sync.Mutex
	problem := func(format string, a ...any) {
		if len(rep.Problems) < 10 {
			rep.Problems = append(rep.Problems, fmt.Sprintf(format, a...))
		}
	}
	start := time.Now()
	sem := make(chan struct{}, cfg.Concurrency)
	var wg sync.WaitGroup
	for i := range cfg.Executions {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			name := fmt.Sprintf("load-%05d", i)
			ectx, cancel := context.WithTimeout(ctx, cfg.ExecutionTimeout)
			defer cancel()
			o := env.Execute(ectx, name, nil)
			mu.Lock()
			defer mu.Unlock()
			rep.Started++
			for _, s := range asl.Path(o.Exec) {
				switch s {
				case "ForgetLostTask":
					rep.Resubmits[task.ReasonLost]++
				case "ResetWorker":
					rep.Resubmits[task.ReasonUnavailable]++
				}
			}
			switch {
			case o.Err != nil:
				rep.Lost++
				problem("%s: %v", name, o.Err)
			case o.Exec.Status == asl.StatusRunning || o.Exec.Status == asl.StatusAborted:
				rep.Stuck++
				problem("%s: %s after %s at %s", name, o.Exec.Status, cfg.ExecutionTimeout, lastState(o.Exec))
			case o.Exec.Status == asl.StatusSucceeded:
				if !bytes.Equal(o.Frames, want) {
					rep.Lost++
					problem("%s: succeeded with frames %s, want %s", name, o.Frames, want)
					return
				}
				rep.Succeeded++
				var in task.State
				if json.Unmarshal(o.Exec.Input, &in) == nil {
					succeeded[in.EventID] = true
				}
			default:
				rep.Failed[o.Exec.Error]++
				var in task.State
				if json.Unmarshal(o.Exec.Input, &in) == nil {
					failedEvents[in.EventID] = name + " (" + o.Exec.Error + ")"
				}
			}
		}()
	}
	wg.Wait()
	rep.Duration = time.Since(start)

	// Every execution left a record, and none is still running.
	saved, err := stack.ListExecutions(env.Stack.StateDir)
	if err != nil {
		return nil, fmt.Errorf("load: list executions: %w", err)
	}
	seen := map[string]bool{}
	for _, e := range saved {
		seen[e.Name] = true
		if e.Status == asl.StatusRunning && strings.HasPrefix(e.Name, "load-") {
			rep.Stuck++
			problem("%s: saved as RUNNING", e.Name)
		}
	}
	for i := range cfg.Executions {
		if name := fmt.Sprintf("load-%05d", i); !seen[name] {
			rep.Lost++
			problem("%s: no saved record", name)
		}
	}
	met := map[Fault]map[string]bool{}
	unrecoverable := map[string][]Fault{} // event id → the unrecoverable faults it met
	for _, r := range env.Proxy.Requests() {
		if r.Fault != None && !slices.Contains(Recoverable, r.Fault) {
			unrecoverable[r.EventID] = append(unrecoverable[r.EventID], r.Fault)
		}
		if r.Fault == None || r.EventID == "" {
			continue
		}
		if met[r.Fault] == nil {
			met[r.Fault] = map[string]bool{}
		}
		met[r.Fault][r.EventID] = true
	}
	for f, events := range met {
		rep.Met[f] = len(events)
		for ev := range events {
			if succeeded[ev] {
				rep.MetSucceeded[f]++
			}
		}
	}
	for ev, name := range failedEvents {
		if len(unrecoverable[ev]) == 0 {
			rep.Unrecovered++
			problem("%s failed after recoverable faults only", name)
		}
	}
	rep.Requests = env.Proxy.Total() - baseTotal
	rep.Injected = map[Fault]int{}
	for f, n := range env.Proxy.Counts() {
		if d := n - baseCounts[f]; d > 0 {
			rep.Injected[f] = d
		}
	}
	return rep, nil
}

func lastState(e *asl.Execution) string {
	p := asl.Path(e)
	if len(p) == 0 {
		return "start"
	}
	return p[len(p)-1]
}

// SetMix replaces the mix for the requests to come.
func (p *Proxy) SetMix(m Mix) error {
	if err := m.Validate(); err != nil {
		return fmt.Errorf("chaos: %w", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cfg.Mix = m
	return nil
}

// AppendScript adds faults for the next requests, after those still
// scripted.
func (p *Proxy) AppendScript(faults ...Fault) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.script = append(p.script, faults...)
}

// EnvConfig configures an Env.
type EnvConfig struct {
	// Root is the repository root.
	Root string
	// Proxy configures the proxy; its Target is set by StartEnv.
	Proxy Config
	// Config overrides workflow parameters.
	Config task.Config
	// Clock runs the state machine; asl.RealClock when nil.
	Clock asl.Clock
	// Log receives the handlers' JSON logs and the embedded Symbolicator's;
	// nil discards them.
	Log io.Writer
	// Project replaces the sample project (events/project/sample-project.json).
	Project *project.Project
	// Settings, when set, replace the stack's deployment settings (for
	// secrets such as the system token); the debug-files bucket is kept.
	Settings *project.Settings
}

// Env is a local stack whose Symbolicator is the embedded one behind a
// Proxy, loaded with the sample project and its debug file.
type Env struct {
	Stack *stack.Stack
	Proxy *Server
	// Inner is the stack whose embedded Symbolicator the proxy forwards
	// to; it holds its own copy of the debug file.
	Inner   *stack.Stack
	Project project.Project
	input   json.RawMessage
	closers []func()
}

// StartEnv starts the inner stack, the proxy and the stack under test.
func StartEnv(ctx context.Context, cfg EnvConfig) (env *Env, err error) {
	env = &Env{}
	defer func() {
		if err != nil {
			env.Close()
		}
	}()
	root := cfg.Root
	if cfg.Project != nil {
		env.Project = *cfg.Project
	} else if err := readJSON(filepath.Join(root, "events/project/sample-project.json"), &env.Project); err != nil {
		return nil, err
	}
	if env.input, err = os.ReadFile(filepath.Join(root, "events/execution/native-crash.json")); err != nil {
		return nil, err
	}
	env.Inner, err = stack.Start(ctx, stack.Options{Root: root, Log: cfg.Log})
	if err != nil {
		return nil, fmt.Errorf("start the stack serving the embedded Symbolicator: %w", err)
	}
	env.closers = append(env.closers, env.Inner.Close)
	pcfg := cfg.Proxy
	pcfg.Target = env.Inner.SymbolicatorURL
	env.Proxy, err = Listen(pcfg, "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	env.closers = append(env.closers, func() { env.Proxy.Close() })
	env.Stack, err = stack.Start(ctx, stack.Options{
		Root:            root,
		SymbolicatorURL: env.Proxy.URL,
		Clock:           cfg.Clock,
		Config:          cfg.Config,
		Log:             cfg.Log,
	})
	if err != nil {
		return nil, fmt.Errorf("start the stack under test: %w", err)
	}
	env.closers = append(env.closers, env.Stack.Close)
	if cfg.Settings != nil {
		s := *cfg.Settings
		s.DebugFilesBucket = env.Stack.Steps.Settings.DebugFilesBucket
		s.DebugFilesRegion = env.Stack.Steps.Settings.DebugFilesRegion
		env.Stack.Steps.Settings = s
	}
	debugFile := filepath.Join(root, "events/debug-files/crashy")
	for _, st := range []*stack.Stack{env.Inner, env.Stack} {
		if err := st.LoadProject(ctx, env.Project); err != nil {
			return nil, err
		}
		if _, err := st.UploadDebugFile(ctx, env.Project.ID, debugFile); err != nil {
			return nil, err
		}
	}
	return env, nil
}

// Close stops everything StartEnv started.
func (env *Env) Close() {
	for i := len(env.closers) - 1; i >= 0; i-- {
		env.closers[i]()
	}
	env.closers = nil
}

// Outcome is one execution's record and, when it succeeded, its result.
type Outcome struct {
	Exec   *asl.Execution
	Output task.Output
	// Result is the stored post-processed result; Frames its first stack
	// trace's frames as JSON ("function file:line" strings).
	Result map[string]any
	Frames []byte
	// Err is a failure to run or to read back the execution.
	Err error
}

// Execute runs the sample crash under name with a fresh event id (so
// concurrent executions keep separate task records), after mutate
// changes the input.
func (env *Env) Execute(ctx context.Context, name string, mutate func(*task.State)) Outcome {
	var s task.State
	if err := json.Unmarshal(env.input, &s); err != nil {
		return Outcome{Err: fmt.Errorf("sample input: %w", err)}
	}
	s.EventID = newEventID()
	if mutate != nil {
		mutate(&s)
	}
	in, err := json.Marshal(s)
	if err != nil {
		return Outcome{Err: err}
	}
	exec, err := env.Stack.Run(ctx, name, in, nil)
	o := Outcome{Exec: exec, Err: err}
	if err != nil || exec.Status != asl.StatusSucceeded {
		return o
	}
	if err := json.Unmarshal(exec.Output, &o.Output); err != nil {
		o.Err = fmt.Errorf("execution output: %w", err)
		return o
	}
	if o.Output.Result.Result.Key == "" {
		o.Err = fmt.Errorf("execution output has no result")
		return o
	}
	// The result is read with a context of its own: an execution that
	// ended just before its deadline still has a result to check.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := env.Stack.Blobs.GetJSON(rctx, o.Output.Result.Result, &o.Result); err != nil {
		o.Err = fmt.Errorf("read result: %w", err)
		return o
	}
	o.Frames, _ = json.Marshal(Frames(o.Result))
	return o
}

func (env *Env) baseline(ctx context.Context) ([]byte, error) {
	env.Proxy.SetMix(nil) //nolint:errcheck // nil is valid
	o := env.Execute(ctx, "load-baseline", nil)
	if o.Err != nil {
		return nil, fmt.Errorf("load: fault-free execution: %w", o.Err)
	}
	if o.Exec.Status != asl.StatusSucceeded {
		return nil, fmt.Errorf("load: fault-free execution %s: %s: %s", o.Exec.Status, o.Exec.Error, o.Exec.Cause)
	}
	return o.Frames, nil
}

// Frames lists "function file:line" for the first stack trace of a
// result.
func Frames(result map[string]any) []string {
	traces, _ := result["stacktraces"].([]any)
	if len(traces) == 0 {
		return nil
	}
	t, _ := traces[0].(map[string]any)
	frames, _ := t["frames"].([]any)
	var out []string
	for _, f := range frames {
		fr, _ := f.(map[string]any)
		fn, _ := fr["function"].(string)
		file, _ := fr["abs_path"].(string)
		line, _ := fr["lineno"].(float64)
		out = append(out, strings.TrimSpace(fmt.Sprintf("%s %s:%d", fn, file, int(line))))
	}
	return out
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

func newEventID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// ScaledClock is the wall clock sped up: Now runs Scale times faster than
// real time from its creation, and Sleep and AfterFunc wait 1/Scale of
// their duration. Unlike asl.FakeClock, concurrent executions share it
// without adding up each other's waits, so it suits load runs.
type ScaledClock struct {
	Scale float64
	start time.Time
}

// NewScaledClock returns a clock running scale times faster than real
// time.
func NewScaledClock(scale float64) *ScaledClock {
	return &ScaledClock{Scale: scale, start: time.Now()}
}

func (c *ScaledClock) real(d time.Duration) time.Duration {
	return time.Duration(float64(d) / c.Scale)
}

// Now returns the scaled time.
func (c *ScaledClock) Now() time.Time {
	return c.start.Add(time.Duration(float64(time.Since(c.start)) * c.Scale))
}

// Sleep waits d of scaled time unless ctx ends first.
func (c *ScaledClock) Sleep(ctx context.Context, d time.Duration) error {
	return asl.RealClock{}.Sleep(ctx, c.real(d))
}

// AfterFunc calls f once d of scaled time has passed.
func (c *ScaledClock) AfterFunc(d time.Duration, f func()) func() bool {
	return time.AfterFunc(c.real(d), f).Stop
}
