package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestServeAndDebugFiles runs `symflow serve` on a free loopback port and
// drives it as the README does: store the sample project, upload its debug
// file with `symflow debug-files upload`, submit the sample payload, poll
// the status URL, read the result.
func TestServeAndDebugFiles(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	state := t.TempDir()
	go func() {
		done <- dispatch(ctx, []string{"serve", "--listen", "127.0.0.1:0", "--state-dir", state, "--crash-dir", filepath.Join(state, "crashes-dir")}, pw, io.Discard)
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
	if !strings.HasPrefix(base, "http://127.0.0.1:") {
		t.Fatalf("serve printed %q", line)
	}

	do := func(method, url string, body []byte) (int, []byte) {
		req, _ := http.NewRequest(method, url, bytes.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	project, _ := os.ReadFile("../../events/project/sample-project.json")
	if code, body := do("PUT", base+"/v1/projects/42/config", project); code != 201 {
		t.Fatalf("config: %d %s", code, body)
	}

	var out bytes.Buffer
	err = dispatch(ctx, []string{"debug-files", "upload", "--project", "42", "--api", base, "../../events/debug-files/crashy", "../../events/debug-files/crashy.c"}, &out, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "1 of 2 files not uploaded") {
		t.Errorf("upload of a debug file and a source file: %v", err)
	}
	if !strings.Contains(out.String(), "-> s3://symflow-debug-files/42/7b/0672f0346e9b1e7f306a8aa55e53b6b67611e2/debuginfo") ||
		!strings.Contains(out.String(), "crashy.c\trejected: not a debug file: not an ELF or Mach-O file") {
		t.Errorf("upload output:\n%s", out.String())
	}

	// A file over the request limit goes through presigned upload URLs.
	big := filepath.Join(t.TempDir(), "big")
	src := big + ".c"
	os.WriteFile(src, []byte("char table[5<<20] = {1};\nint main(void) { return table[7]; }\n"), 0o644)
	if out, err := exec.Command("gcc", "-g", "-Wl,--build-id", "-o", big, src).CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	out.Reset()
	if err := dispatch(ctx, []string{"debug-files", "upload", "--project", "42", "--api", base, big}, &out, io.Discard); err != nil {
		t.Fatalf("upload of a large file: %v\n%s", err, out.String())
	}
	if strings.Count(out.String(), "(presigned)") != 2 {
		t.Errorf("large upload output:\n%s", out.String())
	}
	key := strings.Fields(strings.SplitN(out.String(), "-> s3://symflow-debug-files/", 2)[1])[0]
	if fi, err := os.Stat(filepath.Join(state, "s3", "symflow-debug-files", filepath.FromSlash(key))); err != nil || fi.Size() < 5<<20 {
		t.Errorf("presigned upload did not store the file: %v", err)
	}

	var in struct {
		EventID string          `json:"event_id"`
		Payload json.RawMessage `json:"payload"`
	}
	data, _ := os.ReadFile("../../events/execution/native-crash.json")
	json.Unmarshal(data, &in)
	code, body := do("POST", base+"/v1/projects/42/events/"+in.EventID+"/symbolicate", in.Payload)
	if code != 202 {
		t.Fatalf("submit: %d %s", code, body)
	}
	var sub struct {
		StatusURL string `json:"status_url"`
	}
	json.Unmarshal(body, &sub)
	var st struct {
		Status  string `json:"status"`
		Summary struct {
			Top []string `json:"crashing_thread_top"`
		} `json:"summary"`
	}
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(50 * time.Millisecond) {
		code, body = do("GET", sub.StatusURL, nil)
		json.Unmarshal(body, &st)
		if code != 200 || st.Status != "RUNNING" || time.Now().After(deadline) {
			break
		}
	}
	if st.Status != "SUCCEEDED" || len(st.Summary.Top) == 0 || st.Summary.Top[0] != "checked_limit" {
		t.Errorf("execution: %d %s", code, body)
	}
}

func TestExecuteAPIRegion(t *testing.T) {
	for host, want := range map[string]string{
		"a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com":     "eu-west-1",
		"a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com:443": "eu-west-1",
		"127.0.0.1:8080":          "",
		"api.symflow.example.com": "",
	} {
		if got := executeAPIRegion(host); got != want {
			t.Errorf("executeAPIRegion(%q) = %q, want %q", host, got, want)
		}
	}
}
