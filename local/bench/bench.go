// Package bench measures symflow against its references and its goals:
// symbolication against llvm-symbolizer and addr2line, the embedded
// Symbolicator answering over HTTP (cold, warm and restarted on its
// cache) against llvm-symbolizer, end-to-end
// executions through the local engine, state transitions and what they
// cost on AWS, the functions' size and cold start, and minidumps walked
// and symbolicated against Breakpad's minidump_stackwalk. Run measures
// everything and returns one Report, printed as tables (WriteText) and
// kept as JSON (WriteJSON) to compare runs.
//
// Timings depend on the machine; Report.Machine says which one. Nothing
// here asserts a timing: Goals says how far each measurement is from its
// goal.
package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/symflow/symflow/local/chaos"
	"github.com/symflow/symflow/local/samtemplate"
	"github.com/symflow/symflow/shared/task"
)

// Config sizes a run. Zero fields take the defaults of DefaultConfig.
type Config struct {
	// Root is the repository root (template.yaml, functions/, events/).
	Root string
	// Addresses are the sizes symbolized by every tool (10k and 100k).
	Addresses []int
	// WarmAddresses are looked up on an open file for warm lookups/s.
	WarmAddresses int
	// Concurrency levels of the end-to-end section (1, 16, 64), each
	// running ExecutionsPerWorker × level executions.
	Concurrency         []int
	ExecutionsPerWorker int
	// Repeats is how often short measurements are repeated; the best (or
	// median) is kept.
	Repeats int
	// ChaosExecutions is the size of the load-with-faults run; negative
	// skips it.
	ChaosExecutions int
	// Minidumps are the crashes of the minidump section, as crashtest
	// "scenario/arch" names.
	Minidumps []string
	// ServiceAddresses are the sizes of the service section's requests
	// (100, 3,000 and 30,000 addresses).
	ServiceAddresses []int
	// ServiceTargets name the service section's binaries: "sqlite-gcc-O2",
	// "sqlite-clang-O3" (SQLite's amalgamation, compiled here),
	// "cxx-g++-O2", "cxx-clang++-O2" (a generated template-heavy C++
	// program) and "go" (section 1's Go program).
	ServiceTargets []string
	// ServiceMinidump is the crashtest "scenario/arch" of the service
	// section's minidump row; empty skips it.
	ServiceMinidump string
	// SQLiteSource is SQLite's amalgamation (sqlite3.c); default: the one
	// the npm package better-sqlite3 ships, under Root/node_modules.
	SQLiteSource string
	// BuildCache keeps the service section's compiled binaries between
	// runs; default: symflow-bench in the user's cache directory.
	BuildCache string
	// Sections limits the run to these sections (Sections lists the
	// names); empty runs every one.
	Sections []string
	// Progress receives one line per step; nil is silent.
	Progress io.Writer
}

// DefaultConfig is what make bench runs: well within 10 minutes on two
// cores.
var DefaultConfig = Config{
	Addresses:           []int{10_000, 100_000},
	WarmAddresses:       100_000,
	Concurrency:         []int{1, 16, 64},
	ExecutionsPerWorker: 8,
	Repeats:             3,
	ChaosExecutions:     200,
	// A C crash at -O0 and -O2, threads, a crash in a shared library, C++
	// through libstdc++ (the largest symbol file), and one arm64 dump.
	Minidumps: []string{
		"c-null-gcc-O2/amd64", "c-abort-clang-O0/amd64", "c-threads-gcc-O2/amd64",
		"c-shared-lib-gcc-O2-nofp/amd64", "cxx-uncaught-gcc-O0/amd64", "c-null-clang-O2-nofp/arm64",
	},
	ServiceAddresses: []int{100, 3_000, 30_000},
	ServiceTargets:   []string{"sqlite-gcc-O2", "sqlite-clang-O3", "cxx-g++-O2", "cxx-clang++-O2", "go"},
	ServiceMinidump:  "cxx-uncaught-gcc-O0/amd64",
}

// Sections names the report's sections, in the order they run, for
// Config.Sections and symflow-bench -only.
var Sections = []string{"symbolication", "service", "end-to-end", "transitions", "cold-start", "minidump", "chaos"}

func (c Config) withDefaults() Config {
	d := DefaultConfig
	if c.Root == "" {
		c.Root = "."
	}
	if len(c.Addresses) == 0 {
		c.Addresses = d.Addresses
	}
	if c.WarmAddresses <= 0 {
		c.WarmAddresses = d.WarmAddresses
	}
	if len(c.Concurrency) == 0 {
		c.Concurrency = d.Concurrency
	}
	if c.ExecutionsPerWorker <= 0 {
		c.ExecutionsPerWorker = d.ExecutionsPerWorker
	}
	if c.Repeats <= 0 {
		c.Repeats = d.Repeats
	}
	if c.ChaosExecutions == 0 {
		c.ChaosExecutions = d.ChaosExecutions
	}
	if len(c.Minidumps) == 0 {
		c.Minidumps = d.Minidumps
	}
	if len(c.ServiceAddresses) == 0 {
		c.ServiceAddresses = d.ServiceAddresses
	}
	if len(c.ServiceTargets) == 0 {
		c.ServiceTargets = d.ServiceTargets
	}
	return c
}

// runs reports whether the section named runs.
func (c Config) runs(section string) bool {
	return len(c.Sections) == 0 || slices.Contains(c.Sections, section)
}

// Machine names where a report was measured.
type Machine struct {
	CPUs      int    `json:"cpus"`
	CPUModel  string `json:"cpu_model"`
	MemoryMB  int64  `json:"memory_mb"`
	GoVersion string `json:"go_version"`
	OS        string `json:"os"`
	// LoadAverage is the 1-minute load average when the run began: on a
	// shared machine, how much else was running.
	LoadAverage float64 `json:"load_average"`
}

func thisMachine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		fmt.Sscan(string(b), &m.LoadAverage)
	}
	if f, err := os.Open("/proc/meminfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var kb int64
			if n, _ := fmt.Sscanf(sc.Text(), "MemTotal: %d kB", &kb); n == 1 {
				m.MemoryMB = kb / 1024
				break
			}
		}
		f.Close()
	}
	return m
}

// Report is one run of everything.
type Report struct {
	Date          time.Time         `json:"date"`
	Machine       Machine           `json:"machine"`
	Duration      time.Duration     `json:"duration_ns"`
	Symbolication *Symbolication    `json:"symbolication"`
	Service       *Service          `json:"service,omitempty"`
	EndToEnd      *EndToEnd         `json:"end_to_end"`
	Scenarios     []Scenario        `json:"scenarios"`
	Costs         []Cost            `json:"costs_per_million"`
	TradeOffs     []TradeOff        `json:"trade_offs"`
	ColdStarts    []ColdStart       `json:"cold_starts"`
	Chaos         *chaos.LoadReport `json:"chaos,omitempty"`
	Minidumps     *Minidumps        `json:"minidumps,omitempty"`
	Goals         []Goal            `json:"goals"`
}

// Goal is one target of the issue and how the measurement compares.
type Goal struct {
	Name     string `json:"name"`
	Target   string `json:"target"`
	Measured string `json:"measured"`
	Met      bool   `json:"met"`
	// Off says by how much a goal is missed.
	Off string `json:"off,omitempty"`
}

// Run measures everything, or the sections cfg.Sections names. A missing
// symbolizer is reported, not an error; a step that cannot run is, and
// so is a missing tool of the minidump section (a compiler, gdb, qemu,
// Breakpad's tools), which has nothing to compare without them.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg = cfg.withDefaults()
	for _, s := range cfg.Sections {
		if !slices.Contains(Sections, s) {
			return nil, fmt.Errorf("unknown section %q (sections: %s)", s, strings.Join(Sections, ", "))
		}
	}
	start := time.Now()
	rep := &Report{Date: start.UTC(), Machine: thisMachine()}
	tmp, err := os.MkdirTemp("", "symflow-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	step := func(name string) func() {
		t := time.Now()
		progress(cfg, "%s…", name)
		return func() { progress(cfg, "%s: %s", name, time.Since(t).Round(time.Millisecond)) }
	}

	var done func()
	if cfg.runs("symbolication") {
		done = step("symbolication")
		if rep.Symbolication, err = measureSymbolication(ctx, cfg, tmp); err != nil {
			return nil, fmt.Errorf("symbolication: %w", err)
		}
		done()
	}

	if cfg.runs("service") {
		done = step("service")
		if rep.Service, err = measureService(ctx, cfg, tmp); err != nil {
			return nil, fmt.Errorf("service: %w", err)
		}
		done()
	}

	if cfg.runs("end-to-end") {
		done = step("end to end")
		if rep.EndToEnd, err = measureEndToEnd(ctx, cfg); err != nil {
			return nil, fmt.Errorf("end to end: %w", err)
		}
		done()
	}

	if cfg.runs("transitions") {
		done = step("transitions")
		memory, err := functionMemory(cfg.Root)
		if err != nil {
			return nil, err
		}
		if rep.Scenarios, err = measureScenarios(ctx, cfg); err != nil {
			return nil, fmt.Errorf("transitions: %w", err)
		}
		for _, s := range rep.Scenarios {
			rep.Costs = append(rep.Costs, costPerMillion(s.Name, s.Transitions, s.Invocations, s.GBSeconds, s.Duration+s.Waited))
		}
		rep.TradeOffs = tradeOffs(rep.Scenarios[0], memory["submit-task"], memory["poll-task"])
		done()
	}

	if cfg.runs("cold-start") {
		done = step("cold start")
		if rep.ColdStarts, err = measureColdStarts(ctx, cfg, tmp); err != nil {
			return nil, fmt.Errorf("cold start: %w", err)
		}
		done()
	}

	if cfg.runs("minidump") {
		done = step("minidumps")
		if rep.Minidumps, err = measureMinidumps(ctx, cfg, tmp); err != nil {
			return nil, fmt.Errorf("minidumps: %w", err)
		}
		done()
	}

	if cfg.ChaosExecutions > 0 && cfg.runs("chaos") {
		done = step("load with faults")
		rep.Chaos, err = chaos.RunLoad(ctx, chaos.LoadConfig{
			Root: cfg.Root, Executions: cfg.ChaosExecutions, Concurrency: 16,
			Mix: chaos.UniformMix(0.10, chaos.Faults...), Seed: 1,
			Config: task.Config{PollTimeout: 100 * time.Millisecond,
				NetworkRetryWaits: []time.Duration{time.Millisecond, 5 * time.Millisecond, 10 * time.Millisecond}},
		})
		if err != nil {
			return nil, fmt.Errorf("load with faults: %w", err)
		}
		done()
	}
	rep.Goals = goals(rep)
	rep.Duration = time.Since(start)
	return rep, nil
}

func progress(cfg Config, format string, a ...any) {
	if cfg.Progress != nil {
		fmt.Fprintf(cfg.Progress, "bench: "+format+"\n", a...)
	}
}

// tradeOffs is the poll interval × timeout table for a quick and a slow
// crash: short and long holds at the template's 1 s interval (5 s is the
// template's default timeout, 10 s its maximum), and a slower loop.
func tradeOffs(happy Scenario, submitMB, pollMB int) []TradeOff {
	var out []TradeOff
	for _, work := range []time.Duration{2 * time.Second, 20 * time.Second} {
		for _, it := range [][2]time.Duration{
			{time.Second, time.Second}, {time.Second, 5 * time.Second}, {time.Second, 10 * time.Second}, {5 * time.Second, 5 * time.Second},
		} {
			out = append(out, tradeOff(happy, submitMB, pollMB, work, it[0], it[1]))
		}
	}
	return out
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// QuickConfig has tiny sizes: every section runs, in seconds, and the
// numbers mean little. Tests and -quick use it.
func QuickConfig(root string) Config {
	return Config{
		Root:                root,
		Addresses:           []int{200},
		WarmAddresses:       200,
		Concurrency:         []int{1, 2},
		ExecutionsPerWorker: 1,
		Repeats:             1,
		ChaosExecutions:     -1,
		Minidumps:           []string{"c-null-gcc-O2/amd64"},
		ServiceAddresses:    []int{100},
		ServiceTargets:      []string{"go"},
		ServiceMinidump:     "c-null-gcc-O2/amd64",
	}
}

// functionMemory reads each function's MemorySize (MB) from
// template.yaml, by functions/ folder.
func functionMemory(root string) (map[string]int, error) {
	t, err := samtemplate.Load(filepath.Join(root, "template.yaml"))
	if err != nil {
		return nil, fmt.Errorf("read template: %w", err)
	}
	m := map[string]int{}
	for _, f := range t.Functions() {
		mb := f.MemorySize
		if mb == 0 {
			mb = 128 // Lambda's default
		}
		m[f.Dir] = mb
	}
	return m, nil
}
