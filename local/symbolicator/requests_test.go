package symbolicator

import (
	"bytes"
	"context"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// blockingSource is an HTTP symbol server that holds every request until
// released, so a symbolication request stays running as long as a test
// needs.
type blockingSource struct {
	srv     *httptest.Server
	release chan struct{}
	hits    chan string
	once    sync.Once
}

func newBlockingSource(t *testing.T) *blockingSource {
	b := &blockingSource{release: make(chan struct{}), hits: make(chan string, 100)}
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.hits <- r.URL.Path
		select {
		case <-b.release:
		case <-r.Context().Done():
		}
		http.NotFound(w, r)
	}))
	t.Cleanup(func() {
		b.open()
		b.srv.Close()
	})
	return b
}

func (b *blockingSource) open() { b.once.Do(func() { close(b.release) }) }

// waitHit waits until the source has been asked for a file.
func (b *blockingSource) waitHit(t *testing.T) string {
	t.Helper()
	select {
	case p := <-b.hits:
		return p
	case <-time.After(30 * time.Second):
		t.Fatal("the symbol server was never asked for a file")
		return ""
	}
}

// minimalRequest references one ELF module on the given sources.
func minimalRequest(sources ...any) map[string]any {
	if sources == nil {
		sources = []any{}
	}
	return map[string]any{
		"platform": "native",
		"sources":  sources,
		"stacktraces": []any{map[string]any{
			"frames": []any{map[string]any{"instruction_addr": "0x1010"}},
		}},
		"modules": []any{map[string]any{
			"type": "elf", "code_id": "0011223344556677889900aabbccddeeff001122",
			"image_addr": "0x1000", "image_size": 4096,
		}},
	}
}

func httpSource(id, url string) map[string]any {
	return map[string]any{"type": "http", "id": id, "url": url, "layout": map[string]any{"type": "native"}}
}

// fakeClock is a settable clock for result expiry.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func TestPendingPollCompletedAndExpiry(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	_, srv := testService(t, Config{AllowLoopback: true, Now: clock.Now})
	src := newBlockingSource(t)

	resp := postJSON(t, srv.URL+"/symbolicate?timeout=0&scope=1", minimalRequest(httpSource("slow", src.srv.URL)))
	if resp.Status != 200 || resp.JSON["status"] != "pending" || resp.JSON["retry_after"] != float64(30) {
		t.Fatalf("want pending with retry_after 30, got %d %s", resp.Status, resp.Body)
	}
	id, _ := resp.JSON["request_id"].(string)
	if len(id) != 36 {
		t.Fatalf("request_id %q is not a UUID", id)
	}
	if p := src.waitHit(t); p != "/00/11223344556677889900aabbccddeeff001122" && p != "/00/11223344556677889900aabbccddeeff001122.debug" {
		t.Errorf("native layout asked for %s", p)
	}

	resp = doRequest(t, http.MethodGet, srv.URL+"/requests/"+id+"?timeout=0", "", nil)
	if resp.Status != 200 || resp.JSON["status"] != "pending" || resp.JSON["request_id"] != id {
		t.Fatalf("poll while running: %d %s", resp.Status, resp.Body)
	}

	src.open()
	resp = doRequest(t, http.MethodGet, srv.URL+"/requests/"+id, "", nil)
	if resp.Status != 200 || resp.JSON["status"] != "completed" {
		t.Fatalf("poll without timeout must block until done: %d %s", resp.Status, resp.Body)
	}
	m := obj(t, arr(t, resp.JSON["modules"], "modules")[0], "module")
	if m["debug_status"] != "missing" {
		t.Errorf("debug_status = %v, want missing", m["debug_status"])
	}
	if _, ok := m["candidates"]; ok {
		t.Errorf("candidates present without options.dif_candidates: %v", m["candidates"])
	}
	f := obj(t, arr(t, obj(t, arr(t, resp.JSON["stacktraces"], "st")[0], "st")["frames"], "frames")[0], "frame")
	if f["status"] != "missing" {
		t.Errorf("frame status = %v, want missing", f["status"])
	}

	// Still pollable just before the TTL, gone after it.
	clock.Advance(89 * time.Second)
	if resp := doRequest(t, http.MethodGet, srv.URL+"/requests/"+id+"?timeout=1", "", nil); resp.JSON["status"] != "completed" {
		t.Fatalf("result gone before its TTL: %d %s", resp.Status, resp.Body)
	}
	clock.Advance(2 * time.Second)
	resp = doRequest(t, http.MethodGet, srv.URL+"/requests/"+id, "", nil)
	if resp.Status != 404 || len(resp.Body) != 0 {
		t.Fatalf("expired result: want 404 with empty body, got %d %q", resp.Status, resp.Body)
	}
}

func TestPollUnknownRequest(t *testing.T) {
	_, srv := testService(t, Config{})
	for _, id := range []string{"6a3bd0d1-8b0f-4d8a-9d0b-2d3c7f0e1a2b", "not-a-uuid", "00000000-0000-0000-0000-000000000000"} {
		t.Run(id, func(t *testing.T) {
			resp := doRequest(t, http.MethodGet, srv.URL+"/requests/"+id, "", nil)
			if resp.Status != 404 || len(resp.Body) != 0 {
				t.Fatalf("want 404 with empty body, got %d %q", resp.Status, resp.Body)
			}
		})
	}
}

func TestHealthcheck(t *testing.T) {
	_, srv := testService(t, Config{})
	resp := doRequest(t, http.MethodGet, srv.URL+"/healthcheck", "", nil)
	if resp.Status != 200 || string(resp.Body) != "ok" {
		t.Fatalf("healthcheck: %d %q", resp.Status, resp.Body)
	}
}

func TestConcurrencyLimit(t *testing.T) {
	_, srv := testService(t, Config{AllowLoopback: true, MaxConcurrent: 1})
	src := newBlockingSource(t)
	first := postJSON(t, srv.URL+"/symbolicate?timeout=0", minimalRequest(httpSource("slow", src.srv.URL)))
	if first.JSON["status"] != "pending" {
		t.Fatalf("first request: %d %s", first.Status, first.Body)
	}
	src.waitHit(t)

	for _, path := range []string{"/symbolicate", "/minidump"} {
		var resp response
		if path == "/minidump" {
			body, ct := multipartBody(t, "upload_file_minidump", []byte("MDMP"))
			resp = doRequest(t, http.MethodPost, srv.URL+path, ct, body)
		} else {
			resp = postJSON(t, srv.URL+path, minimalRequest())
		}
		if resp.Status != 503 || resp.JSON["detail"] != "maximum number of concurrent requests reached" {
			t.Fatalf("%s over the limit: want 503 with detail, got %d %s", path, resp.Status, resp.Body)
		}
	}

	src.open()
	id := first.JSON["request_id"].(string)
	if resp := doRequest(t, http.MethodGet, srv.URL+"/requests/"+id, "", nil); resp.JSON["status"] != "completed" {
		t.Fatalf("first request did not complete: %s", resp.Body)
	}
	// The slot is free again.
	if resp := postJSON(t, srv.URL+"/symbolicate", minimalRequest()); resp.JSON["status"] != "completed" {
		t.Fatalf("after the first finished: %d %s", resp.Status, resp.Body)
	}
}

func TestBodyLimit(t *testing.T) {
	_, srv := testService(t, Config{MaxBodyBytes: 1024})
	small := minimalRequest()
	if resp := postJSON(t, srv.URL+"/symbolicate", small); resp.Status != 200 {
		t.Fatalf("small body: %d %s", resp.Status, resp.Body)
	}
	big := minimalRequest()
	big["padding"] = strings.Repeat("x", 2048)
	if resp := postJSON(t, srv.URL+"/symbolicate", big); resp.Status != 413 {
		t.Fatalf("body over the limit: want 413, got %d %s", resp.Status, resp.Body)
	}
	// Without a Content-Length (chunked) the limit holds as well.
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/symbolicate", struct{ *strings.Reader }{strings.NewReader(`{"x":"` + strings.Repeat("y", 4096) + `"}`)})
	req.ContentLength = -1
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 413 {
		t.Fatalf("chunked body over the limit: want 413, got %d", res.StatusCode)
	}
}

func TestUnprocessableBodies(t *testing.T) {
	_, srv := testService(t, Config{})
	frame := func(f map[string]any) map[string]any {
		r := minimalRequest()
		r["stacktraces"] = []any{map[string]any{"frames": []any{f}}}
		return r
	}
	for _, tc := range []struct {
		name  string
		body  any
		field string
	}{
		{"not an object", []any{1, 2}, "expected a JSON object"},
		{"stacktraces not an array", map[string]any{"stacktraces": "x"}, "stacktraces: expected an array"},
		{"frames missing", map[string]any{"stacktraces": []any{map[string]any{}}}, "stacktraces[0].frames: missing field"},
		{"instruction_addr missing", frame(map[string]any{}), "stacktraces[0].frames[0].instruction_addr: missing field"},
		{"instruction_addr not hex", frame(map[string]any{"instruction_addr": "0xZZ"}), "stacktraces[0].frames[0].instruction_addr"},
		{"instruction_addr bool", frame(map[string]any{"instruction_addr": true}), "stacktraces[0].frames[0].instruction_addr"},
		{"addr_mode", frame(map[string]any{"instruction_addr": "0x1", "addr_mode": "relative"}), "stacktraces[0].frames[0].addr_mode"},
		{"adjust not bool", frame(map[string]any{"instruction_addr": "0x1", "adjust_instruction_addr": "yes"}), "stacktraces[0].frames[0].adjust_instruction_addr"},
		{"module type missing", map[string]any{"modules": []any{map[string]any{"image_addr": "0x1"}}}, "modules[0].type: missing field"},
		{"image_size negative", map[string]any{"modules": []any{map[string]any{"type": "elf", "image_size": -1}}}, "modules[0].image_size"},
		{"signal string", map[string]any{"signal": "SIGSEGV"}, "signal"},
		{"source type", map[string]any{"sources": []any{map[string]any{"type": "ftp", "id": "x"}}}, "sources[0].type: unknown source type"},
		{"source id", map[string]any{"sources": []any{map[string]any{"type": "http", "url": "http://x/"}}}, "sources[0].id: missing field"},
		{"layout", map[string]any{"sources": []any{map[string]any{"type": "http", "id": "a", "url": "http://x/", "layout": map[string]any{"type": "flat"}}}}, "sources[0].layout.type: unknown layout"},
		{"casing", map[string]any{"sources": []any{map[string]any{"type": "http", "id": "a", "url": "http://x/", "layout": map[string]any{"casing": "camel"}}}}, "sources[0].layout.casing"},
		{"filetype", map[string]any{"sources": []any{map[string]any{"type": "filesystem", "id": "a", "path": "/x", "filters": map[string]any{"filetypes": []any{"exe"}}}}}, "sources[0].filters.filetypes[0]"},
		{"s3 region", map[string]any{"sources": []any{map[string]any{"type": "s3", "id": "a", "bucket": "b", "region": []any{"only-name"}}}}, "sources[0].region"},
		{"sentry token", map[string]any{"sources": []any{map[string]any{"type": "sentry", "id": "a", "url": "http://x/"}}}, "sources[0].token: missing field"},
		{"duplicate id", map[string]any{"sources": []any{httpSource("a", "http://x/"), httpSource("a", "http://y/")}}, "sources[1].id: duplicate"},
		{"options", map[string]any{"options": map[string]any{"dif_candidates": "yes"}}, "options.dif_candidates"},
		{"registers", map[string]any{"stacktraces": []any{map[string]any{"frames": []any{}, "registers": map[string]any{"rip": "pc"}}}}, "stacktraces[0].registers.rip"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := postJSON(t, srv.URL+"/symbolicate", tc.body)
			if resp.Status != 422 {
				t.Fatalf("want 422, got %d %s", resp.Status, resp.Body)
			}
			if !strings.Contains(string(resp.Body), tc.field) {
				t.Fatalf("message %q does not name %q", resp.Body, tc.field)
			}
		})
	}
	t.Run("invalid JSON", func(t *testing.T) {
		resp := doRequest(t, http.MethodPost, srv.URL+"/symbolicate", "application/json", []byte(`{"stacktraces": [`))
		if resp.Status != 400 {
			t.Fatalf("want 400 for a syntax error, got %d %s", resp.Status, resp.Body)
		}
	})
	t.Run("unknown fields are fine", func(t *testing.T) {
		body := minimalRequest(map[string]any{"type": "http", "id": "x", "url": "http://192.0.2.1/", "name": "a name", "not-a-field": 1})
		body["unknown"] = "value"
		body["sources"] = []any{}
		if resp := postJSON(t, srv.URL+"/symbolicate", body); resp.Status != 200 {
			t.Fatalf("want 200, got %d %s", resp.Status, resp.Body)
		}
	})
	t.Run("bad timeout", func(t *testing.T) {
		if resp := postJSON(t, srv.URL+"/symbolicate?timeout=soon", minimalRequest()); resp.Status != 400 {
			t.Fatalf("want 400, got %d %s", resp.Status, resp.Body)
		}
	})
}

func multipartBody(t *testing.T, fileField string, file []byte) ([]byte, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	mw.WriteField("platform", `"native"`)
	mw.WriteField("sources", `[{"type":"http","id":"x","url":"http://example.invalid/"}]`)
	mw.WriteField("options", `{"dif_candidates": true}`)
	if fileField != "" {
		fw, err := mw.CreateFormFile(fileField, "crash.dmp")
		if err != nil {
			t.Fatal(err)
		}
		fw.Write(file)
	}
	mw.Close()
	return buf.Bytes(), mw.FormDataContentType()
}

func TestMultipartEndpoints(t *testing.T) {
	_, srv := testService(t, Config{})
	for _, tc := range []struct{ path, field, failure string }{
		{"/minidump", "upload_file_minidump", "invalid minidump: "},
		{"/applecrashreport", "apple_crash_report", "failed to parse apple crash report: "},
	} {
		t.Run(tc.path, func(t *testing.T) {
			body, ct := multipartBody(t, tc.field, []byte("MDMP\x93\xa7 not really a dump"))
			resp := doRequest(t, http.MethodPost, srv.URL+tc.path+"?timeout=5&scope=1", ct, body)
			if resp.Status != 200 || resp.JSON["status"] != "failed" {
				t.Fatalf("want a failed response, got %d %s", resp.Status, resp.Body)
			}
			if msg, _ := resp.JSON["message"].(string); !strings.HasPrefix(msg, tc.failure) || len(msg) == len(tc.failure) {
				t.Errorf("message = %q, want one starting %q and saying what is wrong", msg, tc.failure)
			}

			// The fields are JSON text: a platform sent unquoted is refused
			// with the field named, as Symbolicator refuses it.
			for field, value := range map[string]string{"platform": "native", "options": "{dif_candidates}", "sources": "[{"} {
				var buf bytes.Buffer
				mw := multipart.NewWriter(&buf)
				mw.WriteField(field, value)
				fw, _ := mw.CreateFormFile(tc.field, "crash")
				fw.Write([]byte("MDMP"))
				mw.Close()
				resp := doRequest(t, http.MethodPost, srv.URL+tc.path, mw.FormDataContentType(), buf.Bytes())
				if resp.Status != 400 || !strings.Contains(string(resp.Body), "field "+field) {
					t.Errorf("%s=%s: want 400 naming the field, got %d %s", field, value, resp.Status, resp.Body)
				}
			}
			var buf bytes.Buffer
			mw := multipart.NewWriter(&buf)
			mw.WriteField("platform", `42`)
			fw, _ := mw.CreateFormFile(tc.field, "crash")
			fw.Write([]byte("MDMP"))
			mw.Close()
			if resp := doRequest(t, http.MethodPost, srv.URL+tc.path, mw.FormDataContentType(), buf.Bytes()); resp.Status != 400 || !strings.Contains(string(resp.Body), "platform") {
				t.Errorf("platform 42: want 400 naming platform, got %d %s", resp.Status, resp.Body)
			}

			body, ct = multipartBody(t, "", nil)
			resp = doRequest(t, http.MethodPost, srv.URL+tc.path, ct, body)
			if resp.Status != 400 || !strings.Contains(string(resp.Body), tc.field) {
				t.Fatalf("without the file: want 400 naming %s, got %d %s", tc.field, resp.Status, resp.Body)
			}

			body, ct = multipartBody(t, "wrong_field", []byte("x"))
			if resp := doRequest(t, http.MethodPost, srv.URL+tc.path, ct, body); resp.Status != 400 {
				t.Fatalf("file under another name: want 400, got %d %s", resp.Status, resp.Body)
			}
			if resp := doRequest(t, http.MethodPost, srv.URL+tc.path, "application/json", []byte(`{}`)); resp.Status != 400 {
				t.Fatalf("not multipart: want 400, got %d %s", resp.Status, resp.Body)
			}
		})
	}
}

func TestRequestTimeoutStatus(t *testing.T) {
	_, srv := testService(t, Config{AllowLoopback: true, RequestTimeout: 50 * time.Millisecond})
	src := newBlockingSource(t)
	resp := postJSON(t, srv.URL+"/symbolicate", minimalRequest(httpSource("slow", src.srv.URL)))
	if resp.Status != 200 || resp.JSON["status"] != "timeout" {
		t.Fatalf("a request over RequestTimeout: want status timeout, got %d %s", resp.Status, resp.Body)
	}
}

func TestListenAndServe(t *testing.T) {
	probe, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := probe.Addr().String()
	probe.Close()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- ListenAndServe(ctx, addr, Config{Logger: discardLogger()}) }()
	var resp *http.Response
	for i := 0; ; i++ {
		resp, err = http.Get("http://" + addr + "/healthcheck")
		if err == nil {
			break
		}
		if i == 100 {
			t.Fatalf("server did not come up: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "ok" {
		t.Errorf("healthcheck = %q", body)
	}
	cancel()
	if err := <-errc; err != nil {
		t.Fatalf("ListenAndServe after cancel: %v", err)
	}
	if err := ListenAndServe(context.Background(), "256.0.0.1:1", Config{}); err == nil || !strings.Contains(err.Error(), "256.0.0.1:1") {
		t.Fatalf("bad address: want an error naming it, got %v", err)
	}
}

func TestMultipartLimit(t *testing.T) {
	_, srv := testService(t, Config{MaxMultipartBytes: 2048})
	body, ct := multipartBody(t, "upload_file_minidump", bytes.Repeat([]byte("M"), 4096))
	if resp := doRequest(t, http.MethodPost, srv.URL+"/minidump", ct, body); resp.Status != 413 {
		t.Fatalf("upload over the limit: want 413, got %d %s", resp.Status, resp.Body)
	}
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/minidump", struct{ *bytes.Reader }{bytes.NewReader(body)})
	req.Header.Set("Content-Type", ct)
	req.ContentLength = -1
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 413 {
		t.Fatalf("chunked upload over the limit: want 413, got %d", res.StatusCode)
	}
}
