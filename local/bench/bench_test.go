package bench_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/symflow/symflow/local/bench"
)

// TestRunQuick runs every section with tiny sizes and checks the report
// is complete and consistent; it asserts no timing.
func TestRunQuick(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every function twice")
	}
	rep, err := bench.Run(context.Background(), bench.QuickConfig("../.."))
	if err != nil {
		t.Fatal(err)
	}
	s := rep.Symbolication
	if s == nil || len(s.Runs) == 0 || s.Runs[0].Tool != "objfile" || s.WarmLookups <= 0 {
		t.Fatalf("symbolication section %+v: want objfile runs and warm lookups", s)
	}
	if len(s.MissingTools) > 0 {
		t.Errorf("reference tools not installed: %v (run make deps)", s.MissingTools)
	}
	for _, r := range s.Runs {
		if r.Addresses != 200 || r.Duration <= 0 || r.PerSecond <= 0 {
			t.Errorf("run %+v: want 200 addresses, a duration and a rate", r)
		}
	}
	if sv := rep.Service; sv == nil || len(sv.Runs) != 1 || sv.Crash == nil || sv.Minidump == nil {
		t.Errorf("service section %+v: want one run, a typical crash and a minidump", sv)
	} else {
		for _, r := range append(sv.Runs, *sv.Crash) {
			// The answers were compared byte for byte (cold, warm,
			// restarted) by the section itself; here: every column filled,
			// and llvm-symbolizer's frames found.
			if r.Cold <= 0 || r.Warm <= 0 || r.Restarted <= 0 || r.Reference <= 0 || r.ColdRSS <= 0 || r.ReferenceRSS <= 0 ||
				r.Frames < r.Addresses || r.Frames != r.ReferenceFrames || r.AnswerBytes <= 0 || r.IndexBytes <= 0 {
				t.Errorf("service run %+v: want every time, memory, the frames of llvm-symbolizer and a persisted index", r)
			}
			if r.Agreement != 1 {
				t.Errorf("%s: %.1f%% of addresses agree with llvm-symbolizer (%s), want all", r.Binary, 100*r.Agreement, r.Disagreement)
			}
		}
		if sv.Crash.Modules != 20 || sv.Crash.Addresses != 64 {
			t.Errorf("typical crash: %d frames in %d modules, want 64 in 20", sv.Crash.Addresses, sv.Crash.Modules)
		}
		if m := sv.Minidump; m.Cold <= 0 || m.Frames < 3 || m.ReferenceFrames < 3 {
			t.Errorf("service minidump %+v: want a time and frames from both", m)
		}
	}
	if e := rep.EndToEnd; e == nil || len(e.Levels) != 2 || e.Levels[1].Executions != 2 || e.EnginePerState <= 0 {
		t.Errorf("end-to-end section %+v: want 2 levels, 2 executions at concurrency 2", e)
	}

	want := map[string]struct {
		path        string
		transitions int
	}{
		"happy path":         {"LookupSources SubmitTask IsDone ProcessResponse PrepareComponents Done", 6},
		"one lost task":      {"LookupSources SubmitTask IsDone WaitForTask PollTask ForgetLostTask SubmitTask IsDone ProcessResponse PrepareComponents Done", 11},
		"one unavailability": {"LookupSources SubmitTask ResetWorker BackOff SubmitTask IsDone ProcessResponse PrepareComponents Done", 9},
	}
	if len(rep.Scenarios) != len(want) {
		t.Fatalf("%d scenarios, want %d", len(rep.Scenarios), len(want))
	}
	for _, sc := range rep.Scenarios {
		w, ok := want[sc.Name]
		if !ok {
			t.Errorf("unexpected scenario %q", sc.Name)
			continue
		}
		if got := strings.Join(sc.Path, " "); got != w.path {
			t.Errorf("%s: path %s, want %s", sc.Name, got, w.path)
		}
		if sc.Transitions != w.transitions || sc.Status != "SUCCEEDED" {
			t.Errorf("%s: %d transitions, status %s; want %d, SUCCEEDED", sc.Name, sc.Transitions, sc.Status, w.transitions)
		}
		// One invocation per Task state entered.
		tasks := 0
		for _, st := range sc.Path {
			switch st {
			case "LookupSources", "SubmitTask", "PollTask", "ForgetLostTask", "ResetWorker", "ProcessResponse", "PrepareComponents":
				tasks++
			}
		}
		if sc.Invocations != tasks || sc.BilledMS < int64(tasks) {
			t.Errorf("%s: %d invocations billed %d ms, want %d invocations of at least 1 ms", sc.Name, sc.Invocations, sc.BilledMS, tasks)
		}
	}
	if len(rep.Costs) != 3 || rep.Costs[0].Standard <= rep.Costs[0].Lambda {
		t.Errorf("costs %+v: want three, Standard adding transitions to Lambda", rep.Costs)
	}
	if len(rep.ColdStarts) < 6 {
		t.Errorf("%d cold starts, want one per function", len(rep.ColdStarts))
	}
	for _, c := range rep.ColdStarts {
		if c.Bytes <= 0 || c.Init <= 0 || c.FirstResponse < c.Init {
			t.Errorf("cold start %+v: want a size, an init and a first response after it", c)
		}
	}
	if m := rep.Minidumps; m == nil || len(m.Runs) != 1 {
		t.Errorf("minidump section %+v: want one dump", m)
	} else {
		r := m.Runs[0]
		if r.Cold <= 0 || r.Warm <= 0 || r.ProcessStart <= 0 || r.Process < r.ProcessStart || r.ELFCold <= 0 || r.Reference <= 0 || r.Speedup <= 0 {
			t.Errorf("minidump run %+v: want every time and a speedup", r)
		}
		// Both walkers found the crashing thread's frames at least.
		if r.Threads < 1 || r.Modules < 2 || r.Frames < 3 || r.ReferenceFrames < 3 || r.SymbolBytes <= 0 {
			t.Errorf("minidump run %+v: want threads, modules, symbol files and frames from both walkers", r)
		}
		if m.Slowest != r.Dump || m.Median.Cold != r.Cold {
			t.Errorf("one dump: slowest %q and median %+v, want the dump itself", m.Slowest, m.Median)
		}
	}
	if len(rep.Goals) != 9 {
		t.Errorf("%d goals, want 9", len(rep.Goals))
	}

	var text, js bytes.Buffer
	rep.WriteText(&text)
	for _, h := range []string{"1. Symbolication", "1b. The embedded Symbolicator", "2. End to end", "3. Transitions", "4. Cold start", "6. Minidumps", "Goals", bench.PricesDate} {
		if !strings.Contains(text.String(), h) {
			t.Errorf("text report lacks %q", h)
		}
	}
	var md bytes.Buffer
	rep.WriteMarkdown(&md)
	n := 0
	for _, l := range strings.Split(md.String(), "\n") {
		if strings.HasPrefix(l, "|--") && strings.Trim(l, "|-:") == "" {
			n++ // a table's separator row
		}
	}
	if n != 8 {
		t.Errorf("Markdown report has %d tables, want 8:\n%s", n, md.String())
	}
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back bench.Report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatalf("JSON report does not read back: %v", err)
	}
	if len(back.Scenarios) != 3 || back.Scenarios[0].Transitions != 6 {
		t.Errorf("JSON report read back %+v", back.Scenarios)
	}
}

// TestSections checks that a run limited to some sections leaves the
// others out and that an unknown section is refused.
func TestSections(t *testing.T) {
	cfg := bench.QuickConfig("../..")
	cfg.Sections = []string{"transitions"}
	rep, err := bench.Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Scenarios) != 3 || rep.Symbolication != nil || rep.Service != nil || rep.EndToEnd != nil || rep.ColdStarts != nil || rep.Minidumps != nil {
		t.Errorf("transitions only: got %d scenarios, symbolication %v, end to end %v, %d cold starts, minidumps %v",
			len(rep.Scenarios), rep.Symbolication != nil, rep.EndToEnd != nil, len(rep.ColdStarts), rep.Minidumps != nil)
	}
	var text bytes.Buffer
	rep.WriteText(&text)
	if strings.Contains(text.String(), "1. Symbolication") || !strings.Contains(text.String(), "3. Transitions") {
		t.Errorf("text report of transitions only:\n%s", text.String())
	}
	cfg.Sections = []string{"minidumps"}
	if _, err := bench.Run(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), `unknown section "minidumps"`) {
		t.Errorf("unknown section: error %v", err)
	}
}

// TestMain lets the service section start this test binary as its
// Symbolicator process.
func TestMain(m *testing.M) {
	bench.RunChild()
	os.Exit(m.Run())
}
