package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/symflow/symflow/local/asl"
	"github.com/symflow/symflow/local/invoke"
	"github.com/symflow/symflow/local/samtemplate"
	"github.com/symflow/symflow/local/serve"
	"github.com/symflow/symflow/local/stack"
	localsym "github.com/symflow/symflow/local/symbolicator"
)

// cmdInvoke runs one function with an event, like `sam local invoke`.
func cmdInvoke(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("invoke", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var sf stackFlags
	sf.register(fs)
	eventPath := fs.String("e", "", "event JSON file (the function's input)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || *eventPath == "" {
		return &exitError{2, errors.New("usage: symflow invoke FUNCTION -e EVENT.json [--project-config CONFIG.json]  (FUNCTION: a functions/ folder or a template logical id)")}
	}
	event, err := os.ReadFile(*eventPath)
	if err != nil {
		return fmt.Errorf("event: %w", err)
	}
	st, cleanup, err := sf.start(ctx, stack.Options{})
	if err != nil {
		return err
	}
	defer cleanup()
	name := pos[0]
	if fn, ok := st.Template.FunctionByDir(name); ok {
		name = fn.LogicalID
	}
	var out []byte
	switch h, ok := entryPoint(st, name); {
	case ok:
		out, err = h(ctx, event)
	case st.Handlers[name] != nil:
		out, err = st.Handlers.Invoke(ctx, name, event)
	default:
		return &exitError{2, fmt.Errorf("no function %q: want one of the functions/ folders or template logical ids", pos[0])}
	}
	if err != nil {
		var te *asl.TaskError
		if errors.As(err, &te) {
			fmt.Fprintln(stdout, te.Cause)
			return &exitError{1, fmt.Errorf("%s failed: %s", name, te.Name)}
		}
		return err
	}
	var pretty bytes.Buffer
	if json.Indent(&pretty, out, "", "  ") != nil {
		pretty.Write(out)
	}
	fmt.Fprintln(stdout, pretty.String())
	return nil
}

// entryPoint is the handler of a function the state machine does not
// call (functions/api, functions/crash-upload), wired to the local stack
// as `symflow serve` wires it. Executions it starts run to their end
// before it returns, so one invoke shows what the event did.
func entryPoint(st *stack.Stack, logicalID string) (func(ctx context.Context, event []byte) ([]byte, error), bool) {
	var pick func(svc *serve.Service) lambda.Handler
	for dir, p := range map[string]func(svc *serve.Service) lambda.Handler{
		"api":          func(svc *serve.Service) lambda.Handler { return lambda.NewHandler(svc.API.HandleHTTPAPI) },
		"crash-upload": func(svc *serve.Service) lambda.Handler { return lambda.NewHandler(svc.BucketCrashes.HandleEvent) },
	} {
		if fn, ok := st.Template.FunctionByDir(dir); ok && fn.LogicalID == logicalID {
			pick = p
		}
	}
	if pick == nil {
		return nil, false
	}
	return func(ctx context.Context, event []byte) ([]byte, error) {
		svc := serve.New(st, serve.Options{})
		defer svc.Close()
		out, err := pick(svc).Invoke(ctx, event)
		svc.Executor.Wait()
		return out, err
	}, true
}

// cmdASLRun runs any definition with tasks replaced by commands that read
// the task input as JSON on stdin and print the result as JSON. Exit codes:
// 0 succeeded, 1 invalid definition or input, 2 the execution failed.
func cmdASLRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("asl run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	inputPath := fs.String("input", "", "execution input JSON file (default {})")
	var tasks stringList
	fs.Var(&tasks, "task", "NAME=COMMAND: run COMMAND (with sh -c) for the task resource NAME (an ARN or function name); repeatable")
	history := fs.Bool("history", false, "print the execution history to stderr")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return &exitError{1, err}
	}
	if len(pos) != 1 {
		return &exitError{1, errors.New("usage: symflow asl run DEFINITION.json --input INPUT.json [--task NAME=COMMAND]")}
	}
	def, err := os.ReadFile(pos[0])
	if err != nil {
		return &exitError{1, err}
	}
	if bytes.Contains(def, []byte("${")) {
		return &exitError{1, fmt.Errorf("definition %s has ${...} placeholders, which template.yaml resolves: run the project's workflow with symflow run EVENT.json (asl run takes a definition with plain resources)", pos[0])}
	}
	sm, err := asl.Parse(def)
	if err != nil {
		return &exitError{1, fmt.Errorf("definition %s: %w", pos[0], err)}
	}
	input := []byte("{}")
	if *inputPath != "" {
		if input, err = os.ReadFile(*inputPath); err != nil {
			return &exitError{1, err}
		}
	}
	if !json.Valid(input) {
		return &exitError{1, fmt.Errorf("input %s is not JSON", *inputPath)}
	}
	commands := map[string]string{}
	for _, t := range tasks {
		name, cmd, ok := strings.Cut(t, "=")
		if !ok || name == "" || cmd == "" {
			return &exitError{1, fmt.Errorf("--task %q: want NAME=COMMAND", t)}
		}
		commands[name] = cmd
	}
	exec, err := sm.Run(ctx, "asl-run", input, asl.Options{Invoker: commandInvoker(commands)})
	if err != nil {
		return &exitError{1, err}
	}
	if *history {
		enc := json.NewEncoder(stderr)
		enc.SetIndent("", "  ")
		enc.Encode(exec.History)
	}
	if exec.Status != asl.StatusSucceeded {
		out, _ := json.Marshal(map[string]string{"status": exec.Status, "error": exec.Error, "cause": exec.Cause})
		fmt.Fprintln(stdout, string(out))
		return &exitError{2, errors.New("")}
	}
	fmt.Fprintln(stdout, string(exec.Output))
	return nil
}

// commandInvoker runs a shell command per task resource. A command that
// exits non-zero fails the task with States.TaskFailed, or with the error
// it names when its last stderr line is {"error": …, "cause": …}.
func commandInvoker(commands map[string]string) asl.Invoker {
	return asl.InvokerFunc(func(ctx context.Context, resource string, input json.RawMessage) (json.RawMessage, error) {
		cmdline, ok := commands[resource]
		if !ok {
			cmdline, ok = commands[invoke.FunctionName(resource)]
		}
		if !ok {
			return nil, &asl.TaskError{Name: "States.TaskFailed", Cause: fmt.Sprintf("no --task given for resource %s", resource)}
		}
		cmd := exec.CommandContext(ctx, "sh", "-c", cmdline)
		cmd.Stdin = bytes.NewReader(input)
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		if err := cmd.Run(); err != nil {
			lines := strings.Split(strings.TrimSpace(errOut.String()), "\n")
			var named struct{ Error, Cause string }
			if json.Unmarshal([]byte(lines[len(lines)-1]), &named) == nil && named.Error != "" {
				return nil, &asl.TaskError{Name: named.Error, Cause: named.Cause}
			}
			return nil, &asl.TaskError{Name: "States.TaskFailed", Cause: fmt.Sprintf("%s: %v: %s", cmdline, err, strings.TrimSpace(errOut.String()))}
		}
		res := bytes.TrimSpace(out.Bytes())
		if !json.Valid(res) {
			return nil, &asl.TaskError{Name: "States.TaskFailed", Cause: fmt.Sprintf("%s printed no JSON: %.200q", cmdline, res)}
		}
		return res, nil
	})
}

// cmdExecutions lists saved local executions, shows one, or redrives one.
func cmdExecutions(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "redrive" {
		return cmdRedrive(ctx, args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("executions", flag.ContinueOnError)
	stateDir := fs.String("state-dir", "", "where local executions are kept (default ROOT/.symflow)")
	rootDir := fs.String("root", "", "repository root (default: the folder with template.yaml, from here up)")
	mermaid := fs.Bool("mermaid", false, "with show: print only the Mermaid diagram of the path taken")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if err := resolveRoot(rootDir, stateDir); err != nil {
		return err
	}
	switch {
	case len(pos) == 1 && pos[0] == "list":
		execs, err := stack.ListExecutions(*stateDir)
		if err != nil {
			return err
		}
		printExecutionList(stdout, execs)
		return nil
	case len(pos) == 2 && pos[0] == "show":
		e, err := stack.LoadExecution(*stateDir, pos[1])
		if errors.Is(err, stack.ErrNoExecution) {
			return &exitError{1, fmt.Errorf("no execution %s in %s (symflow executions list shows them)", pos[1], *stateDir)}
		}
		if err != nil {
			return err
		}
		if *mermaid {
			def, err := definition(*rootDir)
			if err != nil {
				return err
			}
			sm, err := asl.Parse(def)
			if err != nil {
				return err
			}
			fmt.Fprintln(stdout, executionMermaid(sm, e))
			return nil
		}
		printExecution(stdout, e)
		return nil
	}
	return &exitError{2, errors.New("usage: symflow executions list | show NAME [--mermaid] | redrive NAME [--api URL]")}
}

// printExecutionList prints the saved executions in aligned columns.
func printExecutionList(w io.Writer, execs []*asl.Execution) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSTATUS\tSTARTED\tDURATION\tERROR")
	for _, e := range execs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", e.Name, e.Status, e.StartDate.UTC().Format("2006-01-02 15:04:05"), took(e), e.Error)
	}
	tw.Flush()
}

// printExecution prints an execution's outcome, its history (each event
// with the state it belongs to) and the path it took. The diagram is
// --mermaid's.
func printExecution(w io.Writer, e *asl.Execution) {
	fmt.Fprintf(w, "%s  %s  started %s  took %s\n", e.Name, e.Status, e.StartDate.UTC().Format(time.RFC3339), took(e))
	if e.RedriveCount > 0 {
		fmt.Fprintf(w, "redriven %d times, last at %s\n", e.RedriveCount, e.RedriveDate.UTC().Format(time.RFC3339))
	}
	if e.Status == asl.StatusRunning {
		fmt.Fprintln(w, "running, or left running by a symflow that stopped: symflow serve or run on this state folder resumes it")
	}
	failed, unhandled := asl.Failure(e)
	if e.Error != "" {
		where := ""
		if failed != "" {
			where = " in " + failed
			if unhandled {
				where += " (no Catch took it)"
			}
		}
		fmt.Fprintf(w, "error: %s%s\ncause: %s\n", e.Error, where, causeMessage(e.Cause))
	}
	fmt.Fprintln(w, "\nhistory:")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	state := ""
	for _, h := range e.History {
		if h.Details.Name != "" && strings.HasSuffix(h.Type, "StateEntered") {
			state = h.Details.Name
		}
		detail := h.Details.Name
		if detail == "" && state != "" && !strings.HasPrefix(h.Type, "Execution") {
			detail = "(" + state + ")"
		}
		if h.Details.Error != "" {
			detail += " " + h.Details.Error
			if c := causeMessage(h.Details.Cause); c != "" {
				detail += ": " + oneLine(c, 100)
			}
		}
		fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\n", h.ID, since(e.StartDate, h.Timestamp), h.Type, detail)
	}
	tw.Flush()
	fmt.Fprintf(w, "\npath: %s\n", strings.Join(asl.Path(e), " → "))
	fmt.Fprintf(w, "diagram: symflow executions show %s --mermaid\n", e.Name)
}

// since is the time from start to t, never negative: an event stamped
// before the start (a clock stepped back) shows 0s.
func since(start, t time.Time) time.Duration {
	if t.Before(start) {
		return 0
	}
	return t.Sub(start).Round(time.Millisecond)
}

// definition is the state machine the executions ran: root's template
// resolves it.
func definition(root string) ([]byte, error) {
	tmpl, err := samtemplate.Load(filepath.Join(root, "template.yaml"))
	if err != nil {
		return nil, err
	}
	return tmpl.Definition(root)
}

// took is how long an execution ran, or "-" while it has not stopped;
// never negative.
func took(e *asl.Execution) string {
	if e.StopDate.IsZero() {
		return "-"
	}
	return since(e.StartDate, e.StopDate).String()
}

// cmdSymbolicatorServe serves the embedded Symbolicator on a loopback address.
func cmdSymbolicatorServe(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("symbolicator serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:3021", "loopback address to listen on")
	cacheDir := fs.String("cache-dir", "", "keep parsed debug-file indexes here across restarts (empty: memory only)")
	loopback := fs.Bool("allow-loopback", true, "let sources reach loopback addresses (local sources); never link-local, private or cloud metadata addresses")
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	host, _, err := net.SplitHostPort(*listen)
	if err != nil {
		return &exitError{2, fmt.Errorf("--listen %q: %w", *listen, err)}
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return &exitError{2, fmt.Errorf("--listen %q: the embedded Symbolicator serves loopback addresses only", *listen)}
	}
	log := slog.New(slog.NewJSONHandler(stderr, nil))
	log.Info("embedded symbolicator listening", "addr", *listen)
	return localsym.ListenAndServe(ctx, *listen, localsym.Config{Logger: log, AllowLoopback: *loopback, CacheDir: *cacheDir})
}
