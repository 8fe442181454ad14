package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/symflow/symflow/local/chaos"
	"github.com/symflow/symflow/shared/task"
)

const chaosUsage = `usage:
  symflow chaos --target URL --listen 127.0.0.1:PORT [--mix lost=0.05,unavailable=0.05,...] [--seed N] [--burst N] [--slow-delay D]
  symflow chaos load [--executions 1000] [--concurrency 100] [--mix ...] [--seed N]
faults: lost, unavailable, reset, slow, truncated, nonjson, pending, failed, timeout, internal_error`

// cmdChaos serves the fault-injecting proxy in front of a Symbolicator
// until interrupted, then prints the faults it injected; "chaos load" runs
// many executions through the local engine behind it and prints the table.
func cmdChaos(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "load" {
		return cmdChaosLoad(ctx, args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("chaos", flag.ContinueOnError)
	fs.SetOutput(stderr)
	target := fs.String("target", "", "Symbolicator base URL to forward to")
	listen := fs.String("listen", "127.0.0.1:3022", "loopback address to listen on")
	mixFlag := fs.String("mix", "lost=0.02,unavailable=0.02,reset=0.02,slow=0.02,truncated=0.02", "fault probabilities, FAULT=P,...")
	seed := fs.Uint64("seed", uint64(time.Now().UnixNano()), "seed of the fault draws")
	burst := fs.Int("burst", 2, "consecutive requests an unavailable fault answers 502/503")
	slow := fs.Duration("slow-delay", 30*time.Second, "how long a slow fault holds a request")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 || *target == "" {
		return &exitError{2, errors.New(chaosUsage)}
	}
	mix, err := chaos.ParseMix(*mixFlag)
	if err != nil {
		return &exitError{2, fmt.Errorf("--mix: %w", err)}
	}
	srv, err := chaos.Listen(chaos.Config{Target: *target, Mix: mix, Seed: *seed, Burst: *burst, SlowDelay: *slow}, *listen)
	if err != nil {
		return &exitError{2, err}
	}
	log := slog.New(slog.NewJSONHandler(stderr, nil))
	log.Info("chaos proxy listening", "url", srv.URL, "target", *target, "mix", mix.String(), "seed", *seed)
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srv.Shutdown(sctx) //nolint:errcheck // stopping anyway
	srv.Report(stdout)
	return nil
}

func cmdChaosLoad(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("chaos load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	n := fs.Int("executions", 1000, "executions to start")
	conc := fs.Int("concurrency", 100, "executions running at once")
	mixFlag := fs.String("mix", chaos.UniformMix(0.10, chaos.Faults...).String(), "fault probabilities, FAULT=P,...")
	seed := fs.Uint64("seed", 1, "seed of the fault draws")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return &exitError{2, errors.New(chaosUsage)}
	}
	mix, err := chaos.ParseMix(*mixFlag)
	if err != nil {
		return &exitError{2, fmt.Errorf("--mix: %w", err)}
	}
	root, err := repoRoot()
	if err != nil {
		return err
	}
	rep, err := chaos.RunLoad(ctx, chaos.LoadConfig{
		Root: root, Executions: *n, Concurrency: *conc, Mix: mix, Seed: *seed,
		Config: task.Config{PollTimeout: time.Second,
			NetworkRetryWaits: []time.Duration{time.Millisecond, 5 * time.Millisecond, 10 * time.Millisecond}},
	})
	if err != nil {
		return err
	}
	rep.WriteTable(stdout)
	if rep.Lost != 0 || rep.Stuck != 0 {
		return &exitError{1, fmt.Errorf("%d executions lost, %d stuck", rep.Lost, rep.Stuck)}
	}
	return nil
}
