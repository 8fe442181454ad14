package runtimeapi_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/symflow/symflow/local/runtimeapi"
)

// BenchmarkColdStart measures a new process's way to its first response:
// ms/first-response from process start to the answer, init-ms from process
// start to its first /next (Lambda's Init Duration). recover-task is a real
// function (SDK configuration, store wiring); its input is refused without
// touching the network, so only the start is measured.
func BenchmarkColdStart(b *testing.B) {
	cases := []struct {
		name  string
		bin   func(testing.TB) string
		env   map[string]string
		input string
	}{
		{"crasher", crasher, nil, `{}`},
		{"recover-task", func(tb testing.TB) string { return realFunctions(tb)["recover-task"] }, map[string]string{
			"PROJECTS_TABLE": projectsTable, "TASKS_TABLE": tasksTable,
			"SYMBOLICATOR_URL": "http://127.0.0.1:9/", "RESULTS_BUCKET": "symflow-results",
		}, `{"reason":"none"}`},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			bin := tc.bin(b)
			var total, init time.Duration
			b.ResetTimer()
			for range b.N {
				f, err := runtimeapi.NewFunction(runtimeapi.Config{Name: "Bench", Bootstrap: bin, Env: tc.env})
				if err != nil {
					b.Fatal(err)
				}
				start := time.Now()
				_, err = f.Invoke(context.Background(), []byte(tc.input))
				total += time.Since(start)
				var fe *runtimeapi.FunctionError
				if err != nil && !errors.As(err, &fe) {
					b.Fatal(err)
				}
				if fe != nil && fe.Type != "InvalidInput" {
					b.Fatalf("first response: %v", fe)
				}
				st := f.Stats()
				if len(st.InitDurations) != 1 {
					b.Fatalf("stats %+v: want one init duration", st)
				}
				init += st.InitDurations[0]
				f.Stop()
			}
			b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms/first-response")
			b.ReportMetric(float64(init.Microseconds())/1000/float64(b.N), "init-ms")
		})
	}
}

// BenchmarkWarmInvoke measures an invocation of a warm process, the
// emulator's own overhead per call.
func BenchmarkWarmInvoke(b *testing.B) {
	f, err := runtimeapi.NewFunction(runtimeapi.Config{Name: "Bench", Bootstrap: crasher(b)})
	if err != nil {
		b.Fatal(err)
	}
	defer f.Stop()
	ctx := context.Background()
	if _, err := f.Invoke(ctx, []byte(`{}`)); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		if _, err := f.Invoke(ctx, []byte(`{}`)); err != nil {
			b.Fatal(err)
		}
	}
}
