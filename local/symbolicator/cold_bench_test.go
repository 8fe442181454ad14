package symbolicator

import (
	"bytes"
	"debug/elf"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/symflow/symflow/local/symbolicator/objfile"
)

// BenchmarkColdRequest measures what a request for a debug file the
// service has never seen costs: the download from an HTTP symbol server
// on loopback, identification, indexing and the lookups, on a fresh
// Service each time (a persisted index directory too, written as the
// service writes it). The binaries are the large ones symflow-bench
// compiles into ~/.cache/symflow-bench (SQLite's amalgamation, a
// template-heavy C++ program); without them the benchmark is skipped.
func BenchmarkColdRequest(b *testing.B) {
	home, err := os.UserHomeDir()
	if err != nil {
		b.Skip("no home directory")
	}
	for _, pattern := range []string{"sqlite-gcc-O2-*", "sqlite-clang-O3-*", "cxx-g++-O2-*", "cxx-clang++-O2-*"} {
		m, _ := filepath.Glob(filepath.Join(home, ".cache", "symflow-bench", pattern))
		if len(m) == 0 {
			continue
		}
		data, err := os.ReadFile(m[0])
		if err != nil {
			b.Fatal(err)
		}
		id, err := objfile.Identify(data)
		if err != nil {
			b.Fatal(err)
		}
		dir := b.TempDir()
		p := filepath.Join(dir, id.CodeID[:2], id.CodeID[2:])
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			b.Fatal(err)
		}
		symsrv := httptest.NewServer(http.FileServer(http.Dir(dir)))
		b.Cleanup(symsrv.Close)
		body := coldRequestBody(b, data, id, symsrv.URL+"/", 30000)
		b.Run(pattern[:len(pattern)-2], func(b *testing.B) {
			var out bytes.Buffer // kept: what is timed is the service, not this client growing a buffer
			for b.Loop() {
				svc := New(Config{Logger: discardLogger(), AllowLoopback: true, CacheDir: b.TempDir()})
				srv := httptest.NewServer(svc)
				resp, err := http.Post(srv.URL+"/symbolicate?timeout=600", "application/json", bytes.NewReader(body))
				if err != nil {
					b.Fatal(err)
				}
				out.Reset()
				out.ReadFrom(resp.Body)
				resp.Body.Close()
				if !bytes.Contains(out.Bytes(), []byte(`"status":"completed"`)) {
					b.Fatalf("answer %.300s", out.Bytes())
				}
				if os.Getenv("COLD_DUMP") != "" {
					os.WriteFile(os.Getenv("COLD_DUMP"), out.Bytes(), 0o644)
				}
				srv.Close()
				svc.Close()
			}
		})
	}
}

// coldRequestBody is a /symbolicate request for n addresses spread over
// the file's .text, in stack traces of 64 frames, the file mapped at
// 0x7f0000000000 (the benchmark's files are position-independent).
func coldRequestBody(b *testing.B, data []byte, id objfile.Identity, url string, n int) []byte {
	ef, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		b.Fatal(err)
	}
	text := ef.Section(".text")
	type frame struct {
		Addr string `json:"instruction_addr"`
	}
	var traces []map[string][]frame
	for i := range n {
		if i%64 == 0 {
			traces = append(traces, map[string][]frame{})
		}
		a := 0x7f0000000000 + text.Addr + uint64(i)*text.Size/uint64(n)
		t := traces[len(traces)-1]
		t["frames"] = append(t["frames"], frame{"0x" + strconv.FormatUint(a, 16)})
	}
	body, err := json.Marshal(map[string]any{
		"sources": []any{map[string]any{"type": "http", "id": "bench", "url": url, "layout": map[string]string{"type": "native"}}},
		"modules": []any{map[string]any{"type": "elf", "code_id": id.CodeID, "debug_id": id.DebugID,
			"image_addr": "0x7f0000000000", "image_size": 1 << 30}},
		"stacktraces": traces,
	})
	if err != nil {
		b.Fatal(err)
	}
	return body
}
