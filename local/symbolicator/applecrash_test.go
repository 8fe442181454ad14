package symbolicator

import (
	"bytes"
	"fmt"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"testing"
)

// TestAppleCrashReportEndToEnd symbolicates an Apple crash report against
// a Mach-O file found through the native (lldb) layout: the report's
// binary image becomes the module, its crashed thread the requesting stack
// trace, and the frame in the image is named from the file's DWARF; a
// frame outside every image keeps the report's image name as package.
func TestAppleCrashReportEndToEnd(t *testing.T) {
	requireTool(t, "clang")
	dir := t.TempDir()
	src := filepath.Join(dir, "m.c")
	code := "__attribute__((noinline)) int compute(int x) { return x * 3 + 1; }\n"
	if err := os.WriteFile(src, []byte(code), 0o644); err != nil {
		t.Fatal(err)
	}
	objPath := filepath.Join(dir, "m.o")
	run(t, "clang", "-target", "arm64-apple-macos11", "-O2", "-g", "-c", src, "-o", objPath)
	const uuid = "67e9247c-814e-392b-a027-dbde6748fcbf"
	symdir := t.TempDir()
	copyFile(t, objPath, filepath.Join(symdir, "67E9/247C/814E/392B/A027/DBDE6748FCBF"))

	report := fmt.Sprintf(`Incident Identifier: 0B8D2F6A-4C1E-4E3B-9A7D-5F2C8E1B6A40
Hardware Model:      MacBookPro18,1
Process:         M [1733]
Path:            /Applications/M.app/M
Code Type:       ARM-64 (Native)
Date/Time:       2020-05-02 16:38:09.075 +0200
OS Version:      Mac OS X 10.15.4 (19E287)
Report Version:  104

Exception Type:  EXC_BAD_ACCESS (SIGSEGV)
Exception Codes: KERN_INVALID_ADDRESS at 0x0000000000000000
Crashed Thread:  0

Thread 0 Crashed:
0   M                             	0x0000000100000004 compute + 4
1   libdyld.dylib                 	0x00000001b3f01800 start + 4

Binary Images:
0x100000000 - 0x100000fff +M arm64  <%s> /Applications/M.app/M
`, "67e9247c814e392ba027dbde6748fcbf")
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	mw.WriteField("platform", `"cocoa"`)
	mw.WriteField("sources", fmt.Sprintf(`[{"type":"filesystem","id":"fs","path":%q,"layout":{"type":"native"}}]`, symdir))
	fw, _ := mw.CreateFormFile("apple_crash_report", "crash.crash")
	fw.Write([]byte(report))
	mw.Close()
	_, srv := testService(t, Config{})
	resp := doRequest(t, http.MethodPost, srv.URL+"/applecrashreport", mw.FormDataContentType(), buf.Bytes())
	if resp.Status != 200 || resp.JSON["status"] != "completed" {
		t.Fatalf("status %d: %s", resp.Status, resp.Body)
	}
	for k, want := range map[string]any{"crashed": true, "crash_reason": "EXC_BAD_ACCESS (SIGSEGV)", "crash_details": "KERN_INVALID_ADDRESS at 0x0000000000000000"} {
		if resp.JSON[k] != want {
			t.Errorf("%s = %v, want %v", k, resp.JSON[k], want)
		}
	}
	si := obj(t, resp.JSON["system_info"], "system_info")
	if si["os_name"] != "macOS" || si["os_version"] != "10.15.4" || si["os_build"] != "19E287" || si["cpu_arch"] != "arm64" || si["device_model"] != "MacBookPro18,1" {
		t.Errorf("system_info = %v", si)
	}
	m := obj(t, arr(t, resp.JSON["modules"], "modules")[0], "module")
	if m["debug_status"] != "found" || m["debug_id"] != uuid || m["code_file"] != "/Applications/M.app/M" || m["image_size"] != float64(0xfff) {
		t.Errorf("module = %v", m)
	}
	st := obj(t, arr(t, resp.JSON["stacktraces"], "stacktraces")[0], "thread")
	if st["is_requesting"] != true || st["thread_id"] != float64(0) {
		t.Errorf("thread = %v", st)
	}
	frames := arr(t, st["frames"], "frames")
	f0 := obj(t, frames[0], "frame 0")
	// Named by the first code symbol at the function's address, as symbolic
	// names it: in a clang object that is the section's label.
	if f0["status"] != "symbolicated" || f0["function"] != firstSymbolAt(t, objPath, 0) || f0["lineno"] != float64(1) || f0["package"] != "/Applications/M.app/M" {
		t.Errorf("frame 0 = %v", f0)
	}
	last := obj(t, frames[len(frames)-1], "outside frame")
	if last["status"] != "unknown_image" || last["package"] != "libdyld.dylib" {
		t.Errorf("frame outside every image = %v", last)
	}
}
