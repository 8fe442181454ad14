//go:build linux

package symbolicator

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/symflow/symflow/internal/netns"
)

// debuginfod (elfutils 0.188) has no option to choose its listening
// address: it binds every interface. The test therefore runs it in a
// private network namespace (internal/netns) whose only interface is its
// own loopback, and reaches it through the namespace relay's unix socket:
// nothing listens on the host's interfaces.

func TestMain(m *testing.M) {
	// The test binary, re-executed, is the namespace relay.
	netns.RelayMain()
	os.Exit(m.Run())
}

// startDebuginfod runs debuginfod over scanDir in its own network
// namespace and returns an HTTP client whose connections reach it.
func startDebuginfod(t *testing.T, scanDir string) *http.Client {
	t.Helper()
	debuginfod := requireTool(t, "debuginfod")
	s, err := netns.Start(context.Background(), netns.Command{
		Path: debuginfod,
		Args: []string{"-F", "-p", netns.PortPlaceholder, "-d", filepath.Join(t.TempDir(), "debuginfod.sqlite"),
			"-t", "0", "-g", "0", "-c", "1", scanDir},
		Probe:   netns.Probe{HTTPPath: "/metrics", Status: http.StatusOK},
		Timeout: 30 * time.Second,
	})
	if err != nil {
		t.Fatalf("start debuginfod: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("stop debuginfod: %v", err)
		}
	})
	return s.HTTPClient()
}

func TestDebuginfodSource(t *testing.T) {
	s := buildSample(t)
	scan := t.TempDir()
	// A stripped executable and its separate debug info, as a distribution
	// ships them.
	copyFile(t, s.Stripped, filepath.Join(scan, "sample"))
	copyFile(t, s.DebugInfo, filepath.Join(scan, "sample.debug"))
	client := startDebuginfod(t, scan)

	// Wait for debuginfod's scan to index both files.
	const base = "http://debuginfod.invalid/buildid/"
	deadline := time.Now().Add(90 * time.Second)
	for _, kind := range []string{"debuginfo", "executable"} {
		for {
			resp, err := client.Get(base + s.CodeID + "/" + kind)
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 200 {
					break
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("debuginfod did not index %s of %s in time (last error %v)", kind, s.CodeID, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}

	_, srv := testService(t, Config{HTTPClient: client})
	src := map[string]any{"type": "http", "id": "debuginfod", "url": base, "layout": map[string]any{"type": "debuginfod"}}
	inlineAddr, chain := findInlineAddr(t, s)
	resp := postJSON(t, srv.URL+"/symbolicate", sampleRequest(s, inlineAddr, src))
	m, _ := firstResult(t, resp)
	if m["debug_status"] != "found" || m["arch"] != s.Arch {
		t.Fatalf("module = %v", m)
	}
	got := candidateStatuses(t, m)
	want := map[string]string{
		"debuginfod " + base + s.CodeID + "/debuginfo":  "ok debug:ok",
		"debuginfod " + base + s.CodeID + "/executable": "ok",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("candidate %s = %q, want %q (all: %v)", k, got[k], v, got)
		}
	}
	frames := arr(t, obj(t, arr(t, resp.JSON["stacktraces"], "st")[0], "st")["frames"], "frames")
	checkChain(t, frames, 0, chain, 0, hexAddr(testImageAddr+inlineAddr-s.LoadAddr))
	// Source context from debuginfod's /source endpoint: the server reads
	// the file the DWARF names.
	text, err := os.ReadFile(filepath.Join(s.Dir, "sample.c"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(text), "\n")
	for i, f := range frames {
		f := obj(t, f, "frame")
		line := int(f["lineno"].(float64))
		if f["context_line"] != lines[line-1] {
			t.Errorf("frames[%d].context_line = %q, want line %d of sample.c, %q", i, f["context_line"], line, lines[line-1])
		}
		if pre, _ := f["pre_context"].([]any); line > 1 && (len(pre) == 0 || pre[len(pre)-1] != lines[line-2]) {
			t.Errorf("frames[%d].pre_context = %q", i, pre)
		}
	}

	// A build id debuginfod does not know is a plain miss.
	other := *s
	other.CodeID = strings.Repeat("ab", 20)
	other.DebugID = ""
	m, f := firstResult(t, postJSON(t, srv.URL+"/symbolicate", sampleRequest(&other, inlineAddr, src)))
	if m["debug_status"] != "missing" || f["status"] != "missing" {
		t.Errorf("unknown build id: module %v frame %v", m, f)
	}
}
