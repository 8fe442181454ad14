// Command symflow runs symflow locally: the whole workflow against embedded
// stand-ins for AWS and Symbolicator, one function at a time, any state
// machine definition, the API, the embedded Symbolicator as a server, and a
// fault-injecting proxy. `symflow help` lists the commands.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usage = `symflow — native crash symbolication, run locally

Usage:
  symflow run EVENT.json [--project-config CONFIG.json] [--debug-file PATH]... [--symbolicator-url URL]
              [--lambda-mode inprocess|process] [--state-dir DIR]
  symflow invoke FUNCTION -e EVENT.json [--project-config CONFIG.json]
  symflow asl run DEFINITION.json --input INPUT.json [--task NAME=COMMAND]...
  symflow executions list | show NAME [--mermaid] | redrive NAME [--api URL]
  symflow symbolicator serve --listen 127.0.0.1:PORT
  symflow serve --listen 127.0.0.1:PORT [--crash-dir DIR] [--grace 30s] [--project-config CONFIG.json] [--debug-file PATH]...
  symflow debug-files upload --project ID [--api URL] PATH... | identify PATH...
  symflow chaos --target URL --listen 127.0.0.1:PORT [--mix lost=0.05,unavailable=0.05,...]
  symflow chaos load [--executions N]
`

// exitError carries a process exit code with its message.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := dispatch(ctx, os.Args[1:], os.Stdout, os.Stderr)
	if err == nil {
		return
	}
	code := 1
	var ee *exitError
	if errors.As(err, &ee) {
		code = ee.code
	}
	if err.Error() != "" {
		fmt.Fprintln(os.Stderr, "symflow:", err)
	}
	os.Exit(code)
}

func dispatch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return &exitError{2, errors.New("")}
	}
	switch args[0] {
	case "run":
		return cmdRun(ctx, args[1:], stdout, stderr)
	case "invoke":
		return cmdInvoke(ctx, args[1:], stdout, stderr)
	case "asl":
		if len(args) < 2 || args[1] != "run" {
			return &exitError{2, errors.New("usage: symflow asl run DEFINITION.json --input INPUT.json [--task NAME=COMMAND]")}
		}
		return cmdASLRun(ctx, args[2:], stdout, stderr)
	case "executions":
		return cmdExecutions(ctx, args[1:], stdout, stderr)
	case "symbolicator":
		if len(args) < 2 || args[1] != "serve" {
			return &exitError{2, errors.New("usage: symflow symbolicator serve --listen 127.0.0.1:PORT")}
		}
		return cmdSymbolicatorServe(ctx, args[2:], stderr)
	case "serve":
		return cmdServe(ctx, args[1:], stdout, stderr)
	case "debug-files":
		return cmdDebugFiles(ctx, args[1:], stdout, stderr)
	case "chaos":
		return cmdChaos(ctx, args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return &exitError{2, fmt.Errorf("unknown command %q", args[0])}
}
