package bench

import (
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"time"

	"github.com/symflow/symflow/local/symbolicator/objfile"
)

// SymbolizeRun is one tool symbolizing one set of addresses from a cold
// start: objfile opens the file and builds its index, the reference tools
// start a process that reads all addresses from stdin.
type SymbolizeRun struct {
	Tool      string        `json:"tool"`
	Addresses int           `json:"addresses"`
	Duration  time.Duration `json:"duration_ns"`
	PerSecond float64       `json:"addresses_per_second"`
	// Ratio is this tool's time over objfile's: how many times faster
	// objfile is.
	Ratio float64 `json:"objfile_speedup"`
	// MaxRSS is the reference tool's peak resident set (bytes); for
	// objfile, Allocated is the bytes the Go heap allocated to open the
	// file and look up the addresses.
	MaxRSS    int64 `json:"max_rss_bytes,omitempty"`
	Allocated int64 `json:"allocated_bytes,omitempty"`
}

// Symbolication is the first section of the report.
type Symbolication struct {
	Binary     string         `json:"binary"`
	BinarySize int64          `json:"binary_bytes"`
	Runs       []SymbolizeRun `json:"runs"`
	// WarmLookups is objfile.File.Lookup on an open file, per second.
	WarmLookups    float64       `json:"warm_lookups_per_second"`
	WarmAddresses  int           `json:"warm_addresses"`
	IndexHeapBytes int64         `json:"index_heap_bytes"`
	OpenDuration   time.Duration `json:"open_ns"`
	MissingTools   []string      `json:"missing_tools,omitempty"`
}

// buildSymbolizeTarget builds the Go program the objfile benchmark uses
// (local/symbolicator/objfile/testdata/goprog), with DWARF, into dir.
func buildSymbolizeTarget(ctx context.Context, root, dir string) (string, error) {
	out := filepath.Join(dir, "goprog")
	cmd := exec.CommandContext(ctx, goTool(), "build", "-o", out, "main.go")
	cmd.Dir = filepath.Join(root, "local/symbolicator/objfile/testdata/goprog")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build the symbolication target: %w\n%s", err, b)
	}
	return out, nil
}

// goTool is the go command that builds the benchmark's programs.
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "go"
}

// sampleAddrs spreads n addresses evenly over the bytes of the binary's
// functions (as the objfile benchmark does), so that every tool gets the
// same addresses.
func sampleAddrs(path string, n int) ([]uint64, error) {
	ef, err := elf.Open(path)
	if err != nil {
		return nil, err
	}
	defer ef.Close()
	syms, err := ef.Symbols()
	if errors.Is(err, elf.ErrNoSymbols) {
		// A system library: only its dynamic symbols are left.
		syms, err = ef.DynamicSymbols()
	}
	if err != nil {
		return nil, fmt.Errorf("%s: symbols: %w", path, err)
	}
	type span struct{ lo, hi uint64 }
	var spans []span
	total := uint64(0)
	seen := map[uint64]bool{}
	for _, s := range syms {
		if elf.ST_TYPE(s.Info) != elf.STT_FUNC || s.Size == 0 || s.Section == elf.SHN_UNDEF || seen[s.Value] {
			continue
		}
		seen[s.Value] = true
		spans = append(spans, span{s.Value, s.Value + s.Size})
		total += s.Size
	}
	if total == 0 {
		return nil, fmt.Errorf("%s: no function to sample addresses from", path)
	}
	stride := total / uint64(n)
	if stride == 0 {
		stride = 1
	}
	out := make([]uint64, 0, n)
	k := uint64(0)
	for _, sp := range spans {
		for a := sp.lo + (stride-k%stride)%stride; a < sp.hi && len(out) < n; a += stride {
			out = append(out, a)
		}
		k += sp.hi - sp.lo
	}
	// A binary smaller than n bytes of code: repeat addresses.
	for i := 0; len(out) < n; i++ {
		out = append(out, out[i])
	}
	return out, nil
}

// symbolizeObjfile opens data and looks up every address, returning the
// time and the bytes allocated.
func symbolizeObjfile(data []byte, addrs []uint64) (time.Duration, int64, error) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	f, err := objfile.Open(data)
	if err != nil {
		return 0, 0, err
	}
	for _, a := range addrs {
		f.Lookup(a)
	}
	d := time.Since(start)
	runtime.ReadMemStats(&after)
	return d, int64(after.TotalAlloc - before.TotalAlloc), nil
}

// runTool runs a reference symbolizer on all addresses at once (stdin)
// and returns its wall time and peak RSS.
func runTool(ctx context.Context, bin string, args []string, addrs []uint64) (time.Duration, int64, error) {
	var in bytes.Buffer
	buf := make([]byte, 0, 24)
	for _, a := range addrs {
		buf = append(buf[:0], "0x"...)
		buf = strconv.AppendUint(buf, a, 16)
		buf = append(buf, '\n')
		in.Write(buf)
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdin = &in
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return 0, 0, fmt.Errorf("%s: %w: %s", filepath.Base(bin), err, bytes.TrimSpace(errb.Bytes()))
	}
	d := time.Since(start)
	var rss int64
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		rss = int64(ru.Maxrss) * 1024 // kilobytes on Linux
	}
	return d, rss, nil
}

// measureSymbolication runs section 1.
func measureSymbolication(ctx context.Context, cfg Config, tmp string) (*Symbolication, error) {
	bin, err := buildSymbolizeTarget(ctx, cfg.Root, tmp)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		return nil, err
	}
	rep := &Symbolication{Binary: "objfile/testdata/goprog (Go, DWARF)", BinarySize: int64(len(data))}
	tools := []struct {
		name string
		args []string
	}{
		{"llvm-symbolizer", []string{"--obj=" + bin, "--inlining", "--functions=linkage"}},
		{"addr2line", []string{"-a", "-f", "-i", "-C", "-e", bin}},
	}
	paths := map[string]string{}
	for _, t := range tools {
		if p, err := exec.LookPath(t.name); err == nil {
			paths[t.name] = p
		} else {
			rep.MissingTools = append(rep.MissingTools, t.name)
		}
	}
	for _, n := range cfg.Addresses {
		addrs, err := sampleAddrs(bin, n)
		if err != nil {
			return nil, err
		}
		// Best of Repeats: the machine is shared.
		var ours time.Duration
		var alloc int64
		for i := 0; i < cfg.Repeats; i++ {
			d, a, err := symbolizeObjfile(data, addrs)
			if err != nil {
				return nil, fmt.Errorf("objfile: %w", err)
			}
			if i == 0 || d < ours {
				ours, alloc = d, a
			}
		}
		rep.Runs = append(rep.Runs, SymbolizeRun{Tool: "objfile", Addresses: n, Duration: ours,
			PerSecond: float64(n) / ours.Seconds(), Ratio: 1, Allocated: alloc})
		for _, t := range tools {
			p, ok := paths[t.name]
			if !ok {
				continue
			}
			var best time.Duration
			var rss int64
			for i := 0; i < cfg.Repeats; i++ {
				d, r, err := runTool(ctx, p, t.args, addrs)
				if err != nil {
					return nil, err
				}
				if i == 0 || d < best {
					best, rss = d, r
				}
			}
			rep.Runs = append(rep.Runs, SymbolizeRun{Tool: t.name, Addresses: n, Duration: best,
				PerSecond: float64(n) / best.Seconds(), Ratio: best.Seconds() / ours.Seconds(), MaxRSS: rss})
		}
	}

	// Warm lookups on an open file. The index heap is what stays
	// allocated once the file is open and every address was looked up
	// (parts of the index are built on first use).
	addrs, err := sampleAddrs(bin, cfg.WarmAddresses)
	if err != nil {
		return nil, err
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	f, err := objfile.Open(data)
	if err != nil {
		return nil, err
	}
	rep.OpenDuration = time.Since(start)
	for _, a := range addrs {
		f.Lookup(a)
	}
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&after)
	rep.IndexHeapBytes = max(int64(after.HeapAlloc)-int64(before.HeapAlloc), 0)
	// data was live before Open; keep it so, or its release would be
	// subtracted from the index.
	runtime.KeepAlive(data)
	var best time.Duration
	for i := 0; i < cfg.Repeats; i++ {
		start := time.Now()
		for _, a := range addrs {
			f.Lookup(a)
		}
		if d := time.Since(start); i == 0 || d < best {
			best = d
		}
	}
	runtime.KeepAlive(f)
	rep.WarmAddresses = len(addrs)
	rep.WarmLookups = float64(len(addrs)) / best.Seconds()
	return rep, nil
}
