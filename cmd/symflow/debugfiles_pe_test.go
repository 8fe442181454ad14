package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/symflow/symflow/shared/api"
)

// TestDebugFilesWindowsAndWasm: `symflow debug-files identify` and
// `upload` handle PE images, PDBs and wasm modules; a PE image over the
// request limit (the same image with an overlay of zeros, which changes
// no identifier) goes through presigned URLs and lands under the same
// key.
func TestDebugFilesWindowsAndWasm(t *testing.T) {
	const fixtures = "../../shared/debugfile/testdata/"
	var out bytes.Buffer
	if err := dispatch(context.Background(), []string{"debug-files", "identify", fixtures + "prog.exe", fixtures + "prog.pdb", fixtures + "mod.wasm"}, &out, io.Discard); err != nil {
		t.Fatalf("identify: %v\n%s", err, out.String())
	}
	for _, want := range []string{
		"prog.exe\tpe x86_64 executable code_id=281384574000 debug_id=859cd5a7-6121-f14b-4c4c-44205044422e-1 debug_file=\"prog.pdb\"\n",
		"prog.pdb\tpdb x86_64 debuginfo code_id= debug_id=859cd5a7-6121-f14b-4c4c-44205044422e-1\n",
		"mod.wasm\twasm wasm32 both code_id=bda18fd85d4a4eb893022d6bfad846b1 debug_id=bda18fd8-5d4a-4eb8-9302-2d6bfad846b1\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("identify output lacks %q:\n%s", want, out.String())
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	state := t.TempDir()
	go func() {
		done <- dispatch(ctx, []string{"serve", "--listen", "127.0.0.1:0", "--state-dir", state}, pw, io.Discard)
		pw.Close()
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("serve printed nothing: %v", err)
	}
	go io.Copy(io.Discard, pr)
	base := strings.Fields(strings.TrimPrefix(line, "symflow API on "))[0]
	project, _ := os.ReadFile("../../events/project/sample-project.json")
	var created any
	if err := call(ctx, &client{http: http.DefaultClient}, "PUT", base+"/v1/projects/42/config", "application/json", project, &created); err != nil {
		t.Fatalf("config: %v", err)
	}

	exe, err := os.ReadFile(fixtures + "prog.exe")
	if err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(t.TempDir(), "big.exe")
	os.WriteFile(big, append(exe, make([]byte, api.DefaultMaxDebugFileBytes)...), 0o644)
	out.Reset()
	if err := dispatch(ctx, []string{"debug-files", "upload", "--project", "42", "--api", base, fixtures + "prog.pdb", fixtures + "mod.wasm", big}, &out, io.Discard); err != nil {
		t.Fatalf("upload: %v\n%s", err, out.String())
	}
	const breakpad = "42/85/9cd5a76121f14b4c4c44205044422e1/"
	for _, want := range []string{
		"-> s3://symflow-debug-files/" + breakpad + "debuginfo\n",
		"-> s3://symflow-debug-files/42/bd/a18fd85d4a4eb893022d6bfad846b1/executable\n",
		"-> s3://symflow-debug-files/42/bd/a18fd85d4a4eb893022d6bfad846b1/debuginfo\n",
		"-> s3://symflow-debug-files/" + breakpad + "executable (presigned)\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("upload output lacks %q:\n%s", want, out.String())
		}
	}
	if fi, err := os.Stat(filepath.Join(state, "s3", "symflow-debug-files", filepath.FromSlash(breakpad+"executable"))); err != nil || fi.Size() <= int64(api.DefaultMaxDebugFileBytes) {
		t.Errorf("presigned upload did not store the image: %v", err)
	}
}
