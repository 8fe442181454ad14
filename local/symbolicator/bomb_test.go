package symbolicator

import (
	"archive/zip"
	"bufio"
	"bytes"
	"debug/elf"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/symflow/symflow/shared/debugfile"
	"github.com/symflow/symflow/shared/debugfile/debugfiletest"
)

// bombSize is the size the ELF bombs are padded to: the size of the file
// that took 5 GB and 42 s to open before the decompression bound. Its
// bound is 100 times that, 130 MB.
const bombSize = 1300 << 10

// bomb is one hostile debug file (or bundle) laid out for a module.
type bomb struct {
	kind    string
	codeID  string
	debugID string
	files   map[string][]byte // unified-layout path → contents
	// elf is set when the module's debug file is the bomb (its status
	// must be malformed); otherwise the module's debug file is good and
	// its source bundle is the bomb.
	elf bool
}

// bombKinds builds templates of every kind of bomb from the sample;
// variants differ only in their build-ids (see bombs).
type bombKinds struct {
	s         *sample
	templates []bombTemplate
}

type bombTemplate struct {
	kind  string
	n     int    // how many variants a stream holds
	elf   []byte // the bomb as the module's debug file, or
	debug []byte // a good debug file, with
	zip   []byte // a hostile source bundle
}

// newBombKinds builds the templates of the kinds named, or of all kinds.
func newBombKinds(t *testing.T, only ...string) *bombKinds {
	t.Helper()
	s := buildSample(t)
	read := func(p string) []byte {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	pad := func(b []byte) []byte { return append(b, make([]byte, max(0, bombSize-len(b)))...) }
	compressed := func(how string) []byte {
		out := filepath.Join(s.Dir, "sample."+how)
		run(t, "objcopy", "--compress-debug-sections="+how, s.Bin, out)
		return pad(read(out))
	}
	must := func(b []byte, err error) []byte {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	plain := pad(read(s.Bin))
	bound := uint64(debugfile.InflateLimits{}.Bound(bombSize + 64<<10))
	zstd := func(name string, zeros, claim uint64) debugfiletest.Section {
		return debugfiletest.Section{Name: name, Codec: elf.COMPRESS_ZSTD, Zeros: zeros, Claim: claim}
	}
	src, err := os.ReadFile(filepath.Join(s.Dir, "sample.c"))
	if err != nil {
		t.Fatal(err)
	}
	srcPath := filepath.Join(s.Dir, "sample.c")
	manifest := fmt.Sprintf(`{"debug_id":%q,"files":{"files/sample.c":{"type":"source","path":%q}}}`, s.DebugID, srcPath)
	type maker struct {
		kind string
		n    int
		make func() bombTemplate
	}
	makers := []maker{
		{"zstd sections inflating to 1 GiB each", 10, func() bombTemplate {
			return bombTemplate{elf: must(debugfiletest.Rewrite(plain,
				zstd(".debug_info", 1<<30, 0), zstd(".debug_line", 1<<30, 0), zstd(".debug_str", 1<<30, 0), zstd(".debug_abbrev", 1<<30, 0)))}
		}},
		{"zlib section claiming 1 GiB", 8, func() bombTemplate {
			return bombTemplate{elf: must(debugfiletest.SetClaim(compressed("zlib"), ".debug_info", 1<<30))}
		}},
		{".zdebug section claiming 1 GiB", 6, func() bombTemplate {
			return bombTemplate{elf: must(debugfiletest.SetClaim(compressed("zlib-gnu"), ".zdebug_info", 1<<30))}
		}},
		{"zstd stream running 1 GiB past a 4 KiB claim", 8, func() bombTemplate {
			return bombTemplate{elf: must(debugfiletest.Rewrite(plain, zstd(".debug_info", 1<<30, 4096)))}
		}},
		{"zlib stream running 16 MiB past a 4 KiB claim", 6, func() bombTemplate {
			return bombTemplate{elf: must(debugfiletest.Rewrite(plain,
				debugfiletest.Section{Name: ".debug_info", Codec: elf.COMPRESS_ZLIB, Zeros: 16 << 20, Claim: 4096}))}
		}},
		{"sections under the bound, over it together", 6, func() bombTemplate {
			return bombTemplate{elf: must(debugfiletest.Rewrite(plain,
				zstd(".debug_info", 0, bound*4/10), zstd(".debug_line", 0, bound*4/10), zstd(".debug_str", 0, bound*4/10)))}
		}},
		{"sections inflating to the bound", 4, func() bombTemplate {
			return bombTemplate{elf: must(debugfiletest.Rewrite(plain,
				zstd(".debug_info", bound/4, 0), zstd(".debug_line", bound/4, 0), zstd(".debug_str", bound/4, 0)))}
		}},
		{"source bundle of 41 files of 4 MiB", 4, func() bombTemplate {
			// Zeros are valid UTF-8: the first file is the source the
			// frames name.
			wide := []debugfiletest.ZipEntry{{Name: "manifest.json", Data: []byte(manifest)}, {Name: "files/sample.c", Data: src, Zeros: 4 << 20}}
			for i := range 40 {
				wide = append(wide, debugfiletest.ZipEntry{Name: fmt.Sprintf("files/gen%d.c", i), Zeros: 4 << 20})
			}
			return bombTemplate{debug: read(s.DebugInfo), zip: debugfiletest.Zip(true, wide...)}
		}},
		{"source bundle holding a nested zip", 2, func() bombTemplate {
			// A zip of zips, four deep, each level holding the one
			// below eight times: the source the frames name is that
			// archive.
			nested := debugfiletest.Zip(false, debugfiletest.ZipEntry{Name: "zeros", Zeros: 1 << 20})
			for range 4 {
				var entries []debugfiletest.ZipEntry
				for j := range 8 {
					entries = append(entries, debugfiletest.ZipEntry{Name: fmt.Sprintf("l%d.zip", j), Data: nested})
				}
				nested = debugfiletest.Zip(false, entries...)
			}
			return bombTemplate{debug: read(s.DebugInfo), zip: debugfiletest.Zip(true,
				debugfiletest.ZipEntry{Name: "manifest.json", Data: []byte(manifest)}, debugfiletest.ZipEntry{Name: "files/sample.c", Data: nested})}
		}},
	}
	k := &bombKinds{s: s}
	for _, m := range makers {
		if len(only) > 0 && !slices.Contains(only, m.kind) {
			continue
		}
		tpl := m.make()
		tpl.kind, tpl.n = m.kind, m.n
		k.templates = append(k.templates, tpl)
	}
	return k
}

// bombs lays out every variant of every kind under dir, each with its
// own build-id drawn from series (so that streams built from one kit do
// not share files).
func (k *bombKinds) bombs(t *testing.T, dir string, series byte) []bomb {
	t.Helper()
	base, err := hex.DecodeString(k.s.CodeID)
	if err != nil {
		t.Fatal(err)
	}
	var out []bomb
	for ki, tpl := range k.templates {
		for v := range tpl.n {
			id := bytes.Clone(base)
			id[len(id)-3], id[len(id)-2], id[len(id)-1] = series, byte(ki), byte(v)
			b := bomb{kind: tpl.kind, codeID: debugfile.ELFCodeID(id), debugID: debugfile.ELFDebugID(id, true), elf: tpl.elf != nil, files: map[string][]byte{}}
			at := func(name string) string { return filepath.Join(b.codeID[:2], b.codeID[2:], name) }
			if tpl.elf != nil {
				f, err := debugfiletest.SetBuildID(tpl.elf, id)
				if err != nil {
					t.Fatal(err)
				}
				b.files[at("executable")], b.files[at("debuginfo")] = f, f
			} else {
				f, err := debugfiletest.SetBuildID(tpl.debug, id)
				if err != nil {
					t.Fatal(err)
				}
				b.files[at("debuginfo")], b.files[at("sourcebundle")] = f, tpl.zip
			}
			for p, data := range b.files {
				if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(p)), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, p), data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			out = append(out, b)
		}
	}
	return out
}

// bombRequest asks for the modules of bombs, one frame in each (in
// compute, whose source the bundles name).
func bombRequest(s *sample, dir string, bombs []bomb) map[string]any {
	var modules, frames []any
	for i, b := range bombs {
		image := uint64(testImageAddr) + uint64(i)<<24
		modules = append(modules, map[string]any{"type": "elf", "code_id": b.codeID, "debug_id": b.debugID,
			"code_file": "/usr/lib/bomb" + strconv.Itoa(i), "image_addr": hexAddr(image), "image_size": 1 << 24})
		frames = append(frames, map[string]any{"instruction_addr": hexAddr(image + s.Syms["compute"][0] - s.LoadAddr)})
	}
	return map[string]any{
		"platform": "native", "sources": []any{fsSource("fs", dir, "unified")},
		"options":     map[string]any{"dif_candidates": true},
		"stacktraces": []any{map[string]any{"frames": frames}},
		"modules":     modules,
	}
}

// checkBombAnswer checks the modules of a response to bombRequest: a
// bomb as the debug file is malformed, a bomb as the source bundle
// leaves the module found, without source context, with the bundle's
// candidate malformed or unread.
func checkBombAnswer(t *testing.T, resp response, bombs []bomb) {
	t.Helper()
	if resp.Status != 200 || resp.JSON["status"] != "completed" {
		t.Fatalf("status %d: %.500s", resp.Status, resp.Body)
	}
	modules := arr(t, resp.JSON["modules"], "modules")
	frames := arr(t, obj(t, arr(t, resp.JSON["stacktraces"], "stacktraces")[0], "stacktrace")["frames"], "frames")
	for i, b := range bombs {
		m := obj(t, modules[i], "module")
		switch {
		case b.elf && m["debug_status"] != "malformed":
			t.Errorf("%s: debug_status %v, want malformed (%v)", b.kind, m["debug_status"], candidateStatuses(t, m))
		case !b.elf && m["debug_status"] != "found":
			t.Errorf("%s: debug_status %v, want found", b.kind, m["debug_status"])
		}
	}
	for _, f := range frames {
		if f := obj(t, f, "frame"); f["context_line"] != nil {
			t.Errorf("a frame has source context from a bomb: %.200v", f["context_line"])
		}
	}
}

// TestMalformedRemembered: a file that fails to parse is remembered by
// its content and refused at once, from any location, on later requests;
// the module is malformed each time. After retry_malformed_after the file
// is parsed again.
func TestMalformedRemembered(t *testing.T) {
	k := newBombKinds(t, "zstd sections inflating to 1 GiB each")
	dir := t.TempDir()
	b := k.bombs(t, dir, 1)[0]
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	var clock sync.Mutex
	var logs bytes.Buffer
	var logMu sync.Mutex
	svc, srv := testService(t, Config{
		Now:    func() time.Time { clock.Lock(); defer clock.Unlock(); return now },
		Logger: slog.New(slog.NewTextHandler(lockedWriter{&logMu, &logs}, nil)),
	})
	req := bombRequest(k.s, dir, []bomb{b})
	checkBombAnswer(t, postJSON(t, srv.URL+"/symbolicate", req), []bomb{b})
	logMu.Lock()
	first := logs.String()
	logs.Reset()
	logMu.Unlock()
	if !strings.Contains(first, "section .debug_info claims 1073741824 bytes decompressed, over the bound of") {
		t.Errorf("the log does not say why the file is malformed:\n%s", first)
	}
	n, _ := svc.index.stats()

	// Again: malformed, from the negative entry, without a new one.
	checkBombAnswer(t, postJSON(t, srv.URL+"/symbolicate", req), []bomb{b})
	logMu.Lock()
	second := logs.String()
	logMu.Unlock()
	if c := strings.Count(second, "remembered since"); c != 2 {
		t.Errorf("%d of the 2 files (executable, debuginfo) answered from memory:\n%s", c, second)
	}
	if n2, _ := svc.index.stats(); n2 != n {
		t.Errorf("index cache went from %d to %d entries", n, n2)
	}
	data := b.files[filepath.Join(b.codeID[:2], b.codeID[2:], "debuginfo")]
	_, err := svc.openIndexed(data)
	var rem *RememberedError
	var ie *debugfile.InflateError
	if !errors.As(err, &rem) || !errors.As(err, &ie) {
		t.Fatalf("openIndexed = %v, want a *RememberedError of an *InflateError", err)
	}
	if !rem.Since.Equal(now) {
		t.Errorf("remembered since %v, want %v", rem.Since, now)
	}

	// A day later it is parsed again (and remembered again).
	clock.Lock()
	now = now.Add(defaultRetryMalformedAfter)
	clock.Unlock()
	_, err = svc.openIndexed(data)
	if err == nil || errors.As(err, &rem) {
		t.Fatalf("openIndexed after %v = %v, want a fresh parse failure", defaultRetryMalformedAfter, err)
	}
	if _, err = svc.openIndexed(data); !errors.As(err, &rem) || !rem.Since.Equal(now) {
		t.Errorf("openIndexed = %v, want it remembered since %v", err, now)
	}

	// A good file is not affected.
	good := t.TempDir()
	k.s.putUnified(t, good)
	m, f := firstResult(t, postJSON(t, srv.URL+"/symbolicate", sampleRequest(k.s, k.s.Syms["compute"][0], fsSource("fs", good, "unified"))))
	if m["debug_status"] != "found" || f["status"] != "symbolicated" {
		t.Errorf("good file after the bomb: module %v, frame %v", m["debug_status"], f)
	}
}

// TestRememberedFailureIsForThoseBytes: a remembered failure refuses the
// bytes that failed, not a good file that shares their length and their
// first and last 64 KiB (what the content digest samples).
func TestRememberedFailureIsForThoseBytes(t *testing.T) {
	s := buildSample(t)
	plain, err := os.ReadFile(s.Bin)
	if err != nil {
		t.Fatal(err)
	}
	ef, err := elf.Open(s.Bin)
	if err != nil {
		t.Fatal(err)
	}
	info, err := ef.Section(".debug_info").Data()
	ef.Close()
	if err != nil {
		t.Fatal(err)
	}
	// The compressed .debug_info lands at 100 KiB, between the sampled
	// ends of a 300 KiB file.
	plain = append(plain, make([]byte, 100<<10-len(plain))...)
	good, err := debugfiletest.Rewrite(plain, debugfiletest.Section{Name: ".debug_info", Codec: elf.COMPRESS_ZSTD, Data: info})
	if err != nil {
		t.Fatal(err)
	}
	good = append(good, make([]byte, 300<<10-len(good))...)
	bad, err := debugfiletest.SetClaim(good, ".debug_info", uint64(len(info))-1)
	if err != nil {
		t.Fatal(err)
	}
	if contentDigest(good) != contentDigest(bad) {
		t.Fatal("the two files do not share a content digest")
	}
	svc, _ := testService(t, Config{})
	var rem *RememberedError
	if _, err := svc.openIndexed(bad); err == nil || errors.As(err, &rem) {
		t.Fatalf("bad file: %v, want a fresh failure", err)
	}
	if _, err := svc.openIndexed(good); err != nil {
		t.Fatalf("good file sharing the bad one's digest: %v", err)
	}
	if _, err := svc.openIndexed(bad); !errors.As(err, &rem) || !strings.Contains(err.Error(), "inflates past") {
		t.Errorf("bad file again: %v, want it remembered", err)
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// bombServeEnv makes the test binary serve the embedded Symbolicator on
// 127.0.0.1 instead of testing (see TestBombStream), until stdin closes.
const bombServeEnv = "SYMFLOW_BOMB_SERVE"

// TestBombStream feeds a stream of decompression bombs of every kind (54
// files: zstd and zlib sections claiming or inflating to 1 GiB, lying
// headers, claims over the bound together, sections inflating to the
// bound, source bundles of 41 × 4 MiB and of nested zips) through the
// HTTP API of a service running in its own process, first one bomb per
// request, then fresh copies all in one request (loaded concurrently),
// then the first stream again. It reports the service's peak RSS
// (VmHWM) after each, checks every module is answered as Symbolicator
// answers a malformed file, that the repeated stream is answered from
// the negative cache, that the service is up and still symbolicates, and
// that the peak stays under the ceiling the bound implies.
func TestBombStream(t *testing.T) {
	if os.Getenv(bombServeEnv) != "" {
		serveForBombs()
		return
	}
	k := newBombKinds(t)
	dir := t.TempDir()
	first, fresh := k.bombs(t, dir, 1), k.bombs(t, dir, 2)
	var claimed, sent int64
	for _, b := range append(append([]bomb(nil), first...), fresh...) {
		for _, data := range b.files {
			sent += int64(len(data))
			claimed += claims(data)
		}
	}

	child := startBombServer(t)
	base := "http://" + child.addr
	good := t.TempDir()
	k.s.putUnified(t, good)
	warm := sampleRequest(k.s, k.s.Syms["compute"][0], fsSource("fs", good, "unified"))
	if m, f := firstResult(t, postJSON(t, base+"/symbolicate", warm)); m["debug_status"] != "found" || f["status"] != "symbolicated" {
		t.Fatalf("the service does not symbolicate the good sample: %v %v", m["debug_status"], f)
	}
	baseline := child.memory(t)

	for _, b := range first {
		checkBombAnswer(t, postJSON(t, base+"/symbolicate", bombRequest(k.s, dir, []bomb{b})), []bomb{b})
	}
	one := child.memory(t)
	checkBombAnswer(t, postJSON(t, base+"/symbolicate", bombRequest(k.s, dir, fresh)), fresh)
	together := child.memory(t)
	before := child.remembered()
	for _, b := range first {
		checkBombAnswer(t, postJSON(t, base+"/symbolicate", bombRequest(k.s, dir, []bomb{b})), []bomb{b})
	}
	again := child.memory(t)
	elfFiles := 0
	for _, b := range first {
		if b.elf {
			elfFiles += 2 // executable and debuginfo
		}
	}
	if got := child.remembered() - before; got < elfFiles {
		t.Errorf("repeated stream: %d of %d bomb files answered from the negative cache", got, elfFiles)
	}

	// Still up, still right.
	if r := doRequest(t, http.MethodGet, base+"/healthcheck", "", nil); r.Status != 200 || string(r.Body) != "ok" {
		t.Errorf("healthcheck after the bombs: %d %q", r.Status, r.Body)
	}
	if m, f := firstResult(t, postJSON(t, base+"/symbolicate", warm)); m["debug_status"] != "found" || f["status"] != "symbolicated" {
		t.Errorf("after the bombs the good sample gives %v %v", m["debug_status"], f)
	}

	bound := debugfile.InflateLimits{}.Bound(bombSize)
	t.Logf("bombs: %d files sent (%.1f MiB) claiming %.1f GiB decompressed; bound per file %d MiB",
		2*len(first)+2*len(fresh), float64(sent)/(1<<20), float64(claimed)/(1<<30), bound>>20)
	t.Logf("peak RSS (VmHWM): %d MiB after a good request, %d MiB after %d bombs one per request, %d MiB after %d in one request, %d MiB after the first %d again",
		baseline.hwm>>20, one.hwm>>20, len(first), together.hwm>>20, len(fresh), again.hwm>>20, len(first))
	t.Logf("RSS now %d MiB; %d bomb files answered from the negative cache", again.rss>>20, child.remembered()-before)

	// The ceiling: whatever the service held before, plus, for each
	// file parsed at once (ModuleConcurrency of a request's modules),
	// the bound's worth of decompressed sections, the file and its
	// index, with room for the garbage collector's slack (GOGC=100
	// lets the heap reach twice what is live).
	ceiling := baseline.hwm + 2*8*(bound+2*bombSize)
	if !raceEnabled && again.hwm > ceiling {
		t.Errorf("peak RSS %d MiB over the ceiling of %d MiB", again.hwm>>20, ceiling>>20)
	}
}

// claims sums the decompressed sizes a file's headers claim (ELF
// sections, zip entries).
func claims(data []byte) int64 {
	var n uint64
	if ef, err := elf.NewFile(bytes.NewReader(data)); err == nil {
		for _, s := range ef.Sections {
			if c, ok := debugfile.ELFCompressed(s, data); ok {
				n += c
			}
		}
		return int64(n)
	}
	z := data
	if bytes.HasPrefix(z, []byte("SYSB")) {
		z = z[8:]
	}
	if zr, err := zip.NewReader(bytes.NewReader(z), int64(len(z))); err == nil {
		for _, f := range zr.File {
			n += f.UncompressedSize64
		}
	}
	return int64(n)
}

// bombServer is the service in its own process.
type bombServer struct {
	cmd    *exec.Cmd
	addr   string
	stdin  io.Closer
	mu     sync.Mutex
	logged []string
}

type memory struct{ hwm, rss int64 }

func startBombServer(t *testing.T) *bombServer {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestBombStream$")
	cmd.Env = append(os.Environ(), bombServeEnv+"=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	b := &bombServer{cmd: cmd, stdin: stdin}
	t.Cleanup(func() {
		stdin.Close()
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(time.Minute):
			cmd.Process.Kill()
			<-done
		}
	})
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			b.mu.Lock()
			b.logged = append(b.logged, sc.Text())
			b.mu.Unlock()
		}
	}()
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "listening "); ok {
				lines <- a
				return
			}
		}
		close(lines)
	}()
	select {
	case a, ok := <-lines:
		if !ok {
			t.Fatalf("the service process ended before saying where it listens: %v", b.log())
		}
		b.addr = a
	case <-time.After(2 * time.Minute):
		t.Fatalf("the service process did not say where it listens within 2 minutes")
	}
	return b
}

// memory reads the process's peak and current resident set size.
func (b *bombServer) memory(t *testing.T) memory {
	t.Helper()
	if b.cmd.ProcessState != nil {
		t.Fatalf("the service process exited: %v\n%s", b.cmd.ProcessState, b.log())
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", b.cmd.Process.Pid))
	if err != nil {
		t.Fatalf("the service process is gone: %v\n%s", err, b.log())
	}
	var m memory
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) == 3 && f[2] == "kB" {
			n, _ := strconv.ParseInt(f[1], 10, 64)
			switch f[0] {
			case "VmHWM:":
				m.hwm = n << 10
			case "VmRSS:":
				m.rss = n << 10
			}
		}
	}
	if m.hwm == 0 {
		t.Fatalf("no VmHWM in /proc/%d/status", b.cmd.Process.Pid)
	}
	return m
}

// remembered counts the log lines of files refused from the negative
// cache.
func (b *bombServer) remembered() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, l := range b.logged {
		if strings.Contains(l, "remembered since") {
			n++
		}
	}
	return n
}

func (b *bombServer) log() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Join(b.logged[max(0, len(b.logged)-20):], "\n")
}

// serveForBombs is the service process of TestBombStream: the embedded
// Symbolicator with its defaults on 127.0.0.1, logging to stderr, until
// stdin closes.
func serveForBombs() {
	svc := New(Config{Logger: slog.New(slog.NewTextHandler(os.Stderr, nil))})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	srv := &http.Server{Handler: svc, ReadHeaderTimeout: time.Minute}
	go srv.Serve(ln)
	fmt.Println("listening " + ln.Addr().String())
	io.Copy(io.Discard, os.Stdin)
	srv.Close()
	svc.Close()
}
