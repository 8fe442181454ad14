package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	repofiles "github.com/symflow/symflow"
	"github.com/symflow/symflow/local/asl"
	"github.com/symflow/symflow/local/serve"
	"github.com/symflow/symflow/local/stack"
	"github.com/symflow/symflow/shared/execution"
	"github.com/symflow/symflow/shared/project"
	"github.com/symflow/symflow/shared/task"
)

// stringList is a repeatable flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

// parseArgs parses flags wherever they stand among the positional arguments.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, &exitError{2, err}
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// repoRoot finds the folder holding template.yaml, from the working
// directory up.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "template.yaml")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("template.yaml not found here or above: run symflow inside the repository or pass --root")
		}
		dir = parent
	}
}

// resolveRoot sets root, when not given, to the repository holding the
// working directory or, outside one, to a copy of the template and state
// machine built into the binary, written under the state folder (default
// ./.symflow); stateDir defaults to ROOT/.symflow in a repository.
func resolveRoot(root, stateDir *string) error {
	if *root != "" {
		if *stateDir == "" {
			*stateDir = filepath.Join(*root, ".symflow")
		}
		return nil
	}
	if r, err := repoRoot(); err == nil {
		*root = r
		if *stateDir == "" {
			*stateDir = filepath.Join(r, ".symflow")
		}
		return nil
	}
	if *stateDir == "" {
		wd, err := os.Getwd()
		if err != nil {
			return err
		}
		*stateDir = filepath.Join(wd, ".symflow")
	}
	dir := filepath.Join(*stateDir, "builtin")
	if err := os.CopyFS(dir+".tmp", repofiles.Files); err != nil {
		os.RemoveAll(dir + ".tmp")
		return fmt.Errorf("write the built-in template to %s: %w", dir, err)
	}
	os.RemoveAll(dir)
	if err := os.Rename(dir+".tmp", dir); err != nil {
		return fmt.Errorf("write the built-in template to %s: %w", dir, err)
	}
	*root = dir
	return nil
}

// stackFlags are the flags every command that starts a local stack takes.
type stackFlags struct {
	root, stateDir, symbolicatorURL, projectConfig, logFile, lambdaMode string
	debugFiles                                                          stringList
}

func (f *stackFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.root, "root", "", "repository root (default: the folder with template.yaml, from here up; outside a repository, the template built into symflow)")
	fs.StringVar(&f.stateDir, "state-dir", "", "where local executions and objects are kept (default ROOT/.symflow)")
	fs.StringVar(&f.symbolicatorURL, "symbolicator-url", "", "a running Symbolicator to use instead of the embedded one")
	fs.StringVar(&f.projectConfig, "project-config", "", "project configuration JSON to store before running")
	fs.Var(&f.debugFiles, "debug-file", "debug file to upload for the project before running (repeatable)")
	fs.StringVar(&f.lambdaMode, "lambda-mode", stack.ModeInProcess, "inprocess: handlers in this process; process: the built bootstrap binaries under a Lambda Runtime API emulator")
	fs.StringVar(&f.logFile, "log", "", "file for the functions' JSON logs (default STATE_DIR/logs/LAST.log)")
}

// start brings up the local stack and loads the project and debug files.
func (f *stackFlags) start(ctx context.Context, opts stack.Options) (*stack.Stack, func(), error) {
	if err := resolveRoot(&f.root, &f.stateDir); err != nil {
		return nil, nil, err
	}
	if f.logFile == "" {
		f.logFile = filepath.Join(f.stateDir, "logs", "last.log")
	}
	if err := os.MkdirAll(filepath.Dir(f.logFile), 0o755); err != nil {
		return nil, nil, err
	}
	logOut, err := os.Create(f.logFile)
	if err != nil {
		return nil, nil, err
	}
	opts.Root, opts.StateDir, opts.SymbolicatorURL, opts.Log, opts.LambdaMode = f.root, f.stateDir, f.symbolicatorURL, logOut, f.lambdaMode
	st, err := stack.Start(ctx, opts)
	if err != nil {
		logOut.Close()
		return nil, nil, err
	}
	cleanup := func() { st.Close(); logOut.Close() }
	if f.projectConfig != "" {
		p, err := stack.ReadProject(f.projectConfig)
		if err != nil {
			cleanup()
			return nil, nil, err
		}
		if err := st.LoadProject(ctx, p); err != nil {
			cleanup()
			return nil, nil, err
		}
		for _, path := range f.debugFiles {
			if _, err := st.UploadDebugFile(ctx, p.ID, path); err != nil {
				cleanup()
				return nil, nil, fmt.Errorf("debug file: %w", err)
			}
		}
	} else if len(f.debugFiles) > 0 {
		cleanup()
		return nil, nil, &exitError{2, errors.New("--debug-file needs --project-config: debug files belong to a project")}
	}
	return st, cleanup, nil
}

func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var sf stackFlags
	sf.register(fs)
	quiet := fs.Bool("quiet", false, "print only the result")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return &exitError{2, errors.New("usage: symflow run EVENT.json|CRASH.dmp|CRASH.crash [--project-config CONFIG.json] [--debug-file PATH]... [--symbolicator-url URL]")}
	}
	input, err := os.ReadFile(pos[0])
	if err != nil {
		return fmt.Errorf("event: %w", err)
	}
	if isCrashFile(pos[0], input) {
		return cmdRunCrash(ctx, sf, pos[0], input, *quiet, stdout)
	}
	var st0 task.State
	if err := json.Unmarshal(input, &st0); err != nil {
		return fmt.Errorf("event %s is not an execution input: %w", pos[0], err)
	}

	st, cleanup, err := sf.start(ctx, stack.Options{})
	if err != nil {
		return err
	}
	defer cleanup()

	resumed := resumeInterrupted(st, stdout, stderr, *quiet)
	defer resumed.finish(ctx)

	name, err := runName(st.StateDir, st0.ProjectID, st0.EventID)
	if err != nil {
		return err
	}
	p := newProgress(stdout, *quiet)
	p.logs = sf.logFile
	p.header(name, project.RedactURLs(st.SymbolicatorURL))
	exec, err := foreground(ctx, func(ctx context.Context, ro stack.RunOptions) (*asl.Execution, error) {
		ro.Observer = p.observe
		return st.Execute(ctx, name, input, ro)
	})
	if err != nil {
		return err
	}
	return finish(ctx, stdout, st, exec, p, sf.stateDir)
}

// foreground runs one execution in the foreground. An interrupt (ctx
// done) does not abort it: the run is suspended at once and the execution
// stays RUNNING in the state folder, for the next run or serve to resume.
func foreground(ctx context.Context, do func(ctx context.Context, ro stack.RunOptions) (*asl.Execution, error)) (*asl.Execution, error) {
	runCtx, cancel := context.WithCancel(context.Background())
	defer cancel()
	suspend := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		close(suspend)
		cancel()
	})
	defer stop()
	return do(runCtx, stack.RunOptions{Suspend: suspend})
}

// resumed are the executions an earlier process left RUNNING, continued
// in the background while this command runs its own.
type resumed struct {
	exec   *serve.Executor
	n      int
	stdout io.Writer
	quiet  bool
}

// resumeInterrupted continues, in the background, every execution the
// state folder holds as RUNNING (an earlier serve or run was killed or
// interrupted).
func resumeInterrupted(st *stack.Stack, stdout, stderr io.Writer, quiet bool) *resumed {
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	r := &resumed{exec: serve.NewExecutor(st, st.StateDir, log), stdout: stdout, quiet: quiet}
	n, err := r.exec.ResumeInterrupted()
	if err != nil {
		fmt.Fprintf(stderr, "symflow: %v\n", err)
	}
	r.n = n
	if n > 0 && !quiet {
		fmt.Fprintf(stdout, "resuming %d executions an earlier symflow left running: %s\n\n", n, strings.Join(r.exec.Names(), ", "))
	}
	return r
}

// finish waits for the resumed executions (or, on an interrupt, suspends
// them again) and says how they ended.
func (r *resumed) finish(ctx context.Context) {
	if r.n == 0 {
		r.exec.Close()
		return
	}
	done := make(chan struct{})
	go func() { r.exec.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
	r.exec.Close()
	if r.quiet {
		return
	}
	fmt.Fprintln(r.stdout, "\nresumed executions:")
	for _, name := range r.exec.Names() {
		ex, err := r.exec.Describe(context.Background(), name)
		if err != nil {
			continue
		}
		fmt.Fprintf(r.stdout, "  %-48s %s %s\n", name, ex.Status, ex.Error)
	}
}

// finish prints how an execution ended and, when it succeeded, its result.
func finish(ctx context.Context, stdout io.Writer, st *stack.Stack, exec *asl.Execution, p *progress, stateDir string) error {
	if exec.Status == asl.StatusRunning {
		at := ""
		if exec.ResumeAt != nil {
			at = " at " + exec.ResumeAt.State
		}
		return &exitError{1, fmt.Errorf("interrupted: execution %s is left RUNNING%s; symflow run or serve on %s resumes it", exec.Name, at, stateDir)}
	}
	p.footer(exec, stateDir)
	if exec.Status != "SUCCEEDED" {
		msg := fmt.Sprintf("execution %s %s: %s", exec.Name, strings.ToLower(exec.Status), exec.Error)
		if h := localHint(exec.Error); h != "" {
			msg += "\n  " + h
		}
		return &exitError{1, errors.New(msg)}
	}
	return printResult(ctx, stdout, st, exec)
}

// runName names a run as the API names the execution of an event,
// "<project>_<event>", so `executions show` and the console find it under
// the same name either way. Running the same event again keeps the
// earlier history: the new run is "<project>_<event>-2", "-3"…
func runName(stateDir, projectID, eventID string) (string, error) {
	base := execution.Name(projectID, eventID)
	if !execution.ValidName(base) {
		base = execution.Name(safeName(projectID), safeName(eventID))
	}
	for n := 1; n < 10000; n++ {
		name := base
		if n > 1 {
			name = fmt.Sprintf("%s-%d", base, n)
		}
		if !execution.ValidName(name) {
			break
		}
		if _, err := stack.LoadExecution(stateDir, name); errors.Is(err, stack.ErrNoExecution) {
			return name, nil
		}
	}
	return "", fmt.Errorf("no free execution name for project %q event %q in %s", projectID, eventID, stateDir)
}

// localHint says how local mode gives what an error says is missing.
func localHint(errName string) string {
	switch errName {
	case "ProjectNotFound":
		return "locally, store the project with the run: --project-config CONFIG.json (events/project/sample-project.json is the sample)"
	}
	return ""
}

// safeName keeps what an execution name may hold.
func safeName(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r < 128 && (r == '-' || r == '_' || ('0' <= r && r <= '9') || ('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z')) {
			b.WriteRune(r)
		}
		if b.Len() >= 32 {
			break
		}
	}
	return b.String()
}

// cmdRunCrash runs a crash file through the crash-upload path (see
// runCrash) for the project of --project-config.
func cmdRunCrash(ctx context.Context, sf stackFlags, path string, data []byte, quiet bool, stdout io.Writer) error {
	if sf.projectConfig == "" {
		return &exitError{2, errors.New("a crash file needs --project-config: crashes are uploaded for a project")}
	}
	p0, err := stack.ReadProject(sf.projectConfig)
	if err != nil {
		return err
	}
	st, cleanup, err := sf.start(ctx, stack.Options{})
	if err != nil {
		return err
	}
	defer cleanup()
	resumed := resumeInterrupted(st, stdout, io.Discard, quiet)
	defer resumed.finish(ctx)
	p := newProgress(stdout, quiet)
	p.logs = sf.logFile
	exec, err := runCrash(ctx, st, p0.ID, path, data, p)
	if err != nil {
		return err
	}
	return finish(ctx, stdout, st, exec, p, sf.stateDir)
}
