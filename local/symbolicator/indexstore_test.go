package symbolicator

import (
	"bytes"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// storeRequest asks for every byte of the sample's three functions, so
// that answers compare many frames.
func storeRequest(t *testing.T, s *sample, dir string) map[string]any {
	t.Helper()
	req := sampleRequest(s, s.Syms["main"][0], fsSource("fs", dir, "unified"))
	var frames []any
	for _, name := range []string{"compute", "entry_point", "main"} {
		sym := s.Syms[name]
		for a := sym[0]; a < sym[0]+sym[1]; a++ {
			frames = append(frames, map[string]any{"instruction_addr": hexAddr(testImageAddr + a - s.LoadAddr)})
		}
	}
	req["stacktraces"] = []any{map[string]any{"frames": frames}}
	return req
}

func indexFiles(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*"+indexExt))
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestIndexStoreRestart checks that a service restarted on its cache
// directory answers from the persisted index, exactly as the first one
// answered from the parse, and that a damaged index is refused, removed
// and rebuilt.
func TestIndexStoreRestart(t *testing.T) {
	s := buildSample(t)
	files, cache := t.TempDir(), t.TempDir()
	s.putUnified(t, files)
	req := storeRequest(t, s, files)

	answer := func() (*Service, []byte) {
		svc, srv := testService(t, Config{CacheDir: cache})
		resp := postJSON(t, srv.URL+"/symbolicate", req)
		if resp.Status != 200 || resp.JSON["status"] != "completed" {
			t.Fatalf("status %d: %.300s", resp.Status, resp.Body)
		}
		srv.Close()
		svc.Close() // waits for the index being written
		return svc, resp.Body
	}
	first, want := answer()
	if n := first.store.loaded.Load(); n != 0 {
		t.Fatalf("a fresh cache directory gave %d indexes", n)
	}
	// The unified layout holds the stripped executable and its debug
	// file: both are opened, both indexes kept.
	if got := indexFiles(t, cache); len(got) != 2 {
		t.Fatalf("%d index files after two debug files were parsed, want 2: %v", len(got), got)
	}
	if !bytes.Contains(want, []byte(`"function":"compute"`)) {
		t.Fatalf("first answer does not name compute: %.500s", want)
	}

	again, got := answer()
	if n := again.store.loaded.Load(); n != 2 {
		t.Fatalf("the restarted service loaded %d indexes, want 2", n)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("answer from the persisted index differs:\n%s\nfrom the parse:\n%s", got, want)
	}

	// Damage the index: it is refused, removed and written again.
	idx := indexFiles(t, cache)[0]
	data, err := os.ReadFile(idx)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0xff
	if err := os.WriteFile(idx, data, 0o644); err != nil {
		t.Fatal(err)
	}
	damaged, got := answer()
	if n := damaged.store.loaded.Load(); n != 1 {
		t.Fatalf("%d indexes loaded beside a damaged one, want 1", n)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("answer after a damaged index differs:\n%s", got)
	}
	rebuilt, err := os.ReadFile(idx)
	if err != nil || bytes.Equal(rebuilt, data) {
		t.Fatalf("the damaged index was not rebuilt (%v)", err)
	}
}

// TestIndexStoreBound checks that the directory stays within
// IndexCacheBytes, the least recently used index removed first, and that
// files of other kinds in it are left alone.
func TestIndexStoreBound(t *testing.T) {
	s := buildSample(t)
	data, err := os.ReadFile(s.Bin)
	if err != nil {
		t.Fatal(err)
	}
	svc, _ := testService(t, Config{})
	f, err := svc.openIndexed(data)
	if err != nil {
		t.Fatal(err)
	}
	one, err := f.MarshalIndex("k1")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	other := filepath.Join(dir, "keep.txt")
	os.WriteFile(other, []byte("not an index"), 0o644)
	st := newIndexStore(dir, int64(2*len(one)+len(one)/2), discardLogger())
	for _, k := range []string{"k1", "k2"} {
		st.save(k, f, nil)
		st.writes.Wait()
	}
	if st.load("k1") == nil { // k1 now the most recently used
		t.Fatal("k1 was not kept")
	}
	st.save("k3", f, nil)
	st.close()
	for k, want := range map[string]bool{"k1": true, "k2": false, "k3": true} {
		if _, err := os.Stat(st.path(k)); (err == nil) != want {
			t.Errorf("%s kept: %v, want %v", k, err == nil, want)
		}
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("a file that is no index was removed: %v", err)
	}
	st.save("k4", f, nil) // after close: not written
	if _, err := os.Stat(st.path("k4")); err == nil {
		t.Error("an index was written after close")
	}
	// An index written under another key does not load under this one.
	os.WriteFile(st.path("k5"), one, 0o644)
	if st.load("k5") != nil {
		t.Error("an index written for another file loaded")
	}
	if _, err := os.Stat(st.path("k5")); err == nil {
		t.Error("a refused index was not removed")
	}
}

// TestIndexStoreWaitsForQuiet checks that an index is not written while
// the service is busy, is written once it is idle, and that closing the
// store writes a waiting index at once.
func TestIndexStoreWaitsForQuiet(t *testing.T) {
	s := buildSample(t)
	data, err := os.ReadFile(s.Bin)
	if err != nil {
		t.Fatal(err)
	}
	svc, _ := testService(t, Config{})
	f, err := svc.openIndexed(data)
	if err != nil {
		t.Fatal(err)
	}
	st := newIndexStore(t.TempDir(), 1<<30, discardLogger())
	var busy atomic.Bool
	busy.Store(true)
	idle := func() bool { return !busy.Load() }
	written := func(k string) bool { _, err := os.Stat(st.path(k)); return err == nil }

	st.save("k1", f, idle)
	time.Sleep(10 * persistQuiet) // well short of persistDelay
	if written("k1") {
		t.Fatal("the index was written while the service was busy")
	}
	busy.Store(false)
	for deadline := time.Now().Add(time.Minute); !written("k1"); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the index was not written within a minute of the service going idle")
		}
	}

	busy.Store(true)
	st.save("k2", f, idle)
	st.close()
	if !written("k2") {
		t.Error("closing the store did not write the index that waited")
	}
}
