package symbolicator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/http"
	"os"
	"strings"
	"testing"
)

// minidumpBody is a /minidump form as Sentry sends it: JSON text fields,
// then the dump.
func minidumpBody(t testing.TB, dump []byte, sources string) ([]byte, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	mw.WriteField("platform", `"native"`)
	mw.WriteField("sources", sources)
	mw.WriteField("options", `{"dif_candidates": true}`)
	fw, err := mw.CreateFormFile("upload_file_minidump", "crash.dmp")
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(dump)
	mw.Close()
	return buf.Bytes(), mw.FormDataContentType()
}

// TestMinidumpRustMinidumpFixture walks rust-minidump's linux-mini.dmp
// (Breakpad's Linux client, no symbols anywhere) and compares with the
// walk rust-minidump recorded for it: the same frames, addresses and
// trust, and the crash, system and module fields Symbolicator reports.
func TestMinidumpRustMinidumpFixture(t *testing.T) {
	dump, err := os.ReadFile("testdata/minidump/linux-mini.dmp")
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		CrashingThread struct {
			Frames []struct {
				Offset string `json:"offset"`
				Trust  string `json:"trust"`
				Module string `json:"module"`
			} `json:"frames"`
		} `json:"crashing_thread"`
	}
	raw, err := os.ReadFile("testdata/minidump/linux-mini.rust-minidump.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &ref); err != nil {
		t.Fatal(err)
	}
	_, srv := testService(t, Config{})
	body, ct := minidumpBody(t, dump, `[]`)
	resp := doRequest(t, http.MethodPost, srv.URL+"/minidump", ct, body)
	if resp.Status != 200 || resp.JSON["status"] != "completed" {
		t.Fatalf("status %d: %s", resp.Status, resp.Body)
	}
	if os.Getenv("SYMFLOW_TEST_DUMP") != "" {
		t.Logf("%s", resp.Body)
	}
	for k, want := range map[string]any{"crashed": true, "crash_reason": "SIGSEGV / 0x45", "assertion": "", "timestamp": float64(1522061032)} {
		if resp.JSON[k] != want {
			t.Errorf("%s = %v, want %v", k, resp.JSON[k], want)
		}
	}
	si := obj(t, resp.JSON["system_info"], "system_info")
	for k, want := range map[string]string{"os_name": "Linux", "os_version": "4.9.60-linuxkit-aufs", "os_build": "#1 SMP Mon Nov 6 16:00:12 UTC 2017", "cpu_arch": "x86_64", "device_model": ""} {
		if si[k] != want {
			t.Errorf("system_info.%s = %v, want %q", k, si[k], want)
		}
	}
	st := obj(t, arr(t, resp.JSON["stacktraces"], "stacktraces")[0], "thread")
	if st["thread_id"] != float64(1304) || st["is_requesting"] != true {
		t.Errorf("thread = %v", st)
	}
	if regs := obj(t, st["registers"], "registers"); regs["rip"] != "0x401d72" || regs["rsp"] != "0x7fff5ae4aa20" || len(regs) != 17 {
		t.Errorf("registers = %v", regs)
	}
	frames := arr(t, st["frames"], "frames")
	if len(frames) != len(ref.CrashingThread.Frames) {
		t.Fatalf("%d frames, rust-minidump walked %d", len(frames), len(ref.CrashingThread.Frames))
	}
	for i, rf := range ref.CrashingThread.Frames {
		f := obj(t, frames[i], "frame")
		var off uint64
		fmt.Sscanf(rf.Offset, "0x%x", &off)
		// rust-minidump prints a caller's instruction (return address - 1);
		// Symbolicator answers with the return address itself.
		if i > 0 {
			off++
		}
		if f["instruction_addr"] != formatHex(off) || f["trust"] != rf.Trust || f["status"] != "missing" {
			t.Errorf("frames[%d] = %v, want %s %s", i, f, formatHex(off), rf.Trust)
		}
		if pkg, _ := f["package"].(string); !strings.HasSuffix(pkg, "/"+rf.Module) {
			t.Errorf("frames[%d].package = %v, want …/%s", i, f["package"], rf.Module)
		}
	}
	mods := arr(t, resp.JSON["modules"], "modules")
	statuses := map[string]string{}
	for _, m := range mods {
		m := obj(t, m, "module")
		statuses[m["code_file"].(string)] = m["debug_status"].(string) + "/" + m["unwind_status"].(string)
	}
	// As Symbolicator answers for this dump (its recorded snapshot).
	want := map[string]string{
		"/work/linux/build/crash": "missing/missing", "/lib/x86_64-linux-gnu/libm-2.23.so": "unused/unused",
		"/lib/x86_64-linux-gnu/libc-2.23.so": "missing/missing", "/lib/x86_64-linux-gnu/libgcc_s.so.1": "unused/unused",
		"/usr/lib/x86_64-linux-gnu/libstdc++.so.6.0.21": "unused/unused", "/lib/x86_64-linux-gnu/libpthread-2.23.so": "unused/unused",
		"/lib/x86_64-linux-gnu/ld-2.23.so": "missing/missing", "linux-gate.so": "unused/unused",
	}
	if fmt.Sprint(statuses) != fmt.Sprint(want) {
		t.Errorf("module statuses = %v\nwant %v", statuses, want)
	}
}

// TestMinidumpMalformed: broken dumps end in a failed answer that says
// what is wrong, or, when only a stream the walk does not need is broken,
// in a completed one; never a crash or a hang.
func TestMinidumpMalformed(t *testing.T) {
	good, err := os.ReadFile("testdata/minidump/linux-mini.dmp")
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string][]byte{
		"empty":       {},
		"not a dump":  []byte("this is not a minidump at all"),
		"header only": good[:32],
		"truncated":   good[:len(good)/3],
	}
	for _, name := range []string{"invalid-parameter", "invalid-range", "invalid-record-count"} {
		b, err := os.ReadFile("testdata/minidump/" + name + ".dmp")
		if err != nil {
			t.Fatal(err)
		}
		cases[name] = b
	}
	_, srv := testService(t, Config{})
	for name, dump := range cases {
		t.Run(name, func(t *testing.T) {
			body, ct := minidumpBody(t, dump, `[]`)
			resp := doRequest(t, http.MethodPost, srv.URL+"/minidump", ct, body)
			if resp.Status != 200 {
				t.Fatalf("status %d: %s", resp.Status, resp.Body)
			}
			switch resp.JSON["status"] {
			case "failed":
				if msg, _ := resp.JSON["message"].(string); !strings.HasPrefix(msg, "invalid minidump: ") || len(msg) < 25 {
					t.Errorf("message = %q, want one saying what is wrong", msg)
				}
			case "completed":
				if _, ok := resp.JSON["stacktraces"].([]any); !ok {
					t.Errorf("completed without stacktraces: %s", resp.Body)
				}
			default:
				t.Errorf("answer %s", resp.Body)
			}
			t.Logf("%s: %.200s", name, resp.Body)
		})
	}
}
