// Command symflow-bench measures symflow against its references and goals
// (symbolication, the embedded Symbolicator over HTTP, end-to-end
// executions, transitions and cost, cold start, minidumps), prints one report and writes it as JSON for comparison between
// runs. Run it from the repository root: make bench.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"

	"github.com/symflow/symflow/local/bench"
)

func main() {
	// The service section runs this program again as the embedded
	// Symbolicator's process.
	bench.RunChild()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "symflow-bench:", err)
		os.Exit(1)
	}
}

func run() error {
	cfg := bench.DefaultConfig
	out := flag.String("json", "bench.json", "write the report as JSON to this file (empty: do not write)")
	flag.StringVar(&cfg.Root, "root", ".", "repository root")
	quick := flag.Bool("quick", false, "tiny sizes: check that every section runs, not how fast")
	markdown := flag.Bool("markdown", false, "also print the headline numbers as Markdown tables (for the README)")
	only := flag.String("only", "", "run only these sections, comma-separated: "+strings.Join(bench.Sections, ", "))
	flag.StringVar(&cfg.SQLiteSource, "sqlite", "", "SQLite's amalgamation sqlite3.c (default: the one in node_modules/better-sqlite3)")
	serviceTargets := flag.String("service-targets", strings.Join(cfg.ServiceTargets, ","), "the service section's binaries, comma-separated")
	serviceAddrs := flag.String("service-addresses", "", "the service section's request sizes, comma-separated (default 100,3000,30000)")
	flag.StringVar(&cfg.ServiceMinidump, "service-minidump", cfg.ServiceMinidump, "the crashtest scenario/arch of the service section's minidump row (empty: none)")
	flag.IntVar(&cfg.Repeats, "repeats", cfg.Repeats, "how often short measurements are repeated (the median is kept)")
	chaosN := flag.Int("chaos-executions", cfg.ChaosExecutions, "executions of the load-with-faults run (0: skip)")
	flag.Parse()
	if flag.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %s", strings.Join(flag.Args(), " "))
	}
	cfg.ChaosExecutions = *chaosN
	if *chaosN == 0 {
		cfg.ChaosExecutions = -1
	}
	if *quick {
		cfg = bench.QuickConfig(cfg.Root)
	}
	cfg.ServiceTargets = strings.Split(*serviceTargets, ",")
	if *serviceAddrs != "" {
		cfg.ServiceAddresses = nil
		for _, a := range strings.Split(*serviceAddrs, ",") {
			n, err := strconv.Atoi(a)
			if err != nil || n <= 0 {
				return fmt.Errorf("-service-addresses: %q is not a positive count", a)
			}
			cfg.ServiceAddresses = append(cfg.ServiceAddresses, n)
		}
	}
	if *only != "" {
		cfg.Sections = strings.Split(*only, ",")
	}
	cfg.Progress = os.Stderr
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	rep, err := bench.Run(ctx, cfg)
	if err != nil {
		return err
	}
	rep.WriteText(os.Stdout)
	if *markdown {
		fmt.Println()
		rep.WriteMarkdown(os.Stdout)
	}
	if *out != "" {
		f, err := os.Create(*out)
		if err != nil {
			return fmt.Errorf("write the report: %w", err)
		}
		if err := rep.WriteJSON(f); err != nil {
			f.Close()
			return fmt.Errorf("write the report %s: %w", *out, err)
		}
		if err := f.Close(); err != nil {
			return fmt.Errorf("write the report %s: %w", *out, err)
		}
		fmt.Fprintf(os.Stderr, "symflow-bench: report written to %s\n", *out)
	}
	return nil
}
