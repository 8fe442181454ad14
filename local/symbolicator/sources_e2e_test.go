package symbolicator

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
)

// sampleRequest references the sample module (at testImageAddr) from one
// frame at file address fileAddr, on the given sources, with candidates.
func sampleRequest(s *sample, fileAddr uint64, sources ...any) map[string]any {
	return map[string]any{
		"platform": "native",
		"signal":   11,
		"sources":  sources,
		"options":  map[string]any{"dif_candidates": true},
		"stacktraces": []any{map[string]any{
			"frames": []any{map[string]any{"instruction_addr": hexAddr(testImageAddr + fileAddr - s.LoadAddr)}},
		}},
		"modules": []any{map[string]any{
			"type": "elf", "code_id": s.CodeID, "debug_id": s.DebugID, "code_file": "/usr/bin/sample",
			"image_addr": hexAddr(testImageAddr), "image_size": 0x100000,
		}},
	}
}

func fsSource(id, dir, layoutType string) map[string]any {
	return map[string]any{"type": "filesystem", "id": id, "path": dir, "layout": map[string]any{"type": layoutType}}
}

// firstResult returns the first module and the first frame of a response.
func firstResult(t *testing.T, resp response) (module, frame map[string]any) {
	t.Helper()
	if resp.Status != 200 || resp.JSON["status"] != "completed" {
		t.Fatalf("status %d: %s", resp.Status, resp.Body)
	}
	module = obj(t, arr(t, resp.JSON["modules"], "modules")[0], "modules[0]")
	st := obj(t, arr(t, resp.JSON["stacktraces"], "stacktraces")[0], "stacktraces[0]")
	frame = obj(t, arr(t, st["frames"], "frames")[0], "frames[0]")
	return module, frame
}

func candidateStatuses(t *testing.T, m map[string]any) map[string]string {
	t.Helper()
	out := map[string]string{}
	cands, _ := m["candidates"].([]any)
	for _, c := range cands {
		c := obj(t, c, "candidate")
		dl := obj(t, c["download"], "download")
		st, _ := dl["status"].(string)
		if d, ok := dl["details"].(string); ok {
			st += " " + d
		}
		if dbg, ok := c["debug"].(map[string]any); ok {
			st += " debug:" + dbg["status"].(string)
		}
		out[c["source"].(string)+" "+c["location"].(string)] = st
	}
	return out
}

func TestMalformedDebugFile(t *testing.T) {
	s := buildSample(t)
	_, srv := testService(t, Config{})
	for _, tc := range []struct {
		name string
		data func() []byte
	}{
		{"garbage", func() []byte { return []byte("\x7fELF\x02\x01\x01 this is not an object file at all") }},
		{"truncated", func() []byte {
			b, _ := os.ReadFile(s.Bin)
			return b[:300]
		}},
		{"another build", func() []byte {
			other := buildSample(t, "-DUNUSED=1", "-Wl,--build-id=sha1", "-O1")
			b, _ := os.ReadFile(other.Bin)
			return b
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, s.CodeID[:2], s.CodeID[2:], "executable")
			os.MkdirAll(filepath.Dir(p), 0o755)
			if err := os.WriteFile(p, tc.data(), 0o644); err != nil {
				t.Fatal(err)
			}
			m, f := firstResult(t, postJSON(t, srv.URL+"/symbolicate", sampleRequest(s, s.Syms["compute"][0], fsSource("fs", dir, "unified"))))
			if m["debug_status"] != "malformed" {
				t.Errorf("debug_status = %v, want malformed", m["debug_status"])
			}
			if f["status"] != "malformed" {
				t.Errorf("frame status = %v, want malformed", f["status"])
			}
			got := candidateStatuses(t, m)
			if got["fs file://"+p] != "malformed" {
				t.Errorf("candidates = %v, want the executable malformed", got)
			}
		})
	}
}

func TestCandidatesAcrossSources(t *testing.T) {
	s := buildSample(t)
	good := t.TempDir()
	s.putUnified(t, good)
	var mu sync.Mutex
	var paths []string
	notFound := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.URL.Path)
		mu.Unlock()
		http.NotFound(w, r)
	}))
	defer notFound.Close()
	forbidden := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no", http.StatusForbidden)
	}))
	defer forbidden.Close()
	_, srv := testService(t, Config{AllowLoopback: true})

	filtered := fsSource("b-filtered", good, "unified")
	filtered["filters"] = map[string]any{"filetypes": []any{"pe", "pdb"}}
	req := sampleRequest(s, s.Syms["main"][0],
		httpSource("a-http", notFound.URL+"/symbols/"),
		filtered,
		fsSource("c-good", good, "unified"),
	)
	m, f := firstResult(t, postJSON(t, srv.URL+"/symbolicate", req))
	if m["debug_status"] != "found" || f["status"] != "symbolicated" || f["function"] != "main" {
		t.Fatalf("module %v frame %v", m, f)
	}
	base := "file://" + filepath.Join(good, s.CodeID[:2], s.CodeID[2:])
	pdbID := strings.ToLower(breakpadID(objectID{DebugID: s.DebugID}))
	pdbBase := "file://" + filepath.Join(good, pdbID[:2], pdbID[2:])
	want := map[string]string{
		"a-http " + notFound.URL + "/symbols/" + s.CodeID[:2] + "/" + s.CodeID[2:]:            "notfound",
		"a-http " + notFound.URL + "/symbols/" + s.CodeID[:2] + "/" + s.CodeID[2:] + ".debug": "notfound",
		"c-good " + base + "/executable":                                                      "ok",
		"c-good " + base + "/debuginfo":                                                       "ok debug:ok",
		"c-good " + base + "/breakpad":                                                        "notfound",
		"c-good " + base + "/sourcebundle":                                                    "notfound",
		// An ELF module is looked for as a PDB too, plain and compressed;
		// the filtered source allows PDBs only.
		"c-good " + pdbBase + "/debuginfo":                                                      "notfound",
		"c-good " + pdbBase + "/debuginf_":                                                      "notfound",
		"b-filtered " + pdbBase + "/debuginfo":                                                  "notfound",
		"b-filtered " + pdbBase + "/debuginf_":                                                  "notfound",
		"a-http " + notFound.URL + "/symbols/" + s.CodeID[:2] + "/" + s.CodeID[2:] + ".src.zip": "notfound",
	}
	got := candidateStatuses(t, m)
	if len(got) != len(want) {
		t.Errorf("candidates = %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("candidate %s = %q, want %q", k, got[k], v)
		}
	}
	// Candidates come sorted by source, then location.
	cands := arr(t, m["candidates"], "candidates")
	for i := 1; i < len(cands); i++ {
		a, b := obj(t, cands[i-1], "c"), obj(t, cands[i], "c")
		if a["source"].(string) > b["source"].(string) {
			t.Errorf("candidates not sorted by source: %v before %v", a["source"], b["source"])
		}
	}

	t.Run("noperm only", func(t *testing.T) {
		m, f := firstResult(t, postJSON(t, srv.URL+"/symbolicate", sampleRequest(s, s.Syms["main"][0], httpSource("denied", forbidden.URL))))
		if m["debug_status"] != "fetching_failed" || f["status"] != "missing" {
			t.Fatalf("module %v frame %v", m, f)
		}
		for loc, st := range candidateStatuses(t, m) {
			if st != "noperm 403 Forbidden" {
				t.Errorf("candidate %s = %q, want noperm with details", loc, st)
			}
		}
	})
}

func TestReservedAddressesRefused(t *testing.T) {
	s := buildSample(t)
	dir := t.TempDir()
	s.putUnified(t, dir)
	hits := 0
	var mu sync.Mutex
	files := http.FileServer(http.Dir(dir))
	symsrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits++
		mu.Unlock()
		files.ServeHTTP(w, r)
	}))
	defer symsrv.Close()
	src := map[string]any{"type": "http", "id": "loopback", "url": symsrv.URL, "layout": map[string]any{"type": "unified"}}

	_, strict := testService(t, Config{})
	m, _ := firstResult(t, postJSON(t, strict.URL+"/symbolicate", sampleRequest(s, s.Syms["main"][0], src)))
	if m["debug_status"] != "fetching_failed" {
		t.Errorf("debug_status = %v, want fetching_failed", m["debug_status"])
	}
	for loc, st := range candidateStatuses(t, m) {
		if !strings.HasPrefix(st, "error ") || !strings.Contains(st, "reserved address") {
			t.Errorf("candidate %s = %q, want an error naming the reserved address", loc, st)
		}
	}
	if hits != 0 {
		t.Fatalf("the loopback server was contacted %d times", hits)
	}

	_, allowed := testService(t, Config{AllowedHosts: []string{"127.0.0.1"}})
	m, f := firstResult(t, postJSON(t, allowed.URL+"/symbolicate", sampleRequest(s, s.Syms["main"][0], src)))
	if m["debug_status"] != "found" || f["function"] != "main" {
		t.Fatalf("with 127.0.0.1 allowed: module %v frame %v", m, f)
	}
}

// lockedBuffer collects log output from concurrent goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestSentrySourceAndSecrets(t *testing.T) {
	s := buildSample(t)
	const token = "sntrys_SECRET_TOKEN_123"
	const headerSecret = "Basic SECRET_HEADER_456"
	debugInfo, err := os.ReadFile(s.Bin)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var queries []string
	sentry := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		queries = append(queries, r.URL.RawQuery)
		mu.Unlock()
		if r.Header.Get("Authorization") != "Bearer "+token {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		q := r.URL.Query()
		switch {
		case q.Get("id") == "42":
			w.Write(debugInfo)
		case q.Get("debug_id") == s.DebugID:
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`[{"id": "42", "debugId": "` + s.DebugID + `", "objectName": "sample", "symbolType": "elf"}]`))
		default:
			w.Write([]byte(`[]`))
		}
	}))
	defer sentry.Close()
	var headerSeen string
	custom := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		headerSeen = r.Header.Get("Authorization")
		mu.Unlock()
		http.Error(w, "boom", http.StatusInternalServerError)
	}))
	defer custom.Close()

	logs := &lockedBuffer{}
	_, srv := testService(t, Config{AllowLoopback: true, Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	customSrc := httpSource("custom", custom.URL)
	customSrc["headers"] = map[string]any{"Authorization": headerSecret}
	req := sampleRequest(s, s.Syms["main"][0],
		customSrc,
		map[string]any{"type": "sentry", "id": "sentry:project", "url": sentry.URL + "/api/0/projects/org/proj/files/dsyms/?_last_upload=1700000000000", "token": token},
	)
	resp := postJSON(t, srv.URL+"/symbolicate", req)
	m, f := firstResult(t, resp)
	if m["debug_status"] != "found" || f["function"] != "main" {
		t.Fatalf("module %v frame %v", m, f)
	}
	got := candidateStatuses(t, m)
	if got["sentry:project sentry://project_debug_file/42"] != "ok debug:ok" {
		t.Errorf("candidates = %v", got)
	}
	for loc, st := range got {
		if strings.HasPrefix(loc, "custom ") && st != "error download failed: HTTP 500 Internal Server Error" {
			t.Errorf("custom candidate %s = %q", loc, st)
		}
	}
	if headerSeen != headerSecret {
		t.Errorf("the source's header was not sent")
	}
	mu.Lock()
	wantList := "_last_upload=1700000000000&debug_id=" + s.DebugID + "&file_formats=elf_code&file_formats=breakpad&file_formats=mach_debug&file_formats=pdb&file_formats=elf_debug"
	if len(queries) < 2 || queries[0] != wantList || queries[1] != "_last_upload=1700000000000&id=42" {
		t.Errorf("sentry queries = %q, want list %q then download with id=42", queries, wantList)
	}
	mu.Unlock()
	for _, secret := range []string{token, "SECRET_HEADER_456"} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("a secret reached the logs: %s", logs.String())
		}
		if strings.Contains(string(resp.Body), secret) {
			t.Errorf("a secret reached the response: %s", resp.Body)
		}
	}
}

func TestAdjustmentRulesEndToEnd(t *testing.T) {
	s := buildSample(t)
	dir := t.TempDir()
	s.putUnified(t, dir)
	_, srv := testService(t, Config{})
	ep := s.Syms["entry_point"]
	a := ep[0] + ep[1]/2
	abs := testImageAddr + a - s.LoadAddr
	f := func(fr ...map[string]any) map[string]any {
		req := sampleRequest(s, a, fsSource("fs", dir, "unified"))
		frames := []any{}
		for _, x := range fr {
			frames = append(frames, x)
		}
		req["stacktraces"] = []any{map[string]any{"frames": frames}}
		return req
	}
	addrOf := func(t *testing.T, resp response, i int) string {
		st := obj(t, arr(t, resp.JSON["stacktraces"], "st")[0], "st")
		return obj(t, arr(t, st["frames"], "frames")[i], "frame")["instruction_addr"].(string)
	}
	no, yes := false, true
	for _, tc := range []struct {
		name   string
		frames []map[string]any
		want   []uint64
	}{
		{"signal 11 crashing frame as is, caller adjusted",
			[]map[string]any{{"instruction_addr": hexAddr(abs)}, {"instruction_addr": hexAddr(abs)}},
			[]uint64{abs, abs - 1}},
		{"any frame setting it adjusts the frames that do not",
			[]map[string]any{{"instruction_addr": hexAddr(abs)}, {"instruction_addr": hexAddr(abs), "adjust_instruction_addr": no}},
			[]uint64{abs - 1, abs}},
		{"explicit true on the crashing frame",
			[]map[string]any{{"instruction_addr": hexAddr(abs), "adjust_instruction_addr": yes}},
			[]uint64{abs - 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := postJSON(t, srv.URL+"/symbolicate", f(tc.frames...))
			if resp.JSON["status"] != "completed" {
				t.Fatalf("%s", resp.Body)
			}
			for i, w := range tc.want {
				if got := addrOf(t, resp, i); got != hexAddr(w) {
					t.Errorf("frame %d instruction_addr = %s, want %s", i, got, hexAddr(w))
				}
			}
		})
	}
}

func TestConcurrentRequestsShareDownloads(t *testing.T) {
	s := buildSample(t)
	dir := t.TempDir()
	s.putUnified(t, dir)
	var mu sync.Mutex
	hits := map[string]int{}
	files := http.FileServer(http.Dir(dir))
	symsrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits[r.URL.Path]++
		mu.Unlock()
		files.ServeHTTP(w, r)
	}))
	defer symsrv.Close()
	_, srv := testService(t, Config{AllowLoopback: true})
	src := map[string]any{"type": "http", "id": "h", "url": symsrv.URL, "layout": map[string]any{"type": "unified"}}
	var wg sync.WaitGroup
	for i := 0; i < 6; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp := postJSON(t, srv.URL+"/symbolicate", sampleRequest(s, s.Syms["main"][0], src))
			if resp.JSON["status"] != "completed" {
				t.Errorf("request: %s", resp.Body)
			}
		}()
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	for p, n := range hits {
		if n != 1 {
			t.Errorf("%s downloaded %d times; the cache and shared downloads should make it once", p, n)
		}
	}
	if hits["/"+s.CodeID[:2]+"/"+s.CodeID[2:]+"/executable"] != 1 || hits["/"+s.CodeID[:2]+"/"+s.CodeID[2:]+"/debuginfo"] != 1 {
		t.Errorf("downloads = %v, want the executable and the debuginfo once each", hits)
	}
}

func TestModuleStatusesAndFrameOrder(t *testing.T) {
	s := buildSample(t)
	dir := t.TempDir()
	s.putUnified(t, dir)
	_, srv := testService(t, Config{})
	mainAddr := testImageAddr + s.Syms["main"][0] - s.LoadAddr
	req := sampleRequest(s, s.Syms["main"][0], fsSource("fs", dir, "unified"))
	req["modules"] = append(req["modules"].([]any),
		map[string]any{"type": "pe", "debug_id": "3249d99d-0c40-4931-8610-f4e4fb0b6936-1", "code_file": `C:\app.exe`, "image_addr": "0x10000000", "image_size": 4096, "extra": 1},
		map[string]any{"type": "elf", "code_id": "aabbccdd", "image_addr": "0x20000000"},
		map[string]any{"type": "wasm", "image_addr": "0x0"},
	)
	req["options"] = map[string]any{"frame_order": "caller_first"}
	// Caller first: the crashing frame (in main, not adjusted because of
	// signal 11) comes last.
	req["stacktraces"] = []any{map[string]any{"frames": []any{
		map[string]any{"instruction_addr": "0x10000010", "function": "_ZN3app3runEv"},
		map[string]any{"instruction_addr": hexAddr(mainAddr)},
	}}}
	resp := postJSON(t, srv.URL+"/symbolicate", req)
	if resp.JSON["status"] != "completed" {
		t.Fatalf("%s", resp.Body)
	}
	mods := arr(t, resp.JSON["modules"], "modules")
	// The PE module's files are looked for and not found: missing, as
	// Symbolicator answers, although no PE reader exists here.
	for i, want := range []string{"found", "missing", "unused", "unused"} {
		m := obj(t, mods[i], "module")
		if m["debug_status"] != want {
			t.Errorf("modules[%d].debug_status = %v, want %s", i, m["debug_status"], want)
		}
		if _, ok := m["candidates"]; ok {
			t.Errorf("modules[%d] has candidates without dif_candidates", i)
		}
	}
	if m := obj(t, mods[1], "pe"); m["extra"] != float64(1) || m["arch"] != "unknown" || m["image_size"] != float64(4096) {
		t.Errorf("pe module = %v", m)
	}
	if m := obj(t, mods[2], "elf without size"); m["image_size"] != float64(testImageAddr-0x20000000) {
		t.Errorf("a module without size spans to the next one: %v", m)
	}
	if m := obj(t, mods[3], "wasm"); m["image_size"] != float64(0x10000000) {
		t.Errorf("a module without size spans to the next one: %v", m)
	}
	frames := arr(t, obj(t, arr(t, resp.JSON["stacktraces"], "st")[0], "st")["frames"], "frames")
	if len(frames) != 2 {
		t.Fatalf("frames = %v", frames)
	}
	pe, main := obj(t, frames[0], "pe frame"), obj(t, frames[1], "main frame")
	if pe["status"] != "missing" || pe["package"] != `C:\app.exe` || pe["original_index"] != float64(1) {
		t.Errorf("pe frame = %v", pe)
	}
	if pe["function"] != "app::run()" || pe["symbol"] != "_ZN3app3runEv" {
		t.Errorf("an unsymbolicated frame's mangled name is demangled into function: %v", pe)
	}
	if main["status"] != "symbolicated" || main["function"] != "main" || main["original_index"] != float64(0) || main["instruction_addr"] != hexAddr(mainAddr) {
		t.Errorf("main frame = %v", main)
	}
}

func TestHTTPSourceTLSAndCompression(t *testing.T) {
	s := buildSample(t)
	plain, err := os.ReadFile(s.Bin)
	if err != nil {
		t.Fatal(err)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(plain)
	zw.Close()
	tlsSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/"+s.CodeID[:2]+"/"+s.CodeID[2:] {
			w.Write(gz.Bytes()) // served gzip-compressed, as some symbol servers store them
			return
		}
		http.NotFound(w, r)
	}))
	defer tlsSrv.Close()
	_, srv := testService(t, Config{AllowLoopback: true})

	src := httpSource("tls", tlsSrv.URL)
	m, _ := firstResult(t, postJSON(t, srv.URL+"/symbolicate", sampleRequest(s, s.Syms["main"][0], src)))
	if m["debug_status"] != "fetching_failed" {
		t.Errorf("self-signed certificate without accept_invalid_certs: module %v", m)
	}
	for loc, st := range candidateStatuses(t, m) {
		if !strings.Contains(st, "certificate") {
			t.Errorf("candidate %s = %q, want a certificate error", loc, st)
		}
	}

	src["accept_invalid_certs"] = true
	m, f := firstResult(t, postJSON(t, srv.URL+"/symbolicate", sampleRequest(s, s.Syms["main"][0], src)))
	if m["debug_status"] != "found" || f["function"] != "main" {
		t.Errorf("with accept_invalid_certs and a gzip'd file: module %v frame %v", m, f)
	}
}

func TestDownloadSizeLimit(t *testing.T) {
	s := buildSample(t)
	dir := t.TempDir()
	s.putUnified(t, dir)
	files := httptest.NewServer(http.FileServer(http.Dir(dir)))
	defer files.Close()
	_, srv := testService(t, Config{AllowLoopback: true, MaxDownloadBytes: 1024})
	for _, src := range []map[string]any{
		fsSource("fs", dir, "unified"),
		{"type": "http", "id": "http", "url": files.URL, "layout": map[string]any{"type": "unified"}},
	} {
		m, f := firstResult(t, postJSON(t, srv.URL+"/symbolicate", sampleRequest(s, s.Syms["main"][0], src)))
		if m["debug_status"] != "fetching_failed" || f["status"] != "missing" {
			t.Errorf("%s: module %v frame %v", src["id"], m, f)
		}
		for loc, st := range candidateStatuses(t, m) {
			if st == "notfound" {
				continue // a file type the sample does not have
			}
			if st != "error file exceeds the download limit of 1024 bytes" {
				t.Errorf("%s: candidate %s = %q", src["id"], loc, st)
			}
		}
	}
}

// TestUnreadableModuleTypes: modules whose files are not there are looked
// for everywhere (Symbolicator answers missing, with a candidate for every
// place probed), a source whose filters exclude the module still shows up
// as a candidate, and a file that is there but broken makes the module
// malformed, though its compressed name was looked for first.
func TestUnreadableModuleTypes(t *testing.T) {
	dir := t.TempDir()
	_, srv := testService(t, Config{})
	filtered := fsSource("b-filtered", dir, "native")
	filtered["filters"] = map[string]any{"filetypes": []any{"elf_code"}}
	for _, tc := range []struct {
		name   string
		module map[string]any
		put    string // a file placed at this native-layout path, if any
		status string
		want   []string // candidate locations of source a-native, relative to dir
	}{
		{"pe", map[string]any{"type": "pe", "code_id": "5ab380779000", "debug_id": "3249d99d-0c40-4931-8610-f4e4fb0b6936-1",
			"code_file": `C:\build\crash.exe`, "debug_file": `C:\build\crash.pdb`}, "", "missing",
			[]string{"crash.exe/5AB380779000/crash.exe", "crash.exe/5AB380779000/crash.ex_", "crash.pdb/3249D99D0C4049318610F4E4FB0B69361/crash.pdb",
				"crash.pdb/3249D99D0C4049318610F4E4FB0B69361/crash.pd_", "crash.pdb/3249D99D0C4049318610F4E4FB0B69361/crash.sym", "5a/b380779000.debug"}},
		{"wasm", map[string]any{"type": "wasm", "code_id": "67e9247c814e392ba027dbde6748fcbf", "debug_id": "67e9247c-814e-392b-a027-dbde6748fcbf"}, "", "missing",
			[]string{"67/e9247c814e392ba027dbde6748fcbf", "67/e9247c814e392ba027dbde6748fcbf.debug"}},
		{"pe malformed", map[string]any{"type": "pe", "code_id": "5ab380779001", "debug_id": "3249d99d-0c40-4931-8610-f4e4fb0b6937-1",
			"code_file": `C:\build\other.exe`, "debug_file": `C:\build\other.pdb`}, "other.exe/5AB380779001/other.exe", "malformed",
			[]string{"other.exe/5AB380779001/other.exe", "other.exe/5AB380779001/other.ex_", "other.pdb/3249D99D0C4049318610F4E4FB0B69371/other.pdb",
				"other.pdb/3249D99D0C4049318610F4E4FB0B69371/other.pd_", "other.pdb/3249D99D0C4049318610F4E4FB0B69371/other.sym", "5a/b380779001.debug"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.put != "" {
				p := filepath.Join(dir, filepath.FromSlash(tc.put))
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, append([]byte("MZ"), make([]byte, 510)...), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			mod := map[string]any{"image_addr": "0x10000000", "image_size": 4096}
			for k, v := range tc.module {
				mod[k] = v
			}
			req := map[string]any{
				"sources":     []any{fsSource("a-native", dir, "native"), filtered},
				"options":     map[string]any{"dif_candidates": true},
				"stacktraces": []any{map[string]any{"frames": []any{map[string]any{"instruction_addr": "0x10000010"}}}},
				"modules":     []any{mod},
			}
			m, f := firstResult(t, postJSON(t, srv.URL+"/symbolicate", req))
			if wantFrame := map[string]string{"malformed": "malformed"}[tc.status]; m["debug_status"] != tc.status || f["status"] != cmp.Or(wantFrame, "missing") {
				t.Errorf("module %v frame %v, want debug_status %s", m, f, tc.status)
			}
			want := map[string]string{"b-filtered No object files listed on this source": "notfound"}
			for _, loc := range tc.want {
				st := "notfound"
				if loc == tc.put {
					st = "malformed" // an "MZ" and zeros: no PE image
				}
				want["a-native file://"+filepath.Join(dir, filepath.FromSlash(loc))] = st
			}
			if got := candidateStatuses(t, m); !reflect.DeepEqual(got, want) {
				t.Errorf("candidates = %v\nwant %v", got, want)
			}
		})
	}
}
