package bench

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/symflow/symflow/local/symbolicator/objfile"
)

// Goals of the service section (issue 17): the embedded Symbolicator
// answering /symbolicate over HTTP at the largest size, on every binary,
// against llvm-symbolizer run as a process on the same addresses.
const (
	GoalServiceCold = 3.0  // × llvm-symbolizer, a debug file the service has not seen
	GoalServiceWarm = 10.0 // × llvm-symbolizer, the same request again
)

// ServiceRun is one binary at one size in the service section: the
// embedded Symbolicator answering POST /symbolicate over loopback HTTP
// (its own process, debug files from an HTTP symbol server on loopback),
// and llvm-symbolizer symbolizing the same addresses as one process.
// Times are medians over the repetitions; speedups are medians of the
// per-repetition ratios (each measured side by side).
type ServiceRun struct {
	Binary      string `json:"binary"`
	BinaryBytes int64  `json:"binary_bytes"`
	Addresses   int    `json:"addresses"`
	// Modules is how many modules the request names (1, or 20 for the
	// typical crash).
	Modules int `json:"modules"`
	// Frames counts the frames of the answer (inlined ones included);
	// ReferenceFrames those llvm-symbolizer printed.
	Frames          int `json:"frames"`
	ReferenceFrames int `json:"reference_frames"`
	// Agreement is the share of addresses whose frames have the same
	// lines and file names as llvm-symbolizer's, in the same order.
	Agreement float64 `json:"agreement"`
	// Disagreement shows the first address that disagrees, if any.
	Disagreement string `json:"disagreement,omitempty"`
	AnswerBytes  int64  `json:"answer_bytes"`
	// IndexBytes is the size of the persisted indexes the service wrote
	// to its cache directory.
	IndexBytes int64 `json:"index_bytes"`

	// Cold is a fresh service answering (it has seen no debug file);
	// Warm the same service answering the same request again; Restarted a
	// new service on the first one's cache directory.
	Reference time.Duration `json:"reference_ns"`
	Cold      time.Duration `json:"cold_ns"`
	Warm      time.Duration `json:"warm_ns"`
	Restarted time.Duration `json:"restarted_ns"`
	// CPU time of the service process during the request, and of the
	// llvm-symbolizer process.
	ReferenceCPU time.Duration `json:"reference_cpu_ns"`
	ColdCPU      time.Duration `json:"cold_cpu_ns"`
	WarmCPU      time.Duration `json:"warm_cpu_ns"`
	RestartedCPU time.Duration `json:"restarted_cpu_ns"`
	// Peak resident memory: of the service process during the request,
	// and of llvm-symbolizer.
	ReferenceRSS int64 `json:"reference_max_rss_bytes"`
	ColdRSS      int64 `json:"cold_max_rss_bytes"`
	WarmRSS      int64 `json:"warm_max_rss_bytes"`
	RestartedRSS int64 `json:"restarted_max_rss_bytes"`

	ColdSpeedup      float64 `json:"cold_speedup"`
	WarmSpeedup      float64 `json:"warm_speedup"`
	RestartedSpeedup float64 `json:"restarted_speedup"`
	// ColdCPUSpeedup and WarmCPUSpeedup compare CPU time instead: less
	// moved by other work on a shared machine.
	ColdCPUSpeedup float64 `json:"cold_cpu_speedup"`
	WarmCPUSpeedup float64 `json:"warm_cpu_speedup"`
}

// Service is the service section of the report.
type Service struct {
	Repeats int          `json:"repeats"`
	Runs    []ServiceRun `json:"runs"`
	// Crash is a typical crash: 64 frames over 20 modules.
	Crash *ServiceRun `json:"crash,omitempty"`
	// Minidump is one crash uploaded to POST /minidump, against
	// minidump_stackwalk (the Reference columns).
	Minidump *ServiceRun `json:"minidump,omitempty"`
	// Builds is how long the benchmark's binaries took to compile (0 when
	// they came from the build cache).
	Builds time.Duration `json:"builds_ns"`
}

// serviceTarget is one binary of the section.
type serviceTarget struct {
	name  string
	path  string
	data  []byte
	ident objfile.Identity
	exec  bool   // ET_EXEC: mapped at its own addresses
	load  uint64 // lowest PT_LOAD address
	size  uint64 // span of the PT_LOAD segments
}

func openTarget(name, path string) (*serviceTarget, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	id, err := objfile.Identify(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if id.CodeID == "" {
		return nil, fmt.Errorf("%s: no build id", path)
	}
	ef, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	t := &serviceTarget{name: name, path: path, data: data, ident: id, exec: ef.Type == elf.ET_EXEC}
	lo, hi := ^uint64(0), uint64(0)
	for _, p := range ef.Progs {
		if p.Type == elf.PT_LOAD {
			lo, hi = min(lo, p.Vaddr), max(hi, p.Vaddr+p.Memsz)
		}
	}
	if hi <= lo {
		return nil, fmt.Errorf("%s: no loadable segment", path)
	}
	t.load, t.size = lo, (hi-lo+0xfff)&^0xfff
	return t, nil
}

// imageAddr is where the module is mapped in the benchmark's made-up
// process: executables at their own addresses, libraries one per 256 MiB
// slot.
func (t *serviceTarget) imageAddr(slot int) uint64 {
	if t.exec {
		return t.load
	}
	return 0x7f0000000000 + uint64(slot)<<28
}

// serviceFrame is one address to symbolize: in which module and where in
// the module's own address space.
type serviceFrame struct {
	module int
	addr   uint64 // the lookup address, file-relative (as llvm-symbolizer takes it)
}

// symbolicateBody is the /symbolicate request for frames in modules, as
// Sentry sends it: one HTTP source in the native layout, dif_candidates
// on, the addresses as stack traces of 64 frames (a thread's worth).
// Every frame but a thread's first is a return address, which the service
// looks up one byte earlier: it is sent one byte later, so that both
// tools look up the same address.
func symbolicateBody(sourceURL string, mods []*serviceTarget, frames []serviceFrame) ([]byte, error) {
	type jsonFrame struct {
		Addr string `json:"instruction_addr"`
	}
	type jsonTrace struct {
		Frames []jsonFrame `json:"frames"`
	}
	var traces []jsonTrace
	for i, f := range frames {
		if i%64 == 0 {
			traces = append(traces, jsonTrace{})
		}
		m := mods[f.module]
		a := m.imageAddr(f.module) + f.addr - m.load
		if i%64 != 0 {
			a++
		}
		tr := &traces[len(traces)-1]
		tr.Frames = append(tr.Frames, jsonFrame{"0x" + strconv.FormatUint(a, 16)})
	}
	var modules []any
	for i, m := range mods {
		modules = append(modules, map[string]any{
			"type": "elf", "code_id": m.ident.CodeID, "debug_id": m.ident.DebugID, "code_file": "/opt/bench/" + filepath.Base(m.path),
			"image_addr": "0x" + strconv.FormatUint(m.imageAddr(i), 16), "image_size": m.size,
		})
	}
	return json.Marshal(map[string]any{
		"sources":     []any{map[string]any{"type": "http", "id": "bench", "url": sourceURL, "layout": map[string]string{"type": "native"}}},
		"modules":     modules,
		"stacktraces": traces,
		"options":     map[string]any{"dif_candidates": true},
	})
}

// symbolServer serves a directory of debug files in the native layout
// (GDB's build-id directories) on a loopback port, as a symbol server does.
type symbolServer struct {
	dir string
	srv *http.Server
	url string
}

func startSymbolServer(dir string) (*symbolServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &symbolServer{dir: dir, url: "http://" + ln.Addr().String() + "/"}
	s.srv = &http.Server{Handler: http.FileServer(http.Dir(dir)), ReadHeaderTimeout: 30 * time.Second}
	go s.srv.Serve(ln)
	return s, nil
}

// add places t where the native layout looks for its code file.
func (s *symbolServer) add(t *serviceTarget) error {
	p := filepath.Join(s.dir, t.ident.CodeID[:2], t.ident.CodeID[2:])
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return os.WriteFile(p, t.data, 0o644)
}

// addDebug places t's separate debug file from /usr/lib/debug/.build-id,
// if there is one, where the native layout looks for it.
func (s *symbolServer) addDebug(t *serviceTarget) error {
	id := t.ident.CodeID
	b, err := os.ReadFile(filepath.Join("/usr/lib/debug/.build-id", id[:2], id[2:]+".debug"))
	if err != nil {
		return nil
	}
	return os.WriteFile(filepath.Join(s.dir, id[:2], id[2:]+".debug"), b, 0o644)
}

func (s *symbolServer) close() { s.srv.Close() }

// The service section runs the embedded Symbolicator in a child process
// (this program again, told so by childEnv), so that its memory and CPU
// time are its own: local/symbolicator.New and an HTTP server on
// loopback, as `symflow symbolicator serve` runs it.
const (
	childEnv        = "SYMFLOW_BENCH_SYMBOLICATOR" // the cache directory
	childCPUProfile = "SYMFLOW_BENCH_CPUPROFILE"   // write a CPU profile of the child's life to this path.PID
	childMemProfile = "SYMFLOW_BENCH_MEMPROFILE"   // write an allocation profile to this path.PID on exit
)

// serviceProc is a running child service.
type serviceProc struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	url    string
	client *http.Client
	exited chan error
}

// startService starts a child service on cacheDir and waits until it
// listens.
func startService(ctx context.Context, cacheDir string) (*serviceProc, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, exe)
	cmd.Env = append(os.Environ(), childEnv+"="+cacheDir)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &serviceProc{cmd: cmd, stdin: stdin, client: &http.Client{Transport: &http.Transport{}}, exited: make(chan error, 1)}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		io.Copy(io.Discard, stdout)
	}()
	go func() { p.exited <- cmd.Wait() }()
	select {
	case l, ok := <-lines:
		if addr, found := strings.CutPrefix(l, "listening "); ok && found {
			p.url = "http://" + addr
			return p, nil
		}
		err := <-p.exited
		return nil, fmt.Errorf("the benchmark's symbolicator did not start (%v): %s", err, lastLines(stderr.String(), 5))
	case <-time.After(time.Minute):
		cmd.Process.Kill()
		<-p.exited
		return nil, errors.New("the benchmark's symbolicator did not listen within a minute")
	}
}

// stop ends the child the way its own shutdown does (the service's Close
// waits for index files being written) and waits for it.
func (p *serviceProc) stop() error {
	p.client.CloseIdleConnections()
	p.stdin.Close()
	select {
	case err := <-p.exited:
		if err != nil {
			return fmt.Errorf("the benchmark's symbolicator: %w", err)
		}
		return nil
	case <-time.After(2 * time.Minute):
		p.cmd.Process.Kill()
		<-p.exited
		return errors.New("the benchmark's symbolicator did not stop within 2 minutes")
	}
}

// answer is one timed request to a child service.
type answer struct {
	wall   time.Duration
	cpu    time.Duration
	rss    int64
	body   []byte
	frames int
}

// answerBuf receives the answers; the section runs one request at a time.
var answerBuf bytes.Buffer

// answerReserve is what answerBuf holds, touched, before the first
// request: more than the section's largest answer (98 MB). Grown on
// demand, the buffer was grown and faulted in by the first request to
// need it, which is always a cold one: the service then waited on its
// socket while this client took page faults, and the cold column was
// charged up to a second that the warm one never was.
const answerReserve = 192 << 20

func reserveAnswerBuf() {
	if answerBuf.Cap() >= answerReserve {
		return
	}
	answerBuf.Reset()
	answerBuf.Grow(answerReserve)
	clear(answerBuf.AvailableBuffer()[:answerReserve])
}

// post sends one request (path "/symbolicate" or "/minidump") and reads
// the whole answer, with the child's CPU time and peak resident memory
// during it (the peak is reset first).
func (p *serviceProc) post(ctx context.Context, path string, body []byte, contentType string) (answer, error) {
	reserveAnswerBuf()
	pid := p.cmd.Process.Pid
	resetPeakRSS(pid)
	cpu0 := processCPU(pid)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url+path+"?timeout=600", bytes.NewReader(body))
	if err != nil {
		return answer{}, err
	}
	req.Header.Set("Content-Type", contentType)
	start := time.Now()
	resp, err := p.client.Do(req)
	if err != nil {
		return answer{}, err
	}
	// The answer is read into a buffer kept between requests, so that
	// what is timed is the service answering, not this client growing a
	// buffer of a hundred megabytes into fresh memory.
	answerBuf.Reset()
	if resp.ContentLength > 0 {
		answerBuf.Grow(int(resp.ContentLength) + bytes.MinRead)
	}
	_, err = answerBuf.ReadFrom(resp.Body)
	resp.Body.Close()
	a := answer{wall: time.Since(start), cpu: processCPU(pid) - cpu0, rss: peakRSS(pid)}
	if err != nil {
		return answer{}, err
	}
	data := bytes.Clone(answerBuf.Bytes())
	a.body = data
	if resp.StatusCode != http.StatusOK || !bytes.Contains(data, []byte(`"status":"completed"`)) {
		return answer{}, fmt.Errorf("POST %s: status %d: %.300s", path, resp.StatusCode, data)
	}
	a.frames = bytes.Count(data, []byte(`"instruction_addr":`))
	return a, nil
}

// processCPU is the CPU time (user and system) a process has used, from
// /proc/PID/stat (clock ticks of 10 ms).
func processCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name may hold spaces: fields count from its closing ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// peakRSS is a process's peak resident set (VmHWM) in bytes.
func peakRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// resetPeakRSS sets a process's peak resident set back to its current
// one (Linux: 5 written to clear_refs).
func resetPeakRSS(pid int) {
	os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
}

// llvmRun is llvm-symbolizer run once over the frames.
type llvmRun struct {
	wall, cpu time.Duration
	rss       int64
	frames    [][]refFrame // per address
}

// refFrame is a frame's place as either tool reports it.
type refFrame struct {
	file string // file name only: the tools spell directories differently
	line int
}

// runLLVM runs llvm-symbolizer as a user would on a crash's addresses:
// one process, each line "FILE ADDRESS" (one module: --obj).
func runLLVM(ctx context.Context, bin string, mods []*serviceTarget, frames []serviceFrame) (llvmRun, error) {
	var in bytes.Buffer
	args := []string{"--inlining", "--functions=linkage"}
	if len(mods) == 1 {
		args = append(args, "--obj="+mods[0].path)
	}
	for _, f := range frames {
		if len(mods) > 1 {
			in.WriteString(strconv.Quote(mods[f.module].path) + " ")
		}
		in.WriteString("0x" + strconv.FormatUint(f.addr, 16) + "\n")
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdin = &in
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	wall, cpu, rss, err := runMeasured(cmd)
	if err != nil {
		return llvmRun{}, fmt.Errorf("llvm-symbolizer: %w: %s", err, lastLines(errb.String(), 3))
	}
	r := llvmRun{wall: wall, cpu: cpu, rss: rss}
	// Blocks of "function\nfile:line:column" pairs, one block per address,
	// separated by empty lines.
	var cur []refFrame
	lines := strings.Split(out.String(), "\n")
	for i := 0; i < len(lines); i++ {
		if lines[i] == "" {
			if cur != nil {
				r.frames = append(r.frames, cur)
				cur = nil
			}
			continue
		}
		if i+1 >= len(lines) {
			break
		}
		loc := lines[i+1]
		i++
		parts := strings.Split(loc, ":")
		rf := refFrame{}
		if len(parts) >= 3 {
			rf.line, _ = strconv.Atoi(parts[len(parts)-2])
			if f := strings.Join(parts[:len(parts)-2], ":"); f != "??" {
				rf.file = filepath.Base(f)
			}
		}
		cur = append(cur, rf)
	}
	if cur != nil {
		r.frames = append(r.frames, cur)
	}
	if len(r.frames) != len(frames) {
		return llvmRun{}, fmt.Errorf("llvm-symbolizer answered %d addresses, asked %d", len(r.frames), len(frames))
	}
	return r, nil
}

// agreement compares an answer's frames with llvm-symbolizer's, address by
// address: the same number of frames with the same lines and file names.
// A frame neither tool places counts as agreeing.
func agreement(body []byte, ref [][]refFrame) (float64, string, error) {
	var out struct {
		Stacktraces []struct {
			Frames []struct {
				Index  int    `json:"original_index"`
				Path   string `json:"abs_path"`
				Line   int    `json:"lineno"`
				Status string `json:"status"`
			} `json:"frames"`
		} `json:"stacktraces"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return 0, "", fmt.Errorf("read the answer: %w", err)
	}
	got := make([][]refFrame, len(ref))
	for t, st := range out.Stacktraces {
		for _, f := range st.Frames {
			i := t*64 + f.Index
			if i < 0 || i >= len(got) {
				return 0, "", fmt.Errorf("answer frame with original_index %d in stack trace %d: no such address", f.Index, t)
			}
			rf := refFrame{line: f.Line}
			if f.Path != "" {
				rf.file = filepath.Base(f.Path)
			}
			got[i] = append(got[i], rf)
		}
	}
	same := 0
	var first string
	for i := range ref {
		r := ref[i]
		if len(r) == 1 && r[0] == (refFrame{}) && len(got[i]) == 0 {
			same++ // neither knows the address
			continue
		}
		if slices.Equal(r, got[i]) {
			same++
		} else if first == "" {
			first = fmt.Sprintf("address %d: service %v, llvm-symbolizer %v", i, got[i], r)
		}
	}
	return float64(same) / float64(len(ref)), first, nil
}

// spreadFrames picks n addresses spread evenly over the functions of the
// modules' symbol tables, module after module (counts as even as n
// allows).
func spreadFrames(mods []*serviceTarget, n int) ([]serviceFrame, error) {
	var out []serviceFrame
	for i, m := range mods {
		k := n / len(mods)
		if i < n%len(mods) {
			k++
		}
		if k == 0 {
			continue
		}
		addrs, err := sampleAddrs(m.path, k)
		if err != nil {
			return nil, err
		}
		for _, a := range addrs {
			out = append(out, serviceFrame{module: i, addr: a})
		}
	}
	// Interleave modules as a crash's threads do, deterministically.
	slices.SortStableFunc(out, func(a, b serviceFrame) int {
		return int(mix(a.addr)%7) - int(mix(b.addr)%7)
	})
	return out, nil
}

func mix(x uint64) uint64 {
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	return x
}

// sample is one repetition of one request.
type sample struct {
	ref                   llvmRun
	cold, warm, restarted answer
	indexBytes            int64
}

// measureRequest runs one request reps times: llvm-symbolizer, then a
// fresh service cold and warm, then a service restarted on its cache
// directory; the columns interleave so that the machine's drift falls on
// all of them alike.
func measureRequest(ctx context.Context, tmp string, reps int, path, contentType string, body []byte,
	reference func() (llvmRun, error)) (ServiceRun, []sample, error) {
	var samples []sample
	for rep := range reps {
		var s sample
		var err error
		if s.ref, err = reference(); err != nil {
			return ServiceRun{}, nil, err
		}
		cache, err := os.MkdirTemp(tmp, "cache-")
		if err != nil {
			return ServiceRun{}, nil, err
		}
		p, err := startService(ctx, cache)
		if err != nil {
			return ServiceRun{}, nil, err
		}
		if s.cold, err = p.post(ctx, path, body, contentType); err == nil {
			s.warm, err = p.post(ctx, path, body, contentType)
		}
		if serr := p.stop(); err == nil {
			err = serr
		}
		if err != nil {
			return ServiceRun{}, nil, err
		}
		s.indexBytes = dirBytes(cache)
		if p, err = startService(ctx, cache); err != nil {
			return ServiceRun{}, nil, err
		}
		s.restarted, err = p.post(ctx, path, body, contentType)
		if serr := p.stop(); err == nil {
			err = serr
		}
		if err != nil {
			return ServiceRun{}, nil, err
		}
		os.RemoveAll(cache)
		if rep > 0 {
			// Only the first repetition's answers are compared: drop the
			// bodies of the others.
			s.cold.body, s.warm.body, s.restarted.body = nil, nil, nil
		}
		samples = append(samples, s)
	}
	run := summarize(samples)
	return run, samples, nil
}

func summarize(samples []sample) ServiceRun {
	med := func(f func(sample) time.Duration) time.Duration {
		var ds []time.Duration
		for _, s := range samples {
			ds = append(ds, f(s))
		}
		return percentile(ds, 0.5)
	}
	medF := func(f func(sample) float64) float64 {
		var xs []float64
		for _, s := range samples {
			xs = append(xs, f(s))
		}
		slices.Sort(xs)
		return xs[(len(xs)-1)/2]
	}
	medI := func(f func(sample) int64) int64 {
		var xs []int64
		for _, s := range samples {
			xs = append(xs, f(s))
		}
		slices.Sort(xs)
		return xs[(len(xs)-1)/2]
	}
	ratio := func(a, b time.Duration) float64 {
		if b <= 0 {
			b = time.Millisecond // below the clock's resolution (CPU: 10 ms ticks)
		}
		return a.Seconds() / b.Seconds()
	}
	s0 := samples[0]
	return ServiceRun{
		Frames: s0.cold.frames, AnswerBytes: int64(len(s0.cold.body)), IndexBytes: medI(func(s sample) int64 { return s.indexBytes }),
		Reference:        med(func(s sample) time.Duration { return s.ref.wall }),
		Cold:             med(func(s sample) time.Duration { return s.cold.wall }),
		Warm:             med(func(s sample) time.Duration { return s.warm.wall }),
		Restarted:        med(func(s sample) time.Duration { return s.restarted.wall }),
		ReferenceCPU:     med(func(s sample) time.Duration { return s.ref.cpu }),
		ColdCPU:          med(func(s sample) time.Duration { return s.cold.cpu }),
		WarmCPU:          med(func(s sample) time.Duration { return s.warm.cpu }),
		RestartedCPU:     med(func(s sample) time.Duration { return s.restarted.cpu }),
		ReferenceRSS:     medI(func(s sample) int64 { return s.ref.rss }),
		ColdRSS:          medI(func(s sample) int64 { return s.cold.rss }),
		WarmRSS:          medI(func(s sample) int64 { return s.warm.rss }),
		RestartedRSS:     medI(func(s sample) int64 { return s.restarted.rss }),
		ColdSpeedup:      medF(func(s sample) float64 { return ratio(s.ref.wall, s.cold.wall) }),
		WarmSpeedup:      medF(func(s sample) float64 { return ratio(s.ref.wall, s.warm.wall) }),
		RestartedSpeedup: medF(func(s sample) float64 { return ratio(s.ref.wall, s.restarted.wall) }),
		ColdCPUSpeedup:   medF(func(s sample) float64 { return ratio(s.ref.cpu, s.cold.cpu) }),
		WarmCPUSpeedup:   medF(func(s sample) float64 { return ratio(s.ref.cpu, s.warm.cpu) }),
	}
}

func dirBytes(dir string) int64 {
	var n int64
	filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			n += fi.Size()
		}
		return nil
	})
	return n
}

// measureSymbolicate times one /symbolicate request for frames in mods
// and checks its answers: against llvm-symbolizer's frames, and the warm
// and restarted answers byte for byte against the cold one.
func measureSymbolicate(ctx context.Context, llvm, tmp string, reps int, srv *symbolServer, mods []*serviceTarget, frames []serviceFrame) (ServiceRun, error) {
	body, err := symbolicateBody(srv.url, mods, frames)
	if err != nil {
		return ServiceRun{}, err
	}
	var last llvmRun
	run, samples, err := measureRequest(ctx, tmp, reps, "/symbolicate", "application/json", body, func() (llvmRun, error) {
		r, err := runLLVM(ctx, llvm, mods, frames)
		last = r
		return r, err
	})
	if err != nil {
		return ServiceRun{}, err
	}
	s0 := samples[0]
	if !bytes.Equal(s0.cold.body, s0.warm.body) {
		return ServiceRun{}, errors.New("the warm answer differs from the cold one")
	}
	if !bytes.Equal(s0.cold.body, s0.restarted.body) {
		return ServiceRun{}, errors.New("the restarted service's answer differs from the cold one")
	}
	run.Addresses, run.Modules = len(frames), len(mods)
	for _, fr := range last.frames {
		run.ReferenceFrames += len(fr)
	}
	if run.Agreement, run.Disagreement, err = agreement(s0.cold.body, last.frames); err != nil {
		return ServiceRun{}, err
	}
	for _, m := range mods {
		run.BinaryBytes += int64(len(m.data))
	}
	return run, nil
}

// measureService runs the service section.
func measureService(ctx context.Context, cfg Config, tmp string) (*Service, error) {
	llvm, err := exec.LookPath("llvm-symbolizer")
	if err != nil {
		return nil, errors.New("llvm-symbolizer is not installed: run make deps")
	}
	dir := filepath.Join(tmp, "service")
	if err := os.MkdirAll(filepath.Join(dir, "store"), 0o755); err != nil {
		return nil, err
	}
	rep := &Service{Repeats: cfg.Repeats}
	start := time.Now()
	targets, built, err := serviceTargets(ctx, cfg, dir)
	if err != nil {
		return nil, err
	}
	if built {
		rep.Builds = time.Since(start)
	}
	srv, err := startSymbolServer(filepath.Join(dir, "store"))
	if err != nil {
		return nil, err
	}
	defer srv.close()
	for _, t := range targets {
		if err := srv.add(t); err != nil {
			return nil, err
		}
	}
	for _, t := range targets {
		for _, n := range cfg.ServiceAddresses {
			progress(cfg, "service: %s, %s addresses", t.name, count(n))
			frames, err := spreadFrames([]*serviceTarget{t}, n)
			if err != nil {
				return nil, err
			}
			run, err := measureSymbolicate(ctx, llvm, dir, cfg.Repeats, srv, []*serviceTarget{t}, frames)
			if err != nil {
				return nil, fmt.Errorf("%s, %d addresses: %w", t.name, n, err)
			}
			run.Binary = t.name
			rep.Runs = append(rep.Runs, run)
			progressRun(cfg, run)
		}
	}

	// The minidump before the typical crash, whose system libraries'
	// debug files would join the store: the dump's libraries are then
	// served as section 6 serves them, without.
	if cfg.ServiceMinidump != "" {
		progress(cfg, "service: minidump %s", cfg.ServiceMinidump)
		md, err := measureServiceMinidump(ctx, cfg, dir, srv)
		if err != nil {
			return nil, fmt.Errorf("minidump %s: %w", cfg.ServiceMinidump, err)
		}
		rep.Minidump = md
		progressRun(cfg, *md)
	}
	// A typical crash: 64 frames in 20 modules, the binaries above and
	// this machine's own libraries.
	mods := slices.Clone(targets)
	for _, lib := range systemLibraries() {
		if len(mods) == crashModules {
			break
		}
		t, err := openTarget(filepath.Base(lib), lib)
		if err != nil || slices.ContainsFunc(mods, func(m *serviceTarget) bool { return m.ident.CodeID == t.ident.CodeID }) {
			continue
		}
		if err := srv.add(t); err != nil {
			return nil, err
		}
		// Its debug companion, where this machine has one (Debian's -dbg
		// packages): llvm-symbolizer finds it by build id, and a symbol
		// server serves it beside the library.
		if err := srv.addDebug(t); err != nil {
			return nil, err
		}
		mods = append(mods, t)
	}
	if len(mods) > crashModules {
		mods = mods[:crashModules]
	}
	progress(cfg, "service: a typical crash, %d frames in %d modules", crashFrames, len(mods))
	frames, err := spreadFrames(mods, crashFrames)
	if err != nil {
		return nil, err
	}
	crash, err := measureSymbolicate(ctx, llvm, dir, cfg.Repeats, srv, mods, frames)
	if err != nil {
		return nil, fmt.Errorf("typical crash: %w", err)
	}
	crash.Binary = fmt.Sprintf("typical crash (%d modules)", len(mods))
	rep.Crash = &crash
	progressRun(cfg, crash)

	return rep, nil
}

const (
	crashModules = 20
	crashFrames  = 64
)

// systemLibraries are libraries a native crash on Linux usually has
// loaded, in the order the typical crash takes them; those missing here
// are skipped.
func systemLibraries() []string {
	var out []string
	for _, name := range []string{
		"libc.so.6", "libstdc++.so.6", "libm.so.6", "libgcc_s.so.1", "libz.so.1", "libcrypto.so.3", "libssl.so.3",
		"libsqlite3.so.0", "libxml2.so.2", "libcurl.so.4", "libzstd.so.1", "liblzma.so.5", "libbz2.so.1.0",
		"libexpat.so.1", "libffi.so.8", "libgmp.so.10", "libpcre2-8.so.0", "libselinux.so.1", "libsystemd.so.0",
		"libudev.so.1", "libgnutls.so.30", "libidn2.so.0", "libunistring.so.2", "libtasn1.so.6", "libp11-kit.so.0",
		"libnettle.so.8", "libhogweed.so.6", "libkrb5.so.3", "libk5crypto.so.3", "libcom_err.so.2", "libreadline.so.8",
		"libncursesw.so.6", "libtinfo.so.6", "libuuid.so.1", "libblkid.so.1", "libmount.so.1", "libcap.so.2",
	} {
		for _, d := range []string{"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64"} {
			p := filepath.Join(d, name)
			if _, err := os.Stat(p); err == nil {
				out = append(out, p)
				break
			}
		}
	}
	return out
}

// measureServiceMinidump times one crash of internal/crashtest uploaded
// to POST /minidump, its ELF files on the HTTP symbol server, against
// minidump_stackwalk on the crash's Breakpad symbols (section 6's
// reference).
func measureServiceMinidump(ctx context.Context, cfg Config, dir string, srv *symbolServer) (*ServiceRun, error) {
	tool := filepath.Join(cfg.Root, "node_modules", "minidump", "bin", "linux-x64", "minidump_stackwalk")
	if st, err := os.Stat(tool); err != nil || st.Mode()&0o111 == 0 {
		return nil, fmt.Errorf("minidump_stackwalk is not installed: run make deps (no executable %s)", tool)
	}
	d, err := makeDump(filepath.Join(dir, "minidump"), cfg.ServiceMinidump)
	if err != nil {
		return nil, err
	}
	// The dump's ELF files join the symbol server's store (the same
	// native layout).
	err = filepath.WalkDir(d.elf, func(p string, e os.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(d.elf, p)
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		out := filepath.Join(srv.dir, rel)
		if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
			return err
		}
		return os.WriteFile(out, b, 0o644)
	})
	if err != nil {
		return nil, err
	}
	dump, err := os.ReadFile(d.dump)
	if err != nil {
		return nil, err
	}
	body, contentType, err := minidumpRequestSources(dump, []any{map[string]any{
		"type": "http", "id": "bench", "url": srv.url, "layout": map[string]string{"type": "native"}}})
	if err != nil {
		return nil, err
	}
	run, samples, err := measureRequest(ctx, dir, cfg.Repeats, "/minidump", contentType, body, func() (llvmRun, error) {
		cmd := exec.CommandContext(ctx, tool, "-m", d.dump, d.breakpad)
		var out bytes.Buffer
		cmd.Stdout = &out
		wall, cpu, rss, err := runMeasured(cmd)
		if err != nil {
			return llvmRun{}, fmt.Errorf("minidump_stackwalk: %w", err)
		}
		return llvmRun{wall: wall, cpu: cpu, rss: rss}, nil
	})
	if err != nil {
		return nil, err
	}
	_, refFrames, err := stackwalk(ctx, tool, d.dump, d.breakpad)
	if err != nil {
		return nil, err
	}
	run.Binary, run.Modules, run.ReferenceFrames, run.BinaryBytes = "minidump "+cfg.ServiceMinidump, d.run.Modules, refFrames, d.run.DumpBytes
	run.Agreement = -1 // compared frame by frame in section 6's tests, not here
	_ = samples
	return &run, nil
}

// serviceTargets builds (or takes from the build cache) the section's
// binaries and opens them. built says whether anything was compiled.
func serviceTargets(ctx context.Context, cfg Config, dir string) ([]*serviceTarget, bool, error) {
	var out []*serviceTarget
	built := false
	for _, name := range cfg.ServiceTargets {
		var path string
		var err error
		var compiled bool
		switch name {
		case "go":
			path, err = buildSymbolizeTarget(ctx, cfg.Root, dir)
		case "sqlite-gcc-O2", "sqlite-clang-O3":
			src := cfg.SQLiteSource
			if src == "" {
				src = filepath.Join(cfg.Root, "node_modules", "better-sqlite3", "deps", "sqlite3", "sqlite3.c")
			}
			if _, serr := os.Stat(src); serr != nil {
				return nil, false, fmt.Errorf("SQLite's amalgamation is not installed: run make deps (no %s; the npm package better-sqlite3 ships it)", src)
			}
			cc, opt := "gcc", "-O2"
			if name == "sqlite-clang-O3" {
				cc, opt = "clang", "-O3"
			}
			path, compiled, err = cachedBuild(ctx, cfg, name, cc, []string{src}, nil, opt, "-g", "-shared", "-fPIC", "-Wl,--build-id", "-lpthread", "-lm")
		case "cxx-g++-O2", "cxx-clang++-O2":
			cc := "g++"
			if name == "cxx-clang++-O2" {
				cc = "clang++"
			}
			src := []byte(templateHeavyCXX(cxxTypes))
			path, compiled, err = cachedBuild(ctx, cfg, name, cc, nil, src, "-O2", "-g", "-std=c++17", "-Wl,--build-id")
		default:
			return nil, false, fmt.Errorf("unknown service target %q", name)
		}
		if err != nil {
			return nil, false, err
		}
		built = built || compiled
		t, err := openTarget(name, path)
		if err != nil {
			return nil, false, err
		}
		out = append(out, t)
	}
	return out, built, nil
}

// cxxTypes sizes the generated C++ program: about 0.5 MB of code and
// 15 MB of DWARF.
const cxxTypes = 20

// cachedBuild compiles sources (files, or generated C++ source text)
// with cc and flags into the build cache, keyed by a digest of the
// sources, the compiler's version and the flags: compiling SQLite takes
// minutes on two shared cores, and only the first run pays for it.
func cachedBuild(ctx context.Context, cfg Config, name, cc string, files []string, text []byte, flags ...string) (string, bool, error) {
	h := sha256.New()
	ver, err := exec.CommandContext(ctx, cc, "--version").Output()
	if err != nil {
		return "", false, fmt.Errorf("%s is not installed: run make deps (%v)", cc, err)
	}
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00", cc, ver, strings.Join(flags, "\x00"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", false, err
		}
		h.Write(b)
	}
	h.Write(text)
	cache := cfg.BuildCache
	if cache == "" {
		d, err := os.UserCacheDir()
		if err != nil {
			d = os.TempDir()
		}
		cache = filepath.Join(d, "symflow-bench")
	}
	out := filepath.Join(cache, name+"-"+hex.EncodeToString(h.Sum(nil))[:16])
	if _, err := os.Stat(out); err == nil {
		return out, false, nil
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return "", false, err
	}
	progress(cfg, "service: compiling %s (kept in %s for later runs)", name, cache)
	args := []string{}
	if text != nil {
		src := filepath.Join(cache, name+".cpp")
		if err := os.WriteFile(src, text, 0o644); err != nil {
			return "", false, err
		}
		files = []string{src}
	}
	tmpOut := out + ".tmp"
	args = append(append(append(args, "-o", tmpOut), files...), flags...)
	cmd := exec.CommandContext(ctx, cc, args...)
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", false, fmt.Errorf("%s %s: %w\n%s", cc, strings.Join(args, " "), err, lastLines(string(b), 10))
	}
	if err := os.Rename(tmpOut, out); err != nil {
		return "", false, err
	}
	return out, true, nil
}

// progressRun reports a row as soon as it is measured.
func progressRun(cfg Config, r ServiceRun) {
	progress(cfg, "service: %s at %s: reference %s (CPU %s), cold %s (CPU %s), warm %s (CPU %s), restarted %s; faster cold %.1f×, warm %.1f×, restarted %.1f× (CPU cold %.1f×, warm %.1f×); %d frames, answer %s, RSS cold %s",
		r.Binary, count(r.Addresses), dur(r.Reference), dur(r.ReferenceCPU), dur(r.Cold), dur(r.ColdCPU), dur(r.Warm), dur(r.WarmCPU), dur(r.Restarted),
		r.ColdSpeedup, r.WarmSpeedup, r.RestartedSpeedup, r.ColdCPUSpeedup, r.WarmCPUSpeedup, r.Frames, mb(r.AnswerBytes), mb(r.ColdRSS))
	if r.Disagreement != "" {
		progress(cfg, "service: %s at %s: %.1f%% of addresses agree with llvm-symbolizer; first disagreement: %s", r.Binary, count(r.Addresses), 100*r.Agreement, r.Disagreement)
	}
}

// runMeasured runs cmd and returns its wall time, CPU time and peak
// resident memory. The peak is read from /proc while the process runs
// (VmHWM, every 2 ms): the rusage of a waited child counts the memory of
// the process that started it too (Go starts children sharing its
// memory, and the peak survives exec), which made a small tool look as
// large as the benchmark.
func runMeasured(cmd *exec.Cmd) (wall, cpu time.Duration, rss int64, err error) {
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, 0, 0, err
	}
	done := make(chan struct{})
	peak := make(chan int64, 1)
	go func() {
		var m int64
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			m = max(m, peakRSS(cmd.Process.Pid))
			select {
			case <-done:
				peak <- m
				return
			case <-tick.C:
			}
		}
	}()
	err = cmd.Wait()
	wall = time.Since(start)
	close(done)
	rss = <-peak
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		cpu = time.Duration(syscall.TimevalToNsec(ru.Utime) + syscall.TimevalToNsec(ru.Stime))
	}
	return wall, cpu, rss, err
}
