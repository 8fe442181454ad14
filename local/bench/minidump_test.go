package bench

import (
	"testing"
	"time"
)

// TestListenWatcher feeds a symflow process's log in pieces that split
// lines and checks the bound address comes out once.
func TestListenWatcher(t *testing.T) {
	log := `{"time":"2026-01-01T00:00:00Z","level":"INFO","msg":"embedded symbolicator listening","addr":"127.0.0.1:0"}
{"time":"2026-01-01T00:00:00Z","level":"INFO","msg":"symbolicator listening","addr":"127.0.0.1:40123"}
{"time":"2026-01-01T00:00:00Z","level":"INFO","msg":"symbolicator listening","addr":"127.0.0.1:1"}
`
	for _, size := range []int{1, 7, 64, len(log)} {
		w := &listenWatcher{addr: make(chan string, 1)}
		for i := 0; i < len(log); i += size {
			if n, err := w.Write([]byte(log[i:min(i+size, len(log))])); err != nil || n != min(size, len(log)-i) {
				t.Fatalf("pieces of %d: Write = %d, %v", size, n, err)
			}
		}
		select {
		case got := <-w.addr:
			if got != "127.0.0.1:40123" {
				t.Errorf("pieces of %d: address %q, want 127.0.0.1:40123", size, got)
			}
		default:
			t.Errorf("pieces of %d: no address", size)
		}
		if len(w.addr) != 0 {
			t.Errorf("pieces of %d: a second address", size)
		}
	}
}

func TestMedianRun(t *testing.T) {
	ms := time.Millisecond
	runs := []MinidumpRun{
		{Dump: "a", Cold: 10 * ms, Reference: 40 * ms, Speedup: 4},
		{Dump: "b", Cold: 30 * ms, Reference: 45 * ms, Speedup: 1.5},
		{Dump: "c", Cold: 20 * ms, Reference: 50 * ms, Speedup: 2.5},
		{Dump: "d", Cold: 25 * ms, Reference: 60 * ms, Speedup: 2.4},
	}
	med, slowest := medianRun(runs)
	if slowest != "b" {
		t.Errorf("slowest %q, want b", slowest)
	}
	// The lower middle of an even count, as percentile(…, 0.5).
	if med.Cold != 20*ms || med.Reference != 45*ms || med.Speedup != 2.4 || med.Dump != "median" {
		t.Errorf("median %+v: want cold 20 ms, reference 45 ms, speedup 2.4", med)
	}
	if med, slowest := medianRun(nil); slowest != "" || med.Cold != 0 {
		t.Errorf("no runs: %+v, %q", med, slowest)
	}
}
