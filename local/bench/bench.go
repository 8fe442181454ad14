// Package bench measures symflow against its references and its goals:
// symbolication against llvm-symbolizer and addr2line, end-to-end
// executions through the local engine, state transitions and what they
// cost on AWS, and the functions' size and cold start. Run measures
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
}

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
	return c
}

// Machine names where a report was measured.
type Machine struct {
	CPUs      int    `json:"cpus"`
	CPUModel  string `json:"cpu_model"`
	MemoryMB  int64  `json:"memory_mb"`
	GoVersion string `json:"go_version"`
	OS        string `json:"os"`
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
	EndToEnd      *EndToEnd         `json:"end_to_end"`
	Scenarios     []Scenario        `json:"scenarios"`
	Costs         []Cost            `json:"costs_per_million"`
	TradeOffs     []TradeOff        `json:"trade_offs"`
	ColdStarts    []ColdStart       `json:"cold_starts"`
	Chaos         *chaos.LoadReport `json:"chaos,omitempty"`
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

// Run measures everything. A missing reference tool is reported, not an
// error; a step that cannot run is.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg = cfg.withDefaults()
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

	done := step("symbolication")
	if rep.Symbolication, err = measureSymbolication(ctx, cfg, tmp); err != nil {
		return nil, fmt.Errorf("symbolication: %w", err)
	}
	done()

	done = step("end to end")
	if rep.EndToEnd, err = measureEndToEnd(ctx, cfg); err != nil {
		return nil, fmt.Errorf("end to end: %w", err)
	}
	done()

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

	done = step("cold start")
	if rep.ColdStarts, err = measureColdStarts(ctx, cfg, tmp); err != nil {
		return nil, fmt.Errorf("cold start: %w", err)
	}
	done()

	if cfg.ChaosExecutions > 0 {
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
