package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/symflow/symflow/local/asl"
	"github.com/symflow/symflow/local/stack"
	"github.com/symflow/symflow/shared/api"
	"github.com/symflow/symflow/shared/execution"
	"github.com/symflow/symflow/shared/project"
)

// cmdRedrive runs a FAILED, TIMED_OUT or ABORTED execution again from the
// state it did not complete, as Step Functions' redrive does: through a
// running `symflow serve` (--api), or on the state folder in the
// foreground, showing its progress as `run` does.
func cmdRedrive(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("executions redrive", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var sf stackFlags
	sf.register(fs)
	apiURL := fs.String("api", "", "a running symflow serve (http://127.0.0.1:PORT) to redrive through, instead of the state folder")
	quiet := fs.Bool("quiet", false, "print only the result")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || !execution.ValidName(pos[0]) {
		return &exitError{2, errors.New("usage: symflow executions redrive NAME [--api URL] [--state-dir DIR]")}
	}
	name := pos[0]
	if *apiURL != "" {
		return redriveThroughAPI(ctx, *apiURL, name, stdout)
	}
	st, cleanup, err := sf.start(ctx, stack.Options{})
	var inUse *stack.StateDirInUseError
	if errors.As(err, &inUse) {
		return &exitError{1, fmt.Errorf("%w\n(a symflow serve runs there? redrive through it: symflow executions redrive %s --api http://ITS-ADDRESS)", err, name)}
	}
	if err != nil {
		return err
	}
	defer cleanup()
	saved, err := stack.LoadExecution(st.StateDir, name)
	if errors.Is(err, stack.ErrNoExecution) {
		return &exitError{1, fmt.Errorf("no execution %s in %s", name, st.StateDir)}
	}
	if err != nil {
		return err
	}
	resumed := resumeInterrupted(st, stdout, stderr, *quiet)
	defer resumed.finish(ctx)
	p := newProgress(stdout, *quiet)
	p.logs = sf.logFile
	if !*quiet {
		fmt.Fprintf(stdout, "redrive %d of %s (%s: %s)\n", saved.RedriveCount+1, name, saved.Status, saved.Error)
	}
	p.header(name, project.RedactURLs(st.SymbolicatorURL))
	exec, err := foreground(ctx, func(ctx context.Context, ro stack.RunOptions) (*asl.Execution, error) {
		ro.Observer = p.observe
		return st.Redrive(ctx, saved, ro)
	})
	var nr *asl.NotRedrivableError
	if errors.As(err, &nr) {
		return &exitError{1, fmt.Errorf("cannot redrive %s: %s", name, nr.Reason)}
	}
	if err != nil {
		return err
	}
	return finish(ctx, stdout, st, exec, p, sf.stateDir)
}

// redriveThroughAPI asks a symflow serve (or the API on AWS) to redrive.
func redriveThroughAPI(ctx context.Context, base, name string, stdout io.Writer) error {
	u, err := url.Parse(strings.TrimSuffix(base, "/") + "/v1/executions/" + name + "/redrive")
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return &exitError{2, fmt.Errorf("--api %q is not an http(s) URL", base)}
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("redrive %s: %w", name, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error api.Error `json:"error"`
		}
		if json.Unmarshal(body, &e) == nil && e.Error.Message != "" {
			return &exitError{1, fmt.Errorf("cannot redrive %s (%d %s): %s", name, resp.StatusCode, e.Error.Code, e.Error.Message)}
		}
		return &exitError{1, fmt.Errorf("cannot redrive %s: %s answered %d", name, u.Host, resp.StatusCode)}
	}
	var out api.Redriven
	if err := json.Unmarshal(body, &out); err != nil {
		return fmt.Errorf("redrive %s: the answer is not JSON: %w", name, err)
	}
	fmt.Fprintf(stdout, "%s %s (redrive %d at %s)\nstatus: %s\n", out.ExecutionID, out.Status, out.RedriveCount, out.RedrivenAt, out.StatusURL)
	return nil
}
