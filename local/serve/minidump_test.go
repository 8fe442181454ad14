package serve_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/symflow/symflow/local/serve"
	"github.com/symflow/symflow/local/stack"
	"github.com/symflow/symflow/shared/api"
)

// crashpadUpload builds an upload as Crashpad's handler sends it
// (CrashReportUploadThread with HTTPMultipartBuilder): boundary
// "---MultipartBoundary-<32 letters and digits>---", the text fields sorted
// by name, then the files sorted by field name, the dump as
// upload_file_minidump named <report uuid>.dmp with Content-Type
// application/octet-stream, CRLF line ends, the body gzipped.
func crashpadUpload(fields map[string]string, reportID string, dump []byte) (body []byte, contentType string) {
	boundary := "---MultipartBoundary-0123456789abcdefghijABCDEFGHIJkl---"
	var b bytes.Buffer
	names := make([]string, 0, len(fields))
	for n := range fields {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(&b, "--%s\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n%s\r\n", boundary, n, fields[n])
	}
	fmt.Fprintf(&b, "--%s\r\nContent-Disposition: form-data; name=\"upload_file_minidump\"; filename=\"%s.dmp\"\r\nContent-Type: application/octet-stream\r\n\r\n", boundary, reportID)
	b.Write(dump)
	fmt.Fprintf(&b, "\r\n--%s--\r\n", boundary)
	var z bytes.Buffer
	w := gzip.NewWriter(&z)
	w.Write(b.Bytes())
	w.Close()
	return z.Bytes(), "multipart/form-data; boundary=" + boundary
}

// prepare stores the sample project and its debug file and makes an
// upload key, as the README does.
func prepare(t *testing.T, base string) string {
	t.Helper()
	if code, body := call(t, "PUT", base+"/v1/projects/42/config", "application/json", readFile(t, "events/project/sample-project.json")); code != 201 {
		t.Fatalf("config: %d %s", code, body)
	}
	if code, body := call(t, "POST", base+"/v1/projects/42/debug-files", "application/octet-stream", readFile(t, "events/debug-files/crashy")); code != 201 {
		t.Fatalf("debug file: %d %s", code, body)
	}
	code, body := call(t, "POST", base+"/v1/projects/42/config/upload-key", "", nil)
	if code != 201 {
		t.Fatalf("upload key: %d %s", code, body)
	}
	var k api.UploadKeyCreated
	if err := json.Unmarshal(body, &k); err != nil || k.UploadKey == "" || !strings.HasPrefix(k.MinidumpURL, base+"/v1/projects/42/minidump?key=") {
		t.Fatalf("upload key answer %s", body)
	}
	return k.UploadKey
}

// waitExecution polls the status URL until the execution has finished.
func waitExecution(t *testing.T, base, name string) api.ExecutionStatus {
	t.Helper()
	var st api.ExecutionStatus
	deadline := time.Now().Add(2 * time.Minute)
	for {
		code, body := call(t, "GET", base+"/v1/executions/"+name, "", nil)
		st = api.ExecutionStatus{}
		json.Unmarshal(body, &st)
		if code == 200 && st.Status != "RUNNING" {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("execution %s: %d %s", name, code, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func checkFrames(t *testing.T, st api.ExecutionStatus) {
	t.Helper()
	if st.Status != "SUCCEEDED" {
		t.Fatalf("execution %s: %+v", st.Status, st.Failure)
	}
	if st.Kind != "minidump" || st.Summary == nil || len(st.Summary.CrashingFunctions) == 0 || st.Summary.CrashingFunctions[0] != "checked_limit" {
		t.Errorf("summary %+v", st.Summary)
	}
	for _, fn := range []string{`"function":"checked_limit"`, `"function":"parse_limits"`, `"function":"main"`} {
		if !bytes.Contains(st.Result, []byte(fn)) {
			t.Errorf("result lacks %s", fn)
		}
	}
}

// TestMinidumpUploadEndToEnd posts the sample crash over HTTP exactly as
// Crashpad would: the answer is the report id, the dump lands in the local
// crash bucket, one execution walks it with the project's debug file and
// names the crashing functions. Crashpad's retry of the same report finds
// the same execution.
func TestMinidumpUploadEndToEnd(t *testing.T) {
	st, err := stack.Start(context.Background(), stack.Options{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	var logs lockedBuffer
	svc := serve.New(st, serve.Options{PollInterval: 50 * time.Millisecond, Log: slog.New(slog.NewTextHandler(&logs, nil))})
	srv := httptest.NewServer(svc.Gateway)
	t.Cleanup(func() { srv.Close(); svc.Close(); st.Close() })
	key := prepare(t, srv.URL)
	dump := readFile(t, "events/crash-upload/crashy.dmp")
	const report = "4b3c2a1f-0e9d-4c8b-a7f6-e5d4c3b2a190"
	const eventID = "4b3c2a1f0e9d4c8ba7f6e5d4c3b2a190"
	body, ct := crashpadUpload(map[string]string{"prod": "crashy", "ver": "1.0.0", "plat": "Linux", "guid": "8f14e45f-ceea-467e-a9b8-1d4e1c3b6a7d"}, report, dump)
	post := func() (int, http.Header, []byte) {
		req, _ := http.NewRequest("POST", srv.URL+"/v1/projects/42/minidump?key="+key, bytes.NewReader(body))
		req.Header.Set("Content-Type", ct)
		req.Header.Set("Content-Encoding", "gzip")
		req.Header.Set("User-Agent", "Crashpad/0.8.0")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, out
	}
	code, hdr, answer := post()
	if code != 200 || string(answer) != eventID || !strings.HasPrefix(hdr.Get("Content-Type"), "text/plain") {
		t.Fatalf("upload: %d %q %v", code, answer, hdr)
	}
	stored, err := os.ReadFile(filepath.Join(st.StateDir, "s3", stack.CrashBucket, "crashes", "42", eventID+".dmp"))
	if err != nil || !bytes.Equal(stored, dump) {
		t.Fatalf("dump in the crash bucket: %d bytes, %v", len(stored), err)
	}
	checkFrames(t, waitExecution(t, srv.URL, "42_"+eventID))
	if code, _, again := post(); code != 200 || string(again) != eventID {
		t.Errorf("retry: %d %q", code, again)
	}
	// The crash bucket's watcher (the S3 trigger's path) sees the object
	// and finds its execution: it is not announced, and there is one
	// execution in all.
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(logs.String(), "crash file already has its execution; not announced again"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the crash bucket's watcher never looked at the dump:\n%s", logs.String())
		}
	}
	if names := svc.Executor.Names(); len(names) != 1 || names[0] != "42_"+eventID {
		t.Errorf("executions %v, want the one", names)
	}
	if strings.Contains(logs.String(), key) {
		t.Error("the upload key is in the log")
	}
}

// lockedBuffer collects log lines written from several goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestMinidumpCurl is the README's curl session: curl -F with the sample
// dump, as text and as JSON.
func TestMinidumpCurl(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Fatal("curl is not installed: run make deps")
	}
	_, _, srv := start(t, "")
	key := prepare(t, srv.URL)
	dumpPath := filepath.Join(root, "events/crash-upload/crashy.dmp")
	sum := sha256.Sum256(readFile(t, "events/crash-upload/crashy.dmp"))
	eventID := hex.EncodeToString(sum[:16]) // no report id in "crashy.dmp": the content names the event
	out, err := exec.Command(curl, "-s", "-F", "upload_file_minidump=@"+dumpPath, "-F", "prod=crashy", "-F", "ver=1.0.0", srv.URL+"/v1/projects/42/minidump?key="+key).CombinedOutput()
	if err != nil || string(out) != eventID {
		t.Fatalf("curl: %v %q, want %s", err, out, eventID)
	}
	out, err = exec.Command(curl, "-s", "-H", "Accept: application/json", "-F", "upload_file_minidump=@"+dumpPath, srv.URL+"/api/42/minidump/?sentry_key="+key).CombinedOutput()
	var got api.MinidumpUploaded
	if err != nil || json.Unmarshal(out, &got) != nil || got.EventID != eventID || got.Created || got.ExecutionID != "42_"+eventID || got.EventIDFrom != "content" {
		t.Errorf("curl again, JSON: %v %s", err, out)
	}
	checkFrames(t, waitExecution(t, srv.URL, "42_"+eventID))
	out, _ = exec.Command(curl, "-s", "-w", " %{http_code}", "-F", "upload_file_minidump=@"+filepath.Join(root, "events/debug-files/crashy.c"), srv.URL+"/v1/projects/42/minidump?key="+key).CombinedOutput()
	if !strings.HasSuffix(string(out), " 400") || !strings.Contains(string(out), `"field":"upload_file_minidump"`) {
		t.Errorf("curl with a C file: %s", out)
	}
}

// recordingBody notes whether anything read it.
type recordingBody struct {
	r    io.Reader
	read bool
}

func (b *recordingBody) Read(p []byte) (int, error) { b.read = true; return b.r.Read(p) }
func (b *recordingBody) Close() error               { return nil }

// TestGatewayPrecheck: an upload without a valid key, or declaring a body
// over the limit, is answered without its body being read.
func TestGatewayPrecheck(t *testing.T) {
	_, svc, srv := start(t, "")
	key := prepare(t, srv.URL)
	body, ct := crashpadUpload(nil, "4b3c2a1f-0e9d-4c8b-a7f6-e5d4c3b2a190", readFile(t, "events/crash-upload/crashy.dmp"))
	for _, tc := range []struct {
		name, query string
		length      int64
		status      int
		read        bool
	}{
		{"no key", "", int64(len(body)), 401, false},
		{"wrong key", "key=" + strings.Repeat("0", 32), int64(len(body)), 403, false},
		{"declared too large", "key=" + key, 5 << 20, 413, false},
		{"good", "key=" + key, int64(len(body)), 200, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rb := &recordingBody{r: bytes.NewReader(body)}
			req := httptest.NewRequest("POST", "/v1/projects/42/minidump?"+tc.query, nil)
			req.Body, req.ContentLength = rb, tc.length
			req.Header.Set("Content-Type", ct)
			req.Header.Set("Content-Encoding", "gzip")
			req.Header.Set("Content-Length", fmt.Sprint(tc.length))
			w := httptest.NewRecorder()
			svc.Gateway.ServeHTTP(w, req)
			if w.Code != tc.status || rb.read != tc.read {
				t.Errorf("%d (body read: %v), want %d (read: %v): %s", w.Code, rb.read, tc.status, tc.read, w.Body)
			}
		})
	}
	svc.Executor.Wait()
}
