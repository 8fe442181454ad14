package runtimeapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"
)

// Lambda's defaults for what Config leaves zero.
const (
	DefaultRegion      = "us-east-1"
	DefaultMemoryMB    = 128
	DefaultTimeout     = 3 * time.Second
	DefaultInitTimeout = 10 * time.Second
	// AccountID is the account local ARNs name, as local/samtemplate does.
	AccountID = "000000000000"
)

// ErrStopped is returned by Invoke after Stop.
var ErrStopped = errors.New("function stopped")

// Config describes a function to run from its built binary.
type Config struct {
	// Name is the function name: AWS_LAMBDA_FUNCTION_NAME, the last part
	// of its ARN, and what Invoker matches a resource against.
	Name string
	// Bootstrap is the path of the built executable.
	Bootstrap string
	// Env is the function's own environment (the template's variables,
	// endpoint overrides). Keys Lambda reserves are refused.
	Env map[string]string
	// Region is AWS_REGION; DefaultRegion when empty.
	Region string
	// MemoryMB is AWS_LAMBDA_FUNCTION_MEMORY_SIZE; DefaultMemoryMB when 0.
	// It is not enforced.
	MemoryMB int
	// Timeout bounds one invocation from its delivery to the runtime;
	// DefaultTimeout when 0.
	Timeout time.Duration
	// InitTimeout bounds a new process's start until it takes the
	// invocation; DefaultInitTimeout when 0.
	InitTimeout time.Duration
	// Instances is how many execution environments may run at once (at
	// most one invocation each); 1 when 0.
	Instances int
	// Output receives the processes' stdout and stderr (their logs); nil
	// discards them.
	Output io.Writer
	// Logger receives lifecycle events (starts, exits, timeouts); nil
	// discards them.
	Logger *slog.Logger
}

// reservedEnv are the variables Lambda sets itself and refuses in a
// function's configuration.
var reservedEnv = []string{
	"_HANDLER", "_X_AMZN_TRACE_ID", "AWS_DEFAULT_REGION", "AWS_REGION",
	"AWS_EXECUTION_ENV", "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
	"AWS_LAMBDA_FUNCTION_VERSION", "AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_LAMBDA_LOG_GROUP_NAME",
	"AWS_LAMBDA_LOG_STREAM_NAME", "AWS_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
	"AWS_SESSION_TOKEN", "AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR",
}

// ReservedEnvError reports a function environment variable Lambda
// reserves for itself.
type ReservedEnvError struct {
	Function string
	Key      string
}

func (e *ReservedEnvError) Error() string {
	return fmt.Sprintf("function %s: environment variable %s is reserved by Lambda", e.Function, e.Key)
}

// Stats are a function's counters since it was created.
type Stats struct {
	// Invocations counts invocations delivered to a runtime.
	Invocations int
	// ColdStarts counts processes started.
	ColdStarts int
	// InitDurations holds, for each process that reached its first /next,
	// the time from process start to that request: Lambda's Init Duration.
	InitDurations []time.Duration
}

// Function runs one function's binary as warm processes, one per
// execution environment, restarted when they exit. It is safe for
// concurrent use; invocations beyond Instances wait for a free
// environment.
type Function struct {
	cfg   Config
	arn   string
	env   []string // function env and the fixed Lambda variables, without the API address
	out   io.Writer
	log   *slog.Logger
	slots chan *slot

	stopOnce sync.Once
	stopped  chan struct{}

	mu    sync.Mutex
	live  map[*instance]struct{}
	stats Stats
}

// slot is one execution environment; whoever holds it owns inst.
type slot struct {
	inst *instance
}

// instance is one process and its Runtime API endpoint.
type instance struct {
	srv     *Server
	cmd     *exec.Cmd
	started time.Time
	exited  chan struct{}
	waitErr error // set before exited is closed
}

func (in *instance) hasExited() bool {
	select {
	case <-in.exited:
		return true
	default:
		return false
	}
}

// NewFunction checks cfg and returns a function with no process running
// yet: the first invocation starts one (a cold start).
func NewFunction(cfg Config) (*Function, error) {
	if cfg.Name == "" {
		return nil, errors.New("function config: Name is empty")
	}
	if cfg.Bootstrap == "" {
		return nil, fmt.Errorf("function %s: Bootstrap is empty", cfg.Name)
	}
	st, err := os.Stat(cfg.Bootstrap)
	if err != nil {
		return nil, fmt.Errorf("function %s: bootstrap: %w", cfg.Name, err)
	}
	if !st.Mode().IsRegular() || st.Mode().Perm()&0o111 == 0 {
		return nil, fmt.Errorf("function %s: bootstrap %s is not an executable file", cfg.Name, cfg.Bootstrap)
	}
	for k := range cfg.Env {
		if slices.Contains(reservedEnv, k) {
			return nil, &ReservedEnvError{Function: cfg.Name, Key: k}
		}
		if k == "" {
			return nil, fmt.Errorf("function %s: environment variable with an empty name", cfg.Name)
		}
	}
	if cfg.Region == "" {
		cfg.Region = DefaultRegion
	}
	if cfg.MemoryMB <= 0 {
		cfg.MemoryMB = DefaultMemoryMB
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.InitTimeout <= 0 {
		cfg.InitTimeout = DefaultInitTimeout
	}
	if cfg.Instances <= 0 {
		cfg.Instances = 1
	}
	if abs, err := filepath.Abs(cfg.Bootstrap); err == nil {
		cfg.Bootstrap = abs
	}
	f := &Function{
		cfg:     cfg,
		arn:     fmt.Sprintf("arn:aws:lambda:%s:%s:function:%s", cfg.Region, AccountID, cfg.Name),
		log:     cfg.Logger,
		slots:   make(chan *slot, cfg.Instances),
		stopped: make(chan struct{}),
		live:    map[*instance]struct{}{},
	}
	if f.log == nil {
		f.log = slog.New(slog.DiscardHandler)
	}
	f.log = f.log.With("function", cfg.Name)
	if cfg.Output != nil {
		f.out = &syncWriter{w: cfg.Output}
	}
	for range cfg.Instances {
		f.slots <- &slot{}
	}
	f.env = f.environment()
	return f, nil
}

// environment is what Lambda's provided.al2023 runtime gives a bootstrap,
// with dummy credentials (the local endpoints do not check them) and the
// instance metadata service off, so the SDK never looks beyond loopback.
func (f *Function) environment() []string {
	dir := filepath.Dir(f.cfg.Bootstrap)
	env := []string{
		"AWS_LAMBDA_FUNCTION_NAME=" + f.cfg.Name,
		"AWS_LAMBDA_FUNCTION_VERSION=$LATEST",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=" + strconv.Itoa(f.cfg.MemoryMB),
		"AWS_LAMBDA_INITIALIZATION_TYPE=on-demand",
		"AWS_LAMBDA_LOG_GROUP_NAME=/aws/lambda/" + f.cfg.Name,
		"AWS_EXECUTION_ENV=AWS_Lambda_provided.al2023",
		"_HANDLER=bootstrap",
		"AWS_REGION=" + f.cfg.Region,
		"AWS_DEFAULT_REGION=" + f.cfg.Region,
		"AWS_ACCESS_KEY_ID=local",
		"AWS_SECRET_ACCESS_KEY=local",
		"AWS_EC2_METADATA_DISABLED=true",
		"LAMBDA_TASK_ROOT=" + dir,
		"LAMBDA_RUNTIME_DIR=" + dir,
		"PATH=/usr/local/bin:/usr/bin:/bin",
		"LANG=en_US.UTF-8",
		"TZ=:UTC",
	}
	keys := make([]string, 0, len(f.cfg.Env))
	for k := range f.cfg.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		env = append(env, k+"="+f.cfg.Env[k])
	}
	return env
}

// Name is the function's name.
func (f *Function) Name() string { return f.cfg.Name }

// ARN is the function's local ARN, the invoked function ARN its runtime
// sees.
func (f *Function) ARN() string { return f.arn }

// Stats returns a copy of the function's counters.
func (f *Function) Stats() Stats {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.stats
	s.InitDurations = slices.Clone(s.InitDurations)
	return s
}

// Invoke runs one invocation and returns the function's response. A
// failed invocation returns a *FunctionError named as Lambda names it.
// When ctx ends first, Invoke returns ctx's error at once; an invocation
// the runtime already took runs on to its end (as on Lambda) before its
// environment serves another.
func (f *Function) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	var s *slot
	select {
	case <-f.stopped:
		return nil, fmt.Errorf("invoke %s: %w", f.cfg.Name, ErrStopped)
	case <-ctx.Done():
		return nil, fmt.Errorf("invoke %s: %w", f.cfg.Name, ctx.Err())
	case s = <-f.slots:
	}
	type outcome struct {
		res Result
		err error
	}
	ch := make(chan outcome, 1)
	go func() {
		res, err := f.run(ctx, s, payload)
		f.slots <- s
		ch <- outcome{res, err}
	}()
	select {
	case o := <-ch:
		if o.err != nil {
			return nil, fmt.Errorf("invoke %s: %w", f.cfg.Name, o.err)
		}
		if o.res.Err != nil {
			return nil, o.res.Err
		}
		return o.res.Payload, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("invoke %s: %w", f.cfg.Name, ctx.Err())
	}
}

// run delivers one invocation to the slot's process, starting one when
// there is none, and waits for its outcome.
func (f *Function) run(ctx context.Context, s *slot, payload []byte) (Result, error) {
	inv := Invocation{
		RequestID:   uuid.NewString(),
		Payload:     payload,
		FunctionARN: f.arn,
		TraceID:     traceID(),
		Timeout:     f.cfg.Timeout,
	}
	retried := false
	for {
		select {
		case <-f.stopped:
			return Result{}, ErrStopped
		default:
		}
		cold := false
		if s.inst == nil || s.inst.hasExited() {
			if s.inst != nil {
				f.retire(s.inst)
				s.inst = nil
			}
			inst, err := f.start()
			if errors.Is(err, ErrStopped) {
				return Result{}, err
			}
			if err != nil {
				f.log.Error("start process", "error", err)
				return Result{Err: newFunctionError("Runtime.InvalidEntrypoint",
					fmt.Sprintf("RequestId: %s Error: %v", inv.RequestID, err))}, nil
			}
			s.inst, cold = inst, true
		}
		inst := s.inst
		p, err := inst.srv.Submit(inv)
		if err != nil {
			return Result{}, err
		}
		res, again, err := f.await(ctx, inst, p, cold, retried)
		p.Forget()
		if again {
			retried = true
			continue
		}
		return res, err
	}
}

// await waits for the invocation's delivery and outcome. again asks run to
// start a new process and deliver the invocation there: a warm process
// that had exited before taking it.
func (f *Function) await(ctx context.Context, inst *instance, p *Pending, cold, retried bool) (res Result, again bool, err error) {
	id := p.c.inv.RequestID
	initTimer := time.NewTimer(f.cfg.InitTimeout)
	defer initTimer.Stop()
	select {
	case <-p.Delivered():
	case <-inst.exited:
		if p.Withdraw() {
			if f.isStopped() {
				return Result{}, false, ErrStopped
			}
			if !cold && !retried {
				return Result{}, true, nil
			}
			return Result{Err: f.exitError(id, inst)}, false, nil
		}
	case <-inst.srv.InitError():
		if p.Withdraw() {
			f.kill(inst)
			fe := inst.srv.InitErr()
			f.log.Warn("init error", "request_id", id, "error_type", fe.Type)
			return Result{Err: fe}, false, nil
		}
	case <-initTimer.C:
		if p.Withdraw() {
			f.kill(inst)
			f.log.Warn("init timed out", "request_id", id, "init_timeout", f.cfg.InitTimeout)
			return Result{Err: timeoutError(id, f.cfg.InitTimeout)}, false, nil
		}
	case <-f.stopped:
		p.Withdraw()
		return Result{}, false, ErrStopped
	case <-ctx.Done():
		if p.Withdraw() {
			return Result{}, false, ctx.Err()
		}
	}
	// Delivered: the invocation runs to its end whatever ctx does.
	initTimer.Stop()
	var initDuration time.Duration
	f.mu.Lock()
	f.stats.Invocations++
	if cold {
		if at, ok := inst.srv.FirstNext(); ok {
			initDuration = at.Sub(inst.started)
			f.stats.InitDurations = append(f.stats.InitDurations, initDuration)
		}
	}
	f.mu.Unlock()

	start := time.Now()
	res, err = f.outcome(inst, p)
	// Lambda's REPORT line, for the local console.
	attrs := []any{"request_id", id, "duration", time.Since(start)}
	if initDuration > 0 {
		attrs = append(attrs, "init_duration", initDuration)
	}
	if res.Err != nil {
		attrs = append(attrs, "error_type", res.Err.Type)
	}
	f.log.Info("REPORT", attrs...)
	return res, false, err
}

// outcome waits for a delivered invocation's response, error, process
// exit or timeout.
func (f *Function) outcome(inst *instance, p *Pending) (Result, error) {
	id := p.c.inv.RequestID
	timer := time.NewTimer(time.Until(p.Deadline()))
	defer timer.Stop()
	select {
	case <-p.Done():
		return p.Result(), nil
	case <-inst.exited:
		select {
		case <-p.Done(): // posted, then exited (aws-lambda-go after a panic)
			return p.Result(), nil
		default:
		}
		if f.isStopped() {
			return Result{}, ErrStopped
		}
		fe := f.exitError(id, inst)
		f.log.Warn("process exited during invocation", "request_id", id, "error", fe.Message)
		return Result{Err: fe}, nil
	case <-timer.C:
		select {
		case <-p.Done():
			return p.Result(), nil
		default:
		}
		f.kill(inst)
		f.log.Warn("invocation timed out", "request_id", id, "timeout", f.cfg.Timeout)
		return Result{Err: timeoutError(id, f.cfg.Timeout)}, nil
	}
}

// exitError is Lambda's report of a runtime that exited without answering.
func (f *Function) exitError(requestID string, inst *instance) *FunctionError {
	reason := "Runtime exited without providing a reason"
	if inst.waitErr != nil {
		reason = "Runtime exited with error: " + inst.waitErr.Error()
	}
	return newFunctionError("Runtime.ExitError", fmt.Sprintf("RequestId: %s Error: %s", requestID, reason))
}

// timeoutError is Lambda's report of an invocation past its timeout.
func timeoutError(requestID string, d time.Duration) *FunctionError {
	return newFunctionError("Sandbox.Timedout",
		fmt.Sprintf("RequestId: %s Error: Task timed out after %.2f seconds", requestID, d.Seconds()))
}

// start launches a process with its own Runtime API endpoint.
func (f *Function) start() (*instance, error) {
	srv, err := StartServer(f.log)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(f.cfg.Bootstrap)
	cmd.Dir = filepath.Dir(f.cfg.Bootstrap)
	cmd.Env = append(slices.Clone(f.env),
		"AWS_LAMBDA_RUNTIME_API="+srv.Addr(),
		"AWS_LAMBDA_LOG_STREAM_NAME="+time.Now().UTC().Format("2006/01/02")+"/[$LATEST]"+randomHex(16))
	if f.out != nil {
		cmd.Stdout, cmd.Stderr = f.out, f.out
	}
	// Output is copied through pipes; a child that keeps them open must
	// not hold Wait forever.
	cmd.WaitDelay = 2 * time.Second
	inst := &instance{srv: srv, cmd: cmd, exited: make(chan struct{})}

	f.mu.Lock()
	defer f.mu.Unlock()
	if f.isStopped() {
		srv.Close()
		return nil, ErrStopped
	}
	inst.started = time.Now()
	if err := cmd.Start(); err != nil {
		srv.Close()
		return nil, fmt.Errorf("start bootstrap %s: %w", f.cfg.Bootstrap, err)
	}
	f.stats.ColdStarts++
	f.live[inst] = struct{}{}
	f.log.Debug("process started", "pid", cmd.Process.Pid, "runtime_api", srv.Addr())
	go func() {
		inst.waitErr = cmd.Wait()
		close(inst.exited)
		f.log.Debug("process exited", "pid", cmd.Process.Pid, "status", fmt.Sprint(inst.waitErr))
	}()
	return inst, nil
}

// kill ends a process and waits for it to be reaped.
func (f *Function) kill(inst *instance) {
	_ = inst.cmd.Process.Kill()
	select {
	case <-inst.exited:
	case <-time.After(10 * time.Second):
		f.log.Error("process did not exit after kill", "pid", inst.cmd.Process.Pid)
	}
}

// retire forgets an exited process and closes its endpoint.
func (f *Function) retire(inst *instance) {
	inst.srv.Close()
	f.mu.Lock()
	delete(f.live, inst)
	f.mu.Unlock()
}

func (f *Function) isStopped() bool {
	select {
	case <-f.stopped:
		return true
	default:
		return false
	}
}

// Stop kills every process and closes their endpoints. Invocations in
// flight fail with ErrStopped; later ones too.
func (f *Function) Stop() {
	f.stopOnce.Do(func() {
		f.mu.Lock()
		close(f.stopped)
		live := make([]*instance, 0, len(f.live))
		for inst := range f.live {
			live = append(live, inst)
		}
		f.live = map[*instance]struct{}{}
		f.mu.Unlock()
		for _, inst := range live {
			f.kill(inst)
			inst.srv.Close()
		}
	})
}

// traceID is an X-Ray trace header like the one Lambda passes.
func traceID() string {
	return fmt.Sprintf("Root=1-%08x-%s;Parent=%s;Sampled=0", time.Now().Unix(), randomHex(12), randomHex(8))
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// syncWriter serializes writes from several processes' output copiers.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}
