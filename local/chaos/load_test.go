package chaos_test

import (
	"context"
	"flag"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/symflow/symflow/local/chaos"
	"github.com/symflow/symflow/shared/task"
)

const root = "../.."

var loadExecutions = flag.Int("load.executions", 1000, "executions BenchmarkLoad starts")

// loadConfig is the workflow tuned for load runs: a poll timeout of one
// second (a Slow fault costs the client's idle timeout, poll timeout + 1 s;
// Symbolicator holds a request for the poll timeout in whole seconds, so
// less would leave the client under a second of margin on a loaded
// machine) and short network retry waits.
func loadConfig(n int) chaos.LoadConfig {
	return chaos.LoadConfig{
		Root:        root,
		Executions:  n,
		Concurrency: 100,
		Mix:         chaos.UniformMix(0.10, chaos.Faults...),
		Seed:        1,
		Config:      task.Config{PollTimeout: time.Second, NetworkRetryWaits: []time.Duration{time.Millisecond, 5 * time.Millisecond, 10 * time.Millisecond}},
	}
}

// TestLoadWithFaults runs 100 executions, 20 at a time, with 10 % of the
// Symbolicator requests faulty: none may be lost or stuck, every failure
// is a named error, and lost tasks and unavailability are recovered.
//
// It must hold on a starved machine (`make test` beside stress-ng), so the
// state machine's clock runs at wall speed (a sped-up clock shortens the
// Task timeouts below what a starved Lambda needs) and the concurrency is
// what such a machine answers within the reference client's timeouts: at
// 100 at a time beside stress-ng --cpu 4 on 2 cores, requests time out and
// are asked again faster than they are answered. `make load` runs 100 at a
// time.
func TestLoadWithFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("load run")
	}
	cfg := loadConfig(100)
	cfg.Concurrency, cfg.ClockScale = 20, 1
	rep, err := chaos.RunLoad(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	rep.WriteTable(&b)
	t.Log("\n" + b.String())
	checkReport(t, rep)
}

func checkReport(t testing.TB, rep *chaos.LoadReport) {
	t.Helper()
	if rep.Lost != 0 || rep.Stuck != 0 || rep.Unrecovered != 0 {
		t.Errorf("%d lost, %d stuck, %d failed after recoverable faults: %v", rep.Lost, rep.Stuck, rep.Unrecovered, rep.Problems)
	}
	if got := rep.Succeeded + rep.FailedTotal() + rep.Lost + rep.Stuck; got != rep.Started {
		t.Errorf("outcomes add up to %d, %d started", got, rep.Started)
	}
	named := map[string]bool{"SymbolicationFailed": true}
	for _, n := range task.ErrorNames {
		named[n] = true
	}
	for name := range rep.Failed {
		if !named[name] {
			t.Errorf("%d executions failed with %q, not one of the workflow's error names", rep.Failed[name], name)
		}
	}
	if rep.Succeeded == 0 {
		t.Error("no execution succeeded")
	}
	if rep.Injected[chaos.Lost] > 0 && rep.Resubmits[task.ReasonLost] == 0 {
		t.Errorf("%d lost tasks injected, none resubmitted", rep.Injected[chaos.Lost])
	}
	if rep.Injected[chaos.Unavailable] > 0 && rep.Resubmits[task.ReasonUnavailable] == 0 {
		t.Errorf("%d unavailable answers injected, no worker reset", rep.Injected[chaos.Unavailable])
	}
}

// BenchmarkLoad is the large version: -load.executions (1,000) executions
// with 10 % faults, printing the table. Run it once: -benchtime 1x.
func BenchmarkLoad(b *testing.B) {
	for b.Loop() {
		rep, err := chaos.RunLoad(context.Background(), loadConfig(*loadExecutions))
		if err != nil {
			b.Fatal(err)
		}
		rep.WriteTable(os.Stdout)
		checkReport(b, rep)
		b.ReportMetric(float64(rep.Started)/rep.Duration.Seconds(), "executions/s")
	}
}
