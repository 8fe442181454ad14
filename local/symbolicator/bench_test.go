package symbolicator

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/symflow/symflow/local/symbolicator/objfile"
)

// BenchmarkSymbolicate measures a warm /symbolicate round trip over HTTP:
// 200 frames spread over the sample program, debug files on a filesystem
// source (parsed once, then served from the index cache).
func BenchmarkSymbolicate(b *testing.B) {
	s := buildSample(b)
	dir := b.TempDir()
	s.putUnified(b, dir)
	_, srv := testService(b, Config{})
	var frames []any
	for _, name := range []string{"compute", "entry_point", "main"} {
		sym := s.Syms[name]
		for i := uint64(0); i < 200/3; i++ {
			frames = append(frames, map[string]any{"instruction_addr": hexAddr(testImageAddr + sym[0] + i%sym[1] - s.LoadAddr)})
		}
	}
	req := sampleRequest(s, s.Syms["main"][0], fsSource("fs", dir, "unified"))
	req["stacktraces"] = []any{map[string]any{"frames": frames}}
	body, err := json.Marshal(req)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		resp, err := http.Post(srv.URL+"/symbolicate", "application/json", bytes.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		var out map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out["status"] != "completed" {
			b.Fatalf("response %v: %v", out, err)
		}
		resp.Body.Close()
	}
}

// BenchmarkDecodeRequest measures decoding and validating a large body.
func BenchmarkDecodeRequest(b *testing.B) {
	var frames []any
	for i := 0; i < 5000; i++ {
		frames = append(frames, map[string]any{"instruction_addr": hexAddr(0x7f0000000000 + uint64(i)*16), "trust": "cfi"})
	}
	body, _ := json.Marshal(map[string]any{
		"stacktraces": []any{map[string]any{"frames": frames}},
		"modules":     []any{map[string]any{"type": "elf", "code_id": "00112233445566778899aabbccddeeff00112233", "image_addr": "0x7f0000000000", "image_size": 1 << 20}},
	})
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := decodeSymbolicateRequest(body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLargeRequest measures a warm request of benchmark size (30,000
// addresses, as symflow-bench's service section sends them) against the
// ELF file named by SYMBOLICATOR_BENCH_ELF, by default this test binary,
// and its parts: decoding the body, symbolicating (the debug file already
// indexed) and writing the answer.
func BenchmarkLargeRequest(b *testing.B) {
	path := os.Getenv("SYMBOLICATOR_BENCH_ELF")
	if path == "" {
		var err error
		if path, err = os.Executable(); err != nil {
			b.Fatal(err)
		}
	}
	n := 30000
	if v := os.Getenv("SYMBOLICATOR_BENCH_ADDRESSES"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			b.Fatal(err)
		}
	}
	lr := newLargeRequest(b, path, n)
	svc, srv := testService(b, Config{AllowLoopback: true})
	answer := lr.post(b, srv.URL) // indexes the file
	b.Run("http", func(b *testing.B) {
		last := time.Now()
		b.SetBytes(int64(len(answer)))
		b.ReportAllocs()
		for b.Loop() {
			// As in symflow-bench, one earlier answer is still kept for
			// polling, not every answer of the loop.
			b.StopTimer()
			svc.mu.Lock()
			for id, t := range svc.tasks {
				if t.finished.Before(last) {
					delete(svc.tasks, id)
				}
			}
			last = time.Now()
			svc.mu.Unlock()
			runtime.GC()
			b.StartTimer()
			resp, err := http.Post(srv.URL+"/symbolicate", "application/json", bytes.NewReader(lr.body))
			if err != nil {
				b.Fatal(err)
			}
			if _, err := io.Copy(io.Discard, resp.Body); err != nil {
				b.Fatal(err)
			}
			resp.Body.Close()
		}
	})
	b.Run("first-warm", func(b *testing.B) {
		// The first warm request of a fresh service, as symflow-bench
		// times it: a cold request (untimed) just before, its index
		// written to a cache directory.
		b.ReportAllocs()
		for b.Loop() {
			b.StopTimer()
			svc := New(Config{AllowLoopback: true, Logger: discardLogger(), CacheDir: b.TempDir()})
			srv := httptest.NewServer(svc)
			lr.post(b, srv.URL)
			b.StartTimer()
			resp, err := http.Post(srv.URL+"/symbolicate", "application/json", bytes.NewReader(lr.body))
			if err != nil {
				b.Fatal(err)
			}
			if _, err := io.Copy(io.Discard, resp.Body); err != nil {
				b.Fatal(err)
			}
			resp.Body.Close()
			b.StopTimer()
			srv.Close()
			svc.Close()
			b.StartTimer()
		}
	})
	b.Run("decode", func(b *testing.B) {
		b.SetBytes(int64(len(lr.body)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := decodeSymbolicateRequest(lr.body); err != nil {
				b.Fatal(err)
			}
		}
	})
	req, err := decodeSymbolicateRequest(lr.body)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("lookup", func(b *testing.B) {
		// objfile's part: the lookups alone, on the same addresses.
		data, err := os.ReadFile(path)
		if err != nil {
			b.Fatal(err)
		}
		f, err := objfile.Open(data)
		if err != nil {
			b.Fatal(err)
		}
		image := req.Modules[0].ImageAddr
		var addrs []uint64
		for _, st := range req.Stacktraces {
			for i, fr := range st.Frames {
				a := fr.Addr - image + f.LoadAddress
				if i > 0 {
					a--
				}
				addrs = append(addrs, a)
			}
		}
		for _, a := range addrs {
			f.Lookup(a) // names are demangled on first use
		}
		b.ReportAllocs()
		for b.Loop() {
			for _, a := range addrs {
				f.Lookup(a)
			}
		}
	})
	ctx := context.Background()
	b.Run("symbolicate", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			svc.symbolicate(ctx, req)
		}
	})
	res := svc.symbolicate(ctx, req)
	b.Run("encode", func(b *testing.B) {
		b.SetBytes(int64(len(answer)))
		b.ReportAllocs()
		for b.Loop() {
			if err := writeAnswer(io.Discard, res); err != nil {
				b.Fatal(err)
			}
		}
	})
}
