package bench

import (
	"fmt"
	"io"
	"slices"
	"strings"
)

// WriteMarkdown prints the report's headline numbers and the goals as
// Markdown tables, for the README.
func (r *Report) WriteMarkdown(w io.Writer) {
	m := r.Machine
	fmt.Fprintf(w, "Measured %s on %d CPUs (%s), %.1f GiB, %s, %s.\n\n",
		r.Date.Format("2006-01-02"), m.CPUs, m.CPUModel, float64(m.MemoryMB)/1024, m.GoVersion, m.OS)
	if s := r.Symbolication; s != nil {
		fmt.Fprintln(w, "| symbolication (index build included) | addresses | time | addresses/s | objfile faster | memory |")
		fmt.Fprintln(w, "|---|--:|--:|--:|--:|--:|")
		for _, run := range s.Runs {
			mem := "RSS " + mb(run.MaxRSS)
			if run.Tool == "objfile" {
				mem = "allocated " + mb(run.Allocated)
			}
			fmt.Fprintf(w, "| %s | %s | %s | %s | %.1f× | %s |\n", run.Tool, count(run.Addresses), dur(run.Duration), rate(run.PerSecond), run.Ratio, mem)
		}
		fmt.Fprintf(w, "\nWarm lookups: %s/s; the open index keeps %s.\n\n", rate(s.WarmLookups), mb(s.IndexHeapBytes))
	}
	if sv := r.Service; sv != nil {
		fmt.Fprintln(w, "| embedded Symbolicator over HTTP | addresses | frames | llvm-symbolizer | cold | warm | restarted | faster cold / warm / restarted | frames/s cold / warm | answer | service RSS (cold) | llvm-symbolizer RSS |")
		fmt.Fprintln(w, "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
		rows := slices.Clone(sv.Runs)
		if sv.Crash != nil {
			rows = append(rows, *sv.Crash)
		}
		if sv.Minidump != nil {
			rows = append(rows, *sv.Minidump)
		}
		for _, run := range rows {
			fmt.Fprintf(w, "| %s | %s | %d | %s | %s | %s | %s | %.1f× / %.1f× / %.1f× | %s / %s | %s | %s | %s |\n", run.Binary, count(run.Addresses), run.Frames,
				dur(run.Reference), dur(run.Cold), dur(run.Warm), dur(run.Restarted), run.ColdSpeedup, run.WarmSpeedup, run.RestartedSpeedup,
				rate(perSecond(run.Frames, run.Cold)), rate(perSecond(run.Frames, run.Warm)), mb(run.AnswerBytes), mb(run.ColdRSS), mb(run.ReferenceRSS))
		}
		fmt.Fprintf(w, "\nMedians of %d runs; llvm-symbolizer runs as one process per request (the minidump row: minidump_stackwalk); the service answers POST /symbolicate over loopback in its own process, cold (new debug files), warm (the same request again) and restarted on its cache directory.\n\n", sv.Repeats)
	}
	if e := r.EndToEnd; e != nil {
		fmt.Fprintln(w, "| local engine, concurrent executions | executions/s | p50 | p99 |")
		fmt.Fprintln(w, "|--:|--:|--:|--:|")
		for _, l := range e.Levels {
			fmt.Fprintf(w, "| %d | %.0f | %s | %s |\n", l.Concurrency, l.PerSecond, dur(l.P50), dur(l.P99))
		}
		fmt.Fprintf(w, "\nThe engine itself takes %s per state; the handlers take %.0f%% of an execution.\n\n", dur(e.EnginePerState), 100*e.HandlerShare)
	}
	if len(r.Scenarios) > 0 {
		fmt.Fprintf(w, "| path | transitions | Lambda invocations | Standard per 1 M | Express per 1 M |\n")
		fmt.Fprintln(w, "|---|--:|--:|--:|--:|")
		for i, s := range r.Scenarios {
			c := r.Costs[i]
			fmt.Fprintf(w, "| %s | %d | %d | %s | %s |\n", s.Name, s.Transitions, s.Invocations, usd(c.Standard), usd(c.Express))
		}
		fmt.Fprintf(w, "\nus-east-1 list prices of %s, Lambda on arm64, handler durations measured locally.\n\n", PricesDate)
	}
	if len(r.TradeOffs) > 0 {
		fmt.Fprintln(w, "| crash takes | poll interval | timeout | polls | transitions | Lambda waiting | seen late by | Standard per 1 M | Express per 1 M |")
		fmt.Fprintln(w, "|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
		for _, o := range r.TradeOffs {
			fmt.Fprintf(w, "| %s | %s | %s | %d | %d | %s | %s | %s | %s |\n", dur(o.Work), dur(o.PollInterval), dur(o.Timeout),
				o.Polls, o.Transitions, dur(o.Held), dur(o.Late), usd(o.Standard), usd(o.Express))
		}
		fmt.Fprintln(w, "\nThe poll loop modelled on the measured happy path; 1 s and 5 s are the template's defaults.")
		fmt.Fprintln(w)
	}
	if len(r.ColdStarts) > 0 {
		fmt.Fprintln(w, "| function | bootstrap (arm64) | cold start to first response |")
		fmt.Fprintln(w, "|---|--:|--:|")
		for _, c := range r.ColdStarts {
			fmt.Fprintf(w, "| %s | %s | %s |\n", c.Function, mb(c.Bytes), dur(c.FirstResponse))
		}
		fmt.Fprintln(w)
	}
	if m := r.Minidumps; m != nil && len(m.Runs) > 0 {
		fmt.Fprintln(w, "| minidump | minidump_stackwalk | symflow cold | symflow warm | fresh symflow process | symflow cold, ELF files | symflow faster (cold) |")
		fmt.Fprintln(w, "|---|--:|--:|--:|--:|--:|--:|")
		for _, run := range append(slices.Clone(m.Runs), m.Median) {
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %.1f× |\n", run.Dump, dur(run.Reference), dur(run.Cold), dur(run.Warm), dur(run.Process), dur(run.ELFCold), run.Speedup)
		}
		fmt.Fprintf(w, "\nMedians of %d runs each; both read the same Breakpad symbol files (ELF: symflow reads the binaries instead); symflow answers POST /minidump over loopback HTTP, minidump_stackwalk runs as a process.\n\n", m.Repeats)
	}
	fmt.Fprintln(w, "| goal | target | measured | met |")
	fmt.Fprintln(w, "|---|---|---|---|")
	for _, g := range r.Goals {
		met := "yes"
		if !g.Met {
			met = "no: " + g.Off
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", g.Name, strings.ReplaceAll(g.Target, "|", "/"), g.Measured, met)
	}
}
