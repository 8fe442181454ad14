package symbolicator

import (
	"bytes"
	"debug/elf"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/symflow/symflow/local/symbolicator/objfile"
)

// sampleSource is the C program the end-to-end tests compile: compute has
// inner inlined into it, and both are called from main.
const sampleSource = `#include <stdio.h>
#include <stdlib.h>

static inline __attribute__((always_inline)) int inner(int x) {
    if (x > 1000)
        abort();
    return x * 3 + 1;
}

__attribute__((noinline)) int compute(int x) {
    int r = inner(x);
    return r + 7;
}

__attribute__((noinline)) int entry_point(int argc) {
    return compute(argc) * 2;
}

int main(int argc, char **argv) {
    (void)argv;
    printf("%d\n", entry_point(argc));
    return 0;
}
`

// sample is a compiled program with its identifiers.
type sample struct {
	Dir       string
	Bin       string // unstripped executable
	Stripped  string // executable without debug info (symbols kept)
	DebugInfo string // objcopy --only-keep-debug output
	CodeID    string
	DebugID   string
	LoadAddr  uint64
	Arch      string
	Syms      map[string][2]uint64 // name -> address, size (file address space)
}

func requireTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is not installed: run `make deps` (bash scripts/deps.sh)", name)
	}
	return p
}

func run(t testing.TB, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

// buildSample compiles sampleSource with gcc -g -O2 plus extra flags into
// a fresh temporary directory.
func buildSample(t testing.TB, extra ...string) *sample {
	t.Helper()
	requireTool(t, "gcc")
	requireTool(t, "objcopy")
	requireTool(t, "nm")
	dir := t.TempDir()
	src := filepath.Join(dir, "sample.c")
	if err := os.WriteFile(src, []byte(sampleSource), 0o644); err != nil {
		t.Fatal(err)
	}
	s := &sample{Dir: dir, Bin: filepath.Join(dir, "sample"), Stripped: filepath.Join(dir, "sample.stripped"), DebugInfo: filepath.Join(dir, "sample.debug")}
	// No hot/cold splitting: symbolic names a split function after the
	// symbol at its lowest address (compute.cold, placed before .text),
	// where llvm-symbolizer, the reference here, says compute. objfile's
	// tests cover split functions.
	args := append([]string{"-g", "-O2", "-fno-reorder-blocks-and-partition", "-Wl,--build-id", "-o", s.Bin, src}, extra...)
	run(t, "gcc", args...)
	run(t, "objcopy", "--only-keep-debug", s.Bin, s.DebugInfo)
	run(t, "objcopy", "--strip-debug", s.Bin, s.Stripped)

	data, err := os.ReadFile(s.Bin)
	if err != nil {
		t.Fatal(err)
	}
	id, err := objfile.Identify(data)
	if err != nil {
		t.Fatalf("identify sample: %v", err)
	}
	s.CodeID, s.DebugID, s.Arch = id.CodeID, id.DebugID, id.Arch
	if s.CodeID == "" {
		t.Fatalf("sample has no GNU build id")
	}
	ef, err := elf.Open(s.Bin)
	if err != nil {
		t.Fatal(err)
	}
	defer ef.Close()
	s.LoadAddr = ^uint64(0)
	for _, p := range ef.Progs {
		if p.Type == elf.PT_LOAD && p.Vaddr < s.LoadAddr {
			s.LoadAddr = p.Vaddr
		}
	}
	s.Syms = map[string][2]uint64{}
	for _, line := range strings.Split(run(t, "nm", "-S", "--defined-only", s.Bin), "\n") {
		f := strings.Fields(line)
		if len(f) != 4 {
			continue
		}
		addr, err1 := strconv.ParseUint(f[0], 16, 64)
		size, err2 := strconv.ParseUint(f[1], 16, 64)
		if err1 == nil && err2 == nil {
			s.Syms[f[3]] = [2]uint64{addr, size}
		}
	}
	for _, name := range []string{"compute", "entry_point", "main"} {
		if _, ok := s.Syms[name]; !ok {
			t.Fatalf("sample has no symbol %s", name)
		}
	}
	return s
}

// putUnified lays the sample out in dir with the unified layout: the
// stripped executable and the separate debug info.
func (s *sample) putUnified(t testing.TB, dir string) {
	t.Helper()
	base := filepath.Join(dir, s.CodeID[:2], s.CodeID[2:])
	if err := os.MkdirAll(base, 0o755); err != nil {
		t.Fatal(err)
	}
	copyFile(t, s.Stripped, filepath.Join(base, "executable"))
	copyFile(t, s.DebugInfo, filepath.Join(base, "debuginfo"))
}

func copyFile(t testing.TB, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// refFrame is one frame as llvm-symbolizer reports it.
type refFrame struct {
	Function string
	File     string
	Line     int
}

// symbolize asks llvm-symbolizer (the reference) for the inline chain at
// file addresses of bin.
func symbolize(t testing.TB, bin string, addrs ...uint64) [][]refFrame {
	t.Helper()
	requireTool(t, "llvm-symbolizer")
	args := []string{"--obj=" + bin, "--inlining", "--functions=linkage", "--output-style=JSON"}
	for _, a := range addrs {
		args = append(args, fmt.Sprintf("0x%x", a))
	}
	var res []struct {
		Symbol []struct {
			FunctionName string
			FileName     string
			Line         int
		}
	}
	if err := json.Unmarshal([]byte(run(t, "llvm-symbolizer", args...)), &res); err != nil {
		t.Fatalf("parse llvm-symbolizer output: %v", err)
	}
	out := make([][]refFrame, len(res))
	for i, r := range res {
		for _, s := range r.Symbol {
			out[i] = append(out[i], refFrame{Function: s.FunctionName, File: s.FileName, Line: s.Line})
		}
	}
	return out
}

// testService starts a Service behind an httptest server on 127.0.0.1.
func testService(t testing.TB, cfg Config) (*Service, *httptest.Server) {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = discardLogger()
	}
	svc := New(cfg)
	srv := httptest.NewServer(svc)
	t.Cleanup(func() {
		srv.Close()
		svc.Close()
	})
	return svc, srv
}

type response struct {
	Status int
	Body   []byte
	JSON   map[string]any
}

func doRequest(t testing.TB, method, url, contentType string, body []byte) response {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := response{Status: resp.StatusCode, Body: data}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(data, &r.JSON); err != nil {
			t.Fatalf("response is not JSON: %v: %s", err, data)
		}
	}
	return r
}

func postJSON(t testing.TB, url string, body any) response {
	t.Helper()
	data, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	return doRequest(t, http.MethodPost, url, "application/json", data)
}

// obj and arr walk decoded JSON in assertions.
func obj(t testing.TB, v any, path string) map[string]any {
	t.Helper()
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("%s: expected an object, got %T (%v)", path, v, v)
	}
	return m
}

func arr(t testing.TB, v any, path string) []any {
	t.Helper()
	a, ok := v.([]any)
	if !ok {
		t.Fatalf("%s: expected an array, got %T (%v)", path, v, v)
	}
	return a
}

func hexAddr(v uint64) string { return fmt.Sprintf("0x%x", v) }
