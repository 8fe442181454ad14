package symbolicator

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeSourceBundle writes a source bundle as sentry-cli lays it out: the
// SYSB header, then a zip holding each source under files/ and a
// manifest.json naming the path the debug information uses.
func writeSourceBundle(t *testing.T, path, debugID string, sources map[string]string) {
	t.Helper()
	var zbuf bytes.Buffer
	zw := zip.NewWriter(&zbuf)
	files := map[string]any{}
	for abs, text := range sources {
		name := "files/" + strings.TrimPrefix(abs, "/")
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(text))
		files[name] = map[string]any{"type": "source", "path": abs}
	}
	manifest, _ := json.Marshal(map[string]any{"files": files, "debug_id": debugID, "object_name": "sample"})
	w, _ := zw.Create("manifest.json")
	w.Write(manifest)
	zw.Close()
	out := append([]byte("SYSB\x02\x00\x00\x00"), zbuf.Bytes()...)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestSourceContextFromBundle: with apply_source_context (the default) a
// symbolicated frame gains the five lines before and after its line from
// the module's source bundle, found beside the debug files; the module
// and the candidate say it has sources. Without the option, no context.
func TestSourceContextFromBundle(t *testing.T) {
	s := buildSample(t)
	dir := t.TempDir()
	s.putUnified(t, dir)
	src, err := os.ReadFile(filepath.Join(s.Dir, "sample.c"))
	if err != nil {
		t.Fatal(err)
	}
	writeSourceBundle(t, filepath.Join(dir, s.CodeID[:2], s.CodeID[2:], "sourcebundle"), s.DebugID,
		map[string]string{filepath.Join(s.Dir, "sample.c"): string(src)})
	lines := strings.Split(string(src), "\n")
	_, srv := testService(t, Config{})

	req := sampleRequest(s, s.Syms["entry_point"][0], fsSource("fs", dir, "unified"))
	m, f := firstResult(t, postJSON(t, srv.URL+"/symbolicate", req))
	line := int(f["lineno"].(float64))
	if f["status"] != "symbolicated" || line < 6 {
		t.Fatalf("frame = %v", f)
	}
	if f["context_line"] != lines[line-1] {
		t.Errorf("context_line = %q, want %q", f["context_line"], lines[line-1])
	}
	pre, _ := f["pre_context"].([]any)
	post, _ := f["post_context"].([]any)
	if len(pre) != 5 || pre[4] != lines[line-2] || pre[0] != lines[line-6] {
		t.Errorf("pre_context = %q", pre)
	}
	if len(post) == 0 || post[0] != lines[line] {
		t.Errorf("post_context = %q", post)
	}
	if feat := obj(t, m["features"], "features"); feat["has_sources"] != true {
		t.Errorf("features = %v, want has_sources", feat)
	}
	bundle := "fs file://" + filepath.Join(dir, s.CodeID[:2], s.CodeID[2:], "sourcebundle")
	if st := candidateStatuses(t, m)[bundle]; st != "ok" {
		t.Errorf("source bundle candidate = %q, want ok (%v)", st, candidateStatuses(t, m))
	}

	req["options"] = map[string]any{"apply_source_context": false}
	_, f = firstResult(t, postJSON(t, srv.URL+"/symbolicate", req))
	if _, ok := f["context_line"]; ok {
		t.Errorf("context without apply_source_context: %v", f)
	}
}
