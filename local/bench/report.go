package bench

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// The goals.
const (
	GoalSpeedup        = 5.0              // × llvm-symbolizer at the largest size
	GoalWarmLookups    = 1e6              // lookups/s
	GoalTransitions    = 8                // happy path
	GoalEnginePerState = time.Millisecond // per state
	GoalBootstrapBytes = 12 << 20
	GoalColdStart      = 30 * time.Millisecond
)

func goals(r *Report) []Goal {
	var out []Goal
	add := func(name, target, measured string, met bool, off string) {
		g := Goal{Name: name, Target: target, Measured: measured, Met: met}
		if !met {
			g.Off = off
		}
		out = append(out, g)
	}
	if s := r.Symbolication; s != nil {
		largest := 0
		var ratio float64
		for _, run := range s.Runs {
			if run.Tool == "llvm-symbolizer" && run.Addresses >= largest {
				largest, ratio = run.Addresses, run.Ratio
			}
		}
		if largest == 0 {
			add("speed vs llvm-symbolizer", fmt.Sprintf("≥ %.0f×", GoalSpeedup), "not measured", false, "llvm-symbolizer is not installed (make deps)")
		} else {
			add(fmt.Sprintf("speed vs llvm-symbolizer at %s addresses", count(largest)), fmt.Sprintf("≥ %.0f×", GoalSpeedup),
				fmt.Sprintf("%.1f×", ratio), ratio >= GoalSpeedup, fmt.Sprintf("%.1f× short (%.0f%% of the goal)", GoalSpeedup-ratio, 100*ratio/GoalSpeedup))
		}
		add("warm lookups", "≥ 1 M/s", rate(s.WarmLookups)+"/s", s.WarmLookups >= GoalWarmLookups,
			fmt.Sprintf("%.0f%% of the goal", 100*s.WarmLookups/GoalWarmLookups))
	}
	if sv := r.Service; sv != nil && len(sv.Runs) > 0 {
		largest := 0
		for _, run := range sv.Runs {
			largest = max(largest, run.Addresses)
		}
		var cold, warm ServiceRun
		cold.ColdSpeedup, warm.WarmSpeedup = math.Inf(1), math.Inf(1)
		for _, run := range sv.Runs {
			if run.Addresses != largest {
				continue
			}
			if run.ColdSpeedup < cold.ColdSpeedup {
				cold = run
			}
			if run.WarmSpeedup < warm.WarmSpeedup {
				warm = run
			}
		}
		add(fmt.Sprintf("service cold vs llvm-symbolizer at %s addresses, every binary", count(largest)), fmt.Sprintf("≥ %.0f×", GoalServiceCold),
			fmt.Sprintf("%.1f× slowest (%s; CPU %.1f×)", cold.ColdSpeedup, cold.Binary, cold.ColdCPUSpeedup), cold.ColdSpeedup >= GoalServiceCold,
			fmt.Sprintf("%.1f× short on %s (%.0f%% of the goal)", GoalServiceCold-cold.ColdSpeedup, cold.Binary, 100*cold.ColdSpeedup/GoalServiceCold))
		add(fmt.Sprintf("service warm vs llvm-symbolizer at %s addresses, every binary", count(largest)), fmt.Sprintf("≥ %.0f×", GoalServiceWarm),
			fmt.Sprintf("%.1f× slowest (%s; CPU %.1f×)", warm.WarmSpeedup, warm.Binary, warm.WarmCPUSpeedup), warm.WarmSpeedup >= GoalServiceWarm,
			fmt.Sprintf("%.1f× short on %s (%.0f%% of the goal)", GoalServiceWarm-warm.WarmSpeedup, warm.Binary, 100*warm.WarmSpeedup/GoalServiceWarm))
	}
	for _, sc := range r.Scenarios {
		if sc.Name == "happy path" {
			add("transitions on the happy path", fmt.Sprintf("≤ %d", GoalTransitions), fmt.Sprint(sc.Transitions),
				sc.Transitions <= GoalTransitions, fmt.Sprintf("%d too many", sc.Transitions-GoalTransitions))
		}
	}
	if e := r.EndToEnd; e != nil {
		add("engine time per state", "≤ 1 ms", dur(e.EnginePerState), e.EnginePerState <= GoalEnginePerState,
			fmt.Sprintf("%.1f× the goal", float64(e.EnginePerState)/float64(GoalEnginePerState)))
	}
	if len(r.ColdStarts) > 0 {
		var big ColdStart
		var slow ColdStart
		for _, c := range r.ColdStarts {
			if c.Bytes > big.Bytes {
				big = c
			}
			if c.FirstResponse > slow.FirstResponse {
				slow = c
			}
		}
		add("largest bootstrap", "≤ 12 MB", fmt.Sprintf("%s (%s)", mb(big.Bytes), big.Function), big.Bytes <= GoalBootstrapBytes,
			fmt.Sprintf("%s over", mb(big.Bytes-GoalBootstrapBytes)))
		add("slowest cold start to first response", "≤ 30 ms", fmt.Sprintf("%s (%s)", dur(slow.FirstResponse), slow.Function),
			slow.FirstResponse <= GoalColdStart, fmt.Sprintf("%s over", dur(slow.FirstResponse-GoalColdStart)))
	}
	if m := r.Minidumps; m != nil && len(m.Runs) > 0 {
		var slow MinidumpRun
		for _, run := range m.Runs {
			if run.Dump == m.Slowest {
				slow = run
			}
		}
		add("minidumps vs minidump_stackwalk, cold, every dump", fmt.Sprintf("≥ %.0f×", GoalMinidumpSpeedup),
			fmt.Sprintf("%.1f× slowest (%s), %.1f× median", slow.Speedup, slow.Dump, m.Median.Speedup),
			slow.Speedup >= GoalMinidumpSpeedup,
			fmt.Sprintf("%.1f× short on %s (%.0f%% of the goal)", GoalMinidumpSpeedup-slow.Speedup, slow.Dump, 100*slow.Speedup/GoalMinidumpSpeedup))
	}
	return out
}

func count(n int) string {
	if n >= 1000 && n%1000 == 0 {
		return fmt.Sprintf("%dk", n/1000)
	}
	return fmt.Sprint(n)
}

func rate(x float64) string {
	switch {
	case x >= 1e6:
		return fmt.Sprintf("%.2f M", x/1e6)
	case x >= 1e3:
		return fmt.Sprintf("%.1f k", x/1e3)
	}
	return fmt.Sprintf("%.1f", x)
}

func dur(d time.Duration) string {
	switch {
	case d == 0:
		return "0"
	case d%time.Second == 0:
		return fmt.Sprintf("%d s", d/time.Second)
	case d >= time.Second:
		return fmt.Sprintf("%.2f s", d.Seconds())
	case d >= time.Millisecond:
		return fmt.Sprintf("%.1f ms", float64(d)/1e6)
	}
	return fmt.Sprintf("%.0f µs", float64(d)/1e3)
}

func kb(b int64) string { return fmt.Sprintf("%.0f kB", float64(b)/(1<<10)) }

func mb(b int64) string { return fmt.Sprintf("%.1f MB", float64(b)/(1<<20)) }

func usd(x float64) string { return fmt.Sprintf("$%.2f", x) }

// WriteText prints the report: one table per section, then the goals.
func (r *Report) WriteText(w io.Writer) {
	m := r.Machine
	fmt.Fprintf(w, "symflow bench, %s, %d CPUs (%s), %d MB, %s, %s, load average %.1f, took %s\n",
		r.Date.Format("2006-01-02 15:04 MST"), m.CPUs, m.CPUModel, m.MemoryMB, m.GoVersion, m.OS, m.LoadAverage, r.Duration.Round(time.Second))
	tw := func() *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight) }
	end := func(t *tabwriter.Writer) { t.Flush(); fmt.Fprintln(w) }

	if s := r.Symbolication; s != nil {
		fmt.Fprintf(w, "\n1. Symbolication: %s, %s; cold (index build included), best of runs\n", s.Binary, mb(s.BinarySize))
		t := tw()
		fmt.Fprintln(t, "tool\taddresses\ttime\taddresses/s\tobjfile faster\tmemory\t")
		for _, run := range s.Runs {
			mem := "max RSS " + mb(run.MaxRSS)
			if run.Tool == "objfile" {
				mem = "allocated " + mb(run.Allocated)
			}
			fmt.Fprintf(t, "%s\t%s\t%s\t%s\t%.1f×\t%s\t\n", run.Tool, count(run.Addresses), dur(run.Duration), rate(run.PerSecond), run.Ratio, mem)
		}
		end(t)
		fmt.Fprintf(w, "warm lookups: %s/s over %s addresses; open and index: %s, index heap %s\n",
			rate(s.WarmLookups), count(s.WarmAddresses), dur(s.OpenDuration), mb(s.IndexHeapBytes))
		if len(s.MissingTools) > 0 {
			fmt.Fprintf(w, "not measured (not installed): %s\n", strings.Join(s.MissingTools, ", "))
		}
	}

	if sv := r.Service; sv != nil {
		fmt.Fprintf(w, "\n1b. The embedded Symbolicator over HTTP: POST /symbolicate to its own process (debug files from an HTTP symbol server on loopback) against llvm-symbolizer as one process on the same addresses; median of %d\n", sv.Repeats)
		t := tw()
		fmt.Fprintln(t, "binary\tsize\taddresses\tframes\tllvm-symbolizer\tcold\twarm\trestarted\tcold faster\twarm faster\trestarted faster\tCPU cold faster\tCPU warm faster\taddresses/s cold\tframes/s cold\tframes/s warm\tanswer\tindex\tRSS cold\tRSS warm\tRSS llvm\tagree\t")
		rows := slices.Clone(sv.Runs)
		if sv.Crash != nil {
			rows = append(rows, *sv.Crash)
		}
		if sv.Minidump != nil {
			rows = append(rows, *sv.Minidump)
		}
		for _, run := range rows {
			agree := fmt.Sprintf("%.1f%%", 100*run.Agreement)
			if run.Agreement < 0 {
				agree = "–"
			}
			addrs := count(run.Addresses)
			if run.Addresses == 0 {
				addrs = "–" // a minidump: the walk finds them
			}
			fmt.Fprintf(t, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.1f×\t%.1f×\t%.1f×\t%.1f×\t%.1f×\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n",
				run.Binary, mb(run.BinaryBytes), addrs, fmt.Sprintf("%d / %d", run.Frames, run.ReferenceFrames),
				dur(run.Reference), dur(run.Cold), dur(run.Warm), dur(run.Restarted),
				run.ColdSpeedup, run.WarmSpeedup, run.RestartedSpeedup, run.ColdCPUSpeedup, run.WarmCPUSpeedup,
				rate(perSecond(run.Addresses, run.Cold)), rate(perSecond(run.Frames, run.Cold)), rate(perSecond(run.Frames, run.Warm)),
				mb(run.AnswerBytes), mb(run.IndexBytes), mb(run.ColdRSS), mb(run.WarmRSS), mb(run.ReferenceRSS), agree)
		}
		end(t)
		fmt.Fprintln(w, "frames: the service's / llvm-symbolizer's (the minidump: minidump_stackwalk's); cold: a fresh service, empty caches; warm: the same request again; restarted: a new service on the first one's cache directory (its persisted indexes); faster: llvm-symbolizer's time over the service's, median of the side-by-side ratios; RSS: the service process's peak during the request; agree: addresses whose frames have llvm-symbolizer's files and lines")
		if sv.Builds > 0 {
			fmt.Fprintf(w, "compiling the binaries took %s (kept in the build cache for later runs)\n", dur(sv.Builds))
		}
	}

	if e := r.EndToEnd; e != nil {
		fmt.Fprintln(w, "\n2. End to end: the sample crash through the local engine, in-process handlers, warm embedded Symbolicator")
		t := tw()
		fmt.Fprintln(t, "concurrent\texecutions\texecutions/s\tp50\tp99\t")
		for _, l := range e.Levels {
			fmt.Fprintf(t, "%d\t%d\t%.1f\t%s\t%s\t\n", l.Concurrency, l.Executions, l.PerSecond, dur(l.P50), dur(l.P99))
		}
		end(t)
		fmt.Fprintf(w, "engine time per state: %s (median, concurrency 1); handlers take %.0f%% of an execution\n",
			dur(e.EnginePerState), 100*e.HandlerShare)
	}

	if len(r.Scenarios) > 0 {
		fmt.Fprintln(w, "\n3. Transitions and cost (waits instant; Lambda duration measured in-process, each invocation rounded up to 1 ms)")
		t := tw()
		fmt.Fprintln(t, "scenario\ttransitions\tinvocations\tbilled\tGB-s\twaits\tengine/state\t")
		for _, s := range r.Scenarios {
			fmt.Fprintf(t, "%s\t%d\t%d\t%d ms\t%.4f\t%s\t%s\t\n", s.Name, s.Transitions, s.Invocations, s.BilledMS, s.GBSeconds, dur(s.Waited), dur(s.EnginePerState))
		}
		end(t)
		fmt.Fprintf(w, "cost per 1 M executions, us-east-1 list prices of %s (Standard $0.025/1k transitions; Express $1/1M + $%.8f/GB-s at %d MB; Lambda arm64 $%.10f/GB-s + $0.20/1M)\n",
			PricesDate, ExpressPerGBSecond, ExpressMemoryMB, LambdaArmPerGBSecond)
		t = tw()
		fmt.Fprintln(t, "scenario\tLambda\tStandard total\tExpress total\t")
		for _, c := range r.Costs {
			fmt.Fprintf(t, "%s\t%s\t%s\t%s\t\n", c.Scenario, usd(c.Lambda), usd(c.Standard), usd(c.Express))
		}
		end(t)
		fmt.Fprintln(w, "poll interval × Symbolicator timeout (template defaults 1 s and 5 s), modelled on the happy path for a crash that takes `work` to symbolicate")
		t = tw()
		fmt.Fprintln(t, "work\tinterval\ttimeout\tpolls\ttransitions\tLambda held\tseen late by\tStandard/1M\tExpress/1M\t")
		for _, o := range r.TradeOffs {
			fmt.Fprintf(t, "%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\t%s\t\n", dur(o.Work), dur(o.PollInterval), dur(o.Timeout),
				o.Polls, o.Transitions, dur(o.Held), dur(o.Late), usd(o.Standard), usd(o.Express))
		}
		end(t)
	}

	if len(r.ColdStarts) > 0 {
		fmt.Fprintln(w, "\n4. Cold start: linux/arm64 bootstrap size (make build flags); host build under the Runtime API emulator, median")
		t := tw()
		fmt.Fprintln(t, "function\tbootstrap\tinit\tfirst response\tfastest\t")
		for _, c := range r.ColdStarts {
			fmt.Fprintf(t, "%s\t%s\t%s\t%s\t%s\t\n", c.Function, mb(c.Bytes), dur(c.Init), dur(c.FirstResponse), dur(c.FastestResponse))
		}
		end(t)
	}

	if r.Chaos != nil {
		fmt.Fprintln(w, "\n5. Load with faults (local/chaos)")
		r.Chaos.WriteTable(w)
	}

	if m := r.Minidumps; m != nil {
		fmt.Fprintf(w, "\n6. Minidumps: real crashes (internal/crashtest) walked and symbolicated from the same Breakpad symbols; symflow by POST /minidump over loopback, answer read; minidump_stackwalk -m as a process; median of %d\n", m.Repeats)
		t := tw()
		fmt.Fprintln(t, "dump\tsize\tthreads\tmodules\t.sym files\tframes\tminidump_stackwalk\tsymflow cold\twarm\tfresh process\tits start\tELF cold\tELF warm\tfaster cold\tprocess\tELF\t")
		for _, run := range append(slices.Clone(m.Runs), m.Median) {
			frames := fmt.Sprintf("%d / %d", run.Frames, run.ReferenceFrames)
			threads, modules := fmt.Sprint(run.Threads), fmt.Sprint(run.Modules)
			if run.Dump == "median" {
				frames, threads, modules = "", "", ""
			}
			fmt.Fprintf(t, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.1f×\t%.1f×\t%.1f×\t\n", run.Dump, kb(run.DumpBytes), threads, modules, mb(run.SymbolBytes), frames,
				dur(run.Reference), dur(run.Cold), dur(run.Warm), dur(run.Process), dur(run.ProcessStart), dur(run.ELFCold), dur(run.ELFWarm), run.Speedup, run.ProcessSpeedup, run.ELFSpeedup)
		}
		end(t)
		fmt.Fprintln(w, "frames: symflow / minidump_stackwalk, every thread; cold: a fresh in-process service, empty caches; warm: the same service again; fresh process: symflow symbolicator serve from exec to answer, its start: from exec to listening; ELF: CFI from .eh_frame and symbols from DWARF of the binaries (native layout) instead of .sym files; faster: minidump_stackwalk's time over symflow's")
	}

	fmt.Fprintln(w, "\nGoals")
	t := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(t, "goal\ttarget\tmeasured\tmet\t")
	for _, g := range r.Goals {
		met := "yes"
		if !g.Met {
			met = "no: " + g.Off
		}
		fmt.Fprintf(t, "%s\t%s\t%s\t%s\t\n", g.Name, g.Target, g.Measured, met)
	}
	t.Flush()
}

func perSecond(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}
