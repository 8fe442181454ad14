// Package stack starts everything local mode runs instead of AWS: an
// embedded DynamoDB-compatible store, an S3-compatible object server, the
// embedded Symbolicator (unless a real one is named), the workflow's step
// functions in-process, and the state machine from statemachine/ with the
// substitutions template.yaml declares. `symflow run`, `invoke` and the
// end-to-end tests use it; production never does.
//
// Everything listens on 127.0.0.1 only and stops with Close.
package stack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/symflow/symflow/local/asl"
	localddb "github.com/symflow/symflow/local/dynamodb"
	"github.com/symflow/symflow/local/httpserver"
	"github.com/symflow/symflow/local/invoke"
	"github.com/symflow/symflow/local/runtimeapi"
	locals3 "github.com/symflow/symflow/local/s3"
	"github.com/symflow/symflow/local/samtemplate"
	localsym "github.com/symflow/symflow/local/symbolicator"
	"github.com/symflow/symflow/shared/blob"
	"github.com/symflow/symflow/shared/component"
	"github.com/symflow/symflow/shared/debugfile"
	"github.com/symflow/symflow/shared/dynamo"
	"github.com/symflow/symflow/shared/project"
	"github.com/symflow/symflow/shared/symbolicator"
	"github.com/symflow/symflow/shared/task"
)

// Bucket names local mode uses; the template creates their AWS twins.
const (
	ResultsBucket    = "symflow-results"
	CrashBucket      = "symflow-crashes"
	DebugFilesBucket = "symflow-debug-files"
)

// Table names local mode uses.
const (
	projectsTable = "symflow-projects"
	tasksTable    = "symflow-tasks"
)

// Lambda modes.
const (
	ModeInProcess = "inprocess"
	ModeProcess   = "process"
)

// Options configure a local stack.
type Options struct {
	// Root is the repository root: template.yaml and statemachine/ live there.
	Root string
	// StateDir keeps everything between runs: objects, the tables
	// (project configuration, installations, tasks) and executions, whose
	// progress is recorded at every state they enter, so the executions a
	// stopped process left RUNNING can be resumed (Interrupted, Resume).
	// Writes reach the disk before they are acknowledged, and the folder
	// is locked against a second process (*StateDirInUseError). Empty: a
	// temporary folder, removed on Close, and nothing is synced or
	// journaled.
	StateDir string
	// SymbolicatorURL points at a running Symbolicator; empty starts the
	// embedded one.
	SymbolicatorURL string
	// Clock runs Wait states and retries; asl.RealClock when nil.
	Clock asl.Clock
	// Log receives the handlers' JSON logs; nil discards them.
	Log io.Writer
	// Config overrides workflow parameters; zero fields keep the template's
	// defaults.
	Config task.Config
	// LambdaMode is how the functions run: "" or ModeInProcess calls the
	// handlers in this process; ModeProcess builds each function's
	// bootstrap for this machine and runs it under the Lambda Runtime API
	// emulator, proving the mains and their wiring.
	LambdaMode string
}

// Stack is a running local environment.
type Stack struct {
	Steps           *task.Steps
	Store           *dynamo.Store
	Blobs           *blob.Store
	S3              *awss3.Client
	Machine         *asl.StateMachine
	Handlers        invoke.InProcess
	Template        *samtemplate.Template
	SymbolicatorURL string
	StateDir        string

	invoker asl.Invoker
	clock   asl.Clock
	durable bool
	closers []func()
}

// Functions maps each function folder under functions/ to the step it runs.
// A test checks it against template.yaml.
func Functions(steps *task.Steps) map[string]lambda.Handler {
	return map[string]lambda.Handler{
		"lookup-sources":     lambda.NewHandler(steps.LookupSources),
		"submit-task":        lambda.NewHandler(steps.SubmitTask),
		"poll-task":          lambda.NewHandler(steps.PollTask),
		"recover-task":       lambda.NewHandler(steps.RecoverTask),
		"process-response":   lambda.NewHandler(steps.ProcessResponse),
		"prepare-components": lambda.NewHandler(steps.PrepareComponents),
	}
}

// Start brings the stack up. Close it when done.
func Start(ctx context.Context, opts Options) (st *Stack, err error) {
	st = &Stack{clock: opts.Clock}
	started := st // the returns below set st to nil
	defer func() {
		if err != nil {
			started.Close()
		}
	}()
	if st.clock == nil {
		st.clock = asl.RealClock{}
	}
	st.StateDir = opts.StateDir
	st.durable = st.StateDir != ""
	if st.StateDir == "" {
		dir, err := os.MkdirTemp("", "symflow-")
		if err != nil {
			return nil, err
		}
		st.StateDir = dir
		st.closers = append(st.closers, func() { os.RemoveAll(dir) })
	} else {
		if err := os.MkdirAll(st.StateDir, 0o755); err != nil {
			return nil, fmt.Errorf("state folder: %w", err)
		}
		release, err := lockStateDir(st.StateDir)
		if err != nil {
			return nil, err
		}
		st.closers = append(st.closers, release)
	}
	logger := slog.New(slog.NewJSONHandler(io.Discard, nil))
	if opts.Log != nil {
		logger = slog.New(slog.NewJSONHandler(opts.Log, nil))
	}

	// Template and definition.
	st.Template, err = samtemplate.Load(filepath.Join(opts.Root, "template.yaml"))
	if err != nil {
		return nil, fmt.Errorf("read template: %w", err)
	}
	def, err := st.Template.Definition(opts.Root)
	if err != nil {
		return nil, fmt.Errorf("resolve state machine definition: %w", err)
	}
	st.Machine, err = asl.Parse(def)
	if err != nil {
		return nil, fmt.Errorf("parse state machine: %w", err)
	}

	// Objects.
	s3srv, err := locals3.New(filepath.Join(st.StateDir, "s3"))
	if err != nil {
		return nil, err
	}
	s3url, stopS3, err := s3srv.Start()
	if err != nil {
		return nil, fmt.Errorf("start local S3: %w", err)
	}
	st.closers = append(st.closers, stopS3)
	st.S3 = locals3.Client(s3url)
	st.Blobs = blob.New(st.S3)

	// Tables.
	ddb := localddb.New()
	if st.durable {
		if ddb, err = localddb.Open(filepath.Join(st.StateDir, "dynamodb.json")); err != nil {
			return nil, err
		}
	}
	ddbURL, stopDDB, err := ddb.Start("127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("start local DynamoDB: %w", err)
	}
	st.closers = append(st.closers, func() { stopDDB() })
	st.Store, err = dynamo.New(localddb.NewClient(ddbURL), dynamo.Config{ProjectsTable: projectsTable, TasksTable: tasksTable})
	if err != nil {
		return nil, err
	}
	if err := st.Store.CreateTables(ctx); err != nil {
		return nil, fmt.Errorf("create tables: %w", err)
	}

	// Symbolicator.
	st.SymbolicatorURL = opts.SymbolicatorURL
	if st.SymbolicatorURL == "" {
		svc := localsym.New(localsym.Config{
			Logger:        logger.With("service", "symbolicator"),
			AllowLoopback: true, // local sources live on loopback
			S3ClientFactory: func(ctx context.Context, src localsym.S3SourceConfig, hc *http.Client) (localsym.S3GetObjectAPI, error) {
				return st.S3, nil // every bucket is in the local S3 server
			},
		})
		url, stop, err := serve(svc)
		if err != nil {
			svc.Close()
			return nil, fmt.Errorf("start embedded Symbolicator: %w", err)
		}
		st.closers = append(st.closers, func() { stop(); svc.Close() })
		st.SymbolicatorURL = url
	}

	// Steps with the template's parameters.
	cfg := task.Defaults
	params := map[string]string{}
	for _, p := range st.Template.Parameters() {
		params[p.Name] = p.Default
	}
	if err := applyParameters(&cfg, params); err != nil {
		return nil, err
	}
	overlay(&cfg, opts.Config)
	cfg.SymbolicatorURL = st.SymbolicatorURL
	cfg.ResultsBucket = ResultsBucket
	st.Steps = &task.Steps{
		Config:   cfg,
		Settings: project.Settings{DebugFilesBucket: DebugFilesBucket, DebugFilesRegion: "us-east-1"},
		Projects: st.Store,
		Tasks:    st.Store,
		Blobs:    st.Blobs,
		HTTP:     &http.Client{},
		Workers:  symbolicator.NewWorkerID(cfg.WorkerSampleRate, nil),
		Components: component.NewPreparer(component.NewSelectRequester(
			component.SafeClient(component.ClientOptions{Policy: component.AddressPolicy{AllowLoopback: true}}), logger), logger),
		Log:     logger,
		Metrics: nil,
		Now:     st.clock.Now,
	}
	st.Handlers = invoke.InProcess{}
	for dir, h := range Functions(st.Steps) {
		fn, ok := st.Template.FunctionByDir(dir)
		if !ok {
			return nil, fmt.Errorf("functions/%s has no function in template.yaml", dir)
		}
		st.Handlers[fn.LogicalID] = h
	}
	st.invoker = st.Handlers
	switch opts.LambdaMode {
	case "", ModeInProcess:
	case ModeProcess:
		inv, err := st.startProcesses(ctx, opts.Root, opts.Log, runtimeapi.Local{
			DynamoDB: ddbURL, S3: s3url, SymbolicatorURL: st.SymbolicatorURL,
			ProjectsTable: projectsTable, TasksTable: tasksTable,
			ResultsBucket: ResultsBucket, DebugFilesBucket: DebugFilesBucket,
		})
		if err != nil {
			return nil, err
		}
		st.invoker = inv
	default:
		return nil, fmt.Errorf("lambda mode %q: want %s or %s", opts.LambdaMode, ModeInProcess, ModeProcess)
	}
	return st, nil
}

// startProcesses builds the functions the state machine calls for this
// machine and starts them under the Runtime API emulator, pointed at the
// local endpoints through the same environment variables a deployment sets.
func (st *Stack) startProcesses(ctx context.Context, root string, logOut io.Writer, endpoints runtimeapi.Local) (asl.Invoker, error) {
	fns, err := runtimeapi.StateMachineFunctions(st.Template)
	if err != nil {
		return nil, err
	}
	dirs := make([]string, 0, len(fns))
	for _, fn := range fns {
		dirs = append(dirs, fn.Dir)
	}
	bins, err := runtimeapi.Build(ctx, root, filepath.Join(st.StateDir, "bin"), dirs)
	if err != nil {
		return nil, fmt.Errorf("build functions: %w", err)
	}
	if logOut == nil {
		logOut = io.Discard
	}
	inv, err := runtimeapi.TemplateInvoker(fns, bins, runtimeapi.LocalEnv(endpoints), runtimeapi.Config{Output: logOut})
	if err != nil {
		return nil, err
	}
	st.closers = append(st.closers, inv.Stop)
	return inv, nil
}

// serve starts h on a free loopback port.
func serve(h http.Handler) (url string, stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := httpserver.New(h, httpserver.Timeouts{})
	go srv.Serve(ln) //nolint:errcheck // returns ErrServerClosed on stop
	return "http://" + ln.Addr().String() + "/", func() { srv.Close() }, nil
}

// Close stops everything Start started, in reverse order.
func (st *Stack) Close() {
	for i := len(st.closers) - 1; i >= 0; i-- {
		st.closers[i]()
	}
	st.closers = nil
}

// LoadProject stores a project configuration (with its installations), as
// the config API would.
func (st *Stack) LoadProject(ctx context.Context, p project.Project) error {
	if err := st.Store.PutProject(ctx, p); err != nil {
		return fmt.Errorf("store project %s: %w", p.ID, err)
	}
	for _, inst := range p.Installations {
		if err := st.Store.PutInstallation(ctx, p.ID, inst); err != nil {
			return fmt.Errorf("store installation %s: %w", inst.UUID, err)
		}
	}
	return nil
}

// UploadDebugFile stores a debug file for a project in the debug-files
// bucket, in the unified layout the project's internal source reads, and
// records the upload time, as the debug-files API does.
func (st *Stack) UploadDebugFile(ctx context.Context, projectID, path string) (debugfile.Identity, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return debugfile.Identity{}, err
	}
	files := debugfile.Store{Bucket: DebugFilesBucket, Blobs: st.Blobs, Projects: st.Store, Now: st.clock.Now}
	id, _, err := files.Upload(ctx, projectID, data)
	if err != nil {
		return id, fmt.Errorf("upload %s: %w", path, err)
	}
	return id, nil
}

// RunOptions steer one run beyond its context.
type RunOptions struct {
	// Observer sees every history event as it happens.
	Observer func(asl.HistoryEvent)
	// Suspend, once closed, ends the run at the next state boundary with
	// the execution left RUNNING, to be resumed (asl.Options.Suspend).
	Suspend <-chan struct{}
	// Recorded, if set, is called once the execution's start (or redrive)
	// is on disk, with the error if it could not be written: an execution
	// acknowledged after Recorded is found again after a crash. It is
	// called before the first state runs.
	Recorded func(error)
}

const stateMachineArn = "arn:aws:states:us-east-1:000000000000:stateMachine:SymbolicateStateMachine"

func (st *Stack) options(ro RunOptions, j *journal) asl.Options {
	opts := asl.Options{
		Invoker:         st.invoker,
		Clock:           st.clock,
		Observer:        ro.Observer,
		Suspend:         ro.Suspend,
		StateMachineArn: stateMachineArn,
	}
	var once sync.Once
	recorded := func(err error) {
		if ro.Recorded != nil {
			once.Do(func() { ro.Recorded(err) })
		}
	}
	if !st.durable {
		// Nothing survives the stack: the record is written at the end.
		opts.Checkpoint = func(*asl.Execution) { recorded(nil) }
		return opts
	}
	opts.Checkpoint = func(e *asl.Execution) {
		j.checkpoint(e)
		j.mu.Lock()
		err := j.err
		j.mu.Unlock()
		recorded(err)
	}
	return opts
}

// finish saves the record of a run that returned and reports the first
// failure to record it.
func (st *Stack) finish(exec *asl.Execution, j *journal, err error) (*asl.Execution, error) {
	if exec == nil {
		return nil, err
	}
	done, jerr := j.result()
	if !done {
		if serr := saveExecution(st.StateDir, exec, st.durable); serr != nil && jerr == nil {
			jerr = serr
		}
	}
	if err == nil && jerr != nil {
		err = fmt.Errorf("record execution %s: %w", exec.Name, jerr)
	}
	return exec, err
}

// Run executes the state machine on input, saving the execution under the
// state folder. observer sees every history event as it happens.
func (st *Stack) Run(ctx context.Context, name string, input json.RawMessage, observer func(asl.HistoryEvent)) (*asl.Execution, error) {
	return st.Execute(ctx, name, input, RunOptions{Observer: observer})
}

// Execute is Run with RunOptions. A suspended run returns the execution
// RUNNING, recorded for Resume.
func (st *Stack) Execute(ctx context.Context, name string, input json.RawMessage, ro RunOptions) (*asl.Execution, error) {
	j := &journal{stateDir: st.StateDir, durable: st.durable}
	exec, err := st.Machine.Run(ctx, name, input, st.options(ro, j))
	if exec == nil && ro.Recorded != nil {
		ro.Recorded(err)
	}
	return st.finish(exec, j, err)
}

// Resume continues an execution a stopped process left RUNNING (see
// Interrupted) from the state it was in; see asl.StateMachine.Resume.
func (st *Stack) Resume(ctx context.Context, saved *asl.Execution, ro RunOptions) (*asl.Execution, error) {
	j := &journal{stateDir: st.StateDir, durable: st.durable}
	exec, err := st.Machine.Resume(ctx, saved, st.options(ro, j))
	if exec == nil {
		if ro.Recorded != nil {
			ro.Recorded(err)
		}
		return nil, err
	}
	// Resume records nothing before its first state; the journal starts
	// with the first checkpoint, which carries the whole history.
	return st.finish(exec, j, err)
}

// Redrive runs a FAILED, TIMED_OUT or ABORTED execution again from the
// state it did not complete, as Step Functions' RedriveExecution; see
// asl.StateMachine.Redrive. A refusal is an *asl.NotRedrivableError.
func (st *Stack) Redrive(ctx context.Context, saved *asl.Execution, ro RunOptions) (*asl.Execution, error) {
	j := &journal{stateDir: st.StateDir, durable: st.durable}
	exec, err := st.Machine.Redrive(ctx, saved, st.options(ro, j))
	if exec == nil {
		if ro.Recorded != nil {
			ro.Recorded(err)
		}
		return nil, err
	}
	return st.finish(exec, j, err)
}

// Now is the stack's clock.
func (st *Stack) Now() time.Time { return st.clock.Now() }

// ErrNoExecution is returned for an unknown execution name.
var ErrNoExecution = errors.New("no such execution")
