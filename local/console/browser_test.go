package console_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/uuid"

	"github.com/symflow/symflow/local/serve"
	"github.com/symflow/symflow/local/stack"
	"github.com/symflow/symflow/shared/task"
)

const root = "../.."

var screenshot = flag.String("screenshot", "", "write a PNG of a failed execution's page here (docs/console-failed.png)")

// chromium returns the Chromium binary, or fails the test: the console is
// only tested in a real browser.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("chromium is not installed: run make deps")
	return ""
}

// browser starts a headless Chromium that reaches nothing but what the
// test serves: no first-run, sync, component updates or background
// requests, and a profile of its own.
func browser(t *testing.T) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium(t)),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1400, 1100),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelB := chromedp.NewContext(actx)
	// A generous deadline for a busy machine; the test waits on
	// conditions, never on time.
	ctx, cancelC := context.WithTimeout(ctx, 4*time.Minute)
	t.Cleanup(func() { cancelC(); cancelB(); cancelA() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// symbolicator is a Symbolicator that is down (connections closed
// unanswered), holds its tasks pending, or completes them.
type symbolicator struct {
	down, hold atomic.Bool
	mu         sync.Mutex
	tasks      map[string]bool
}

func (f *symbolicator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if f.down.Load() {
		if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
			conn.Close()
		}
		return
	}
	io.Copy(io.Discard, r.Body) //nolint:errcheck // not looked at
	w.Header().Set("Content-Type", "application/json")
	const completed = `{"status":"completed","stacktraces":[{"thread_id":1,"is_requesting":true,"frames":[{"status":"symbolicated","original_index":0,"instruction_addr":"0x401136","function":"checked_limit","abs_path":"/src/crashy.c","lineno":15}]}],"modules":[{"code_file":"/usr/bin/crashy","debug_id":"1d2c3b4a-0000-0000-0000-000000000000","debug_status":"found","arch":"x86_64"}]}`
	id := strings.TrimPrefix(r.URL.Path, "/requests/")
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/symbolicate" && !f.hold.Load():
		io.WriteString(w, completed) //nolint:errcheck // the client went away
	case r.Method == http.MethodPost && r.URL.Path == "/symbolicate":
		id = uuid.NewString()
		f.mu.Lock()
		f.tasks[id] = true
		f.mu.Unlock()
		fmt.Fprintf(w, `{"status":"pending","request_id":%q,"retry_after":1}`, id)
	case r.Method == http.MethodGet && id != r.URL.Path:
		f.mu.Lock()
		known := f.tasks[id]
		f.mu.Unlock()
		switch {
		case !known:
			w.WriteHeader(http.StatusNotFound)
		case f.hold.Load():
			fmt.Fprintf(w, `{"status":"pending","request_id":%q,"retry_after":1}`, id)
		default:
			io.WriteString(w, completed) //nolint:errcheck // the client went away
		}
	default:
		w.WriteHeader(http.StatusNotFound)
	}
}

// TestConsoleInChromium: an execution that failed while Symbolicator was
// down is listed, filtered by status, drawn with its failed state in red
// and the unhandled error edge, and redriven from its page: it shows
// RUNNING, then SUCCEEDED with its frames.
func TestConsoleInChromium(t *testing.T) {
	ctx := browser(t)

	sym := &symbolicator{tasks: map[string]bool{}}
	symSrv := httptest.NewServer(sym)
	t.Cleanup(symSrv.Close)
	st, err := stack.Start(context.Background(), stack.Options{Root: root, StateDir: t.TempDir(), SymbolicatorURL: symSrv.URL + "/",
		Config: task.Config{NetworkRetryWaits: []time.Duration{time.Millisecond, time.Millisecond}}})
	if err != nil {
		t.Fatal(err)
	}
	svc := serve.New(st, serve.Options{})
	if svc.Console == nil {
		t.Fatal("no console")
	}
	srv := httptest.NewServer(svc.Handler)
	t.Cleanup(func() { srv.Close(); svc.Close(); st.Close() })

	put(t, "PUT", srv.URL+"/v1/projects/42/config", readFile(t, "events/project/sample-project.json"), 201)
	var sample struct {
		Payload json.RawMessage `json:"payload"`
	}
	if err := json.Unmarshal(readFile(t, "events/execution/native-crash.json"), &sample); err != nil {
		t.Fatal(err)
	}
	sym.down.Store(true)
	const event = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
	name := "42_" + event
	put(t, "POST", srv.URL+"/v1/projects/42/events/"+event+"/symbolicate", sample.Payload, 202)
	waitStatus(t, srv.URL+"/v1/executions/"+name, "FAILED")

	// The list shows the run, and the filter keeps or drops it.
	row := chromedp.CSS(fmt.Sprintf(`#executions tr[data-name=%q]`, name))
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible(row)); err != nil {
		t.Fatalf("list: %v", err)
	}
	status := must(chromedp.Run(ctx, chromedp.AttributeValue(row, "data-status")))(t).Value
	errText := must(chromedp.Run(ctx, chromedp.Text(row+" td.error")))(t)
	if status != "FAILED" || !strings.Contains(errText, "SymbolicatorUnreachable") {
		t.Errorf("list row: status %q, error %q", status, errText)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/?status=SUCCEEDED"), chromedp.WaitVisible(chromedp.CSS(`#executions`))); err != nil {
		t.Fatalf("filtered list: %v", err)
	}
	if rows := must(chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('#executions tr[data-name]').length`)))(t); rows != 0 {
		t.Errorf("?status=SUCCEEDED lists %d executions, want none", rows)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/?status=FAILED"), chromedp.WaitVisible(row)); err != nil {
		t.Fatalf("?status=FAILED does not list the failed run: %v", err)
	}

	// Its page: the failed state in red, the unhandled error edge, the
	// visited states, the history with the error.
	if err := chromedp.Do(ctx, chromedp.Click(row+" a"), chromedp.WaitVisible(chromedp.CSS(`#graph`))); err != nil {
		t.Fatalf("execution page: %v", err)
	}
	failedStates := chromedp.Evaluate[[]string](`[...document.querySelectorAll('#graph g.state.failed')].map(g => g.dataset.state)`)
	failed := must(chromedp.Run(ctx, failedStates))(t)
	fill := must(chromedp.Run(ctx, chromedp.Evaluate[string](`getComputedStyle(document.querySelector('#graph g.state.failed rect')).fill`)))(t)
	// SVG elements have no innerText (chromedp.Text): read textContent.
	unhandled := must(chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('#graph g.edge.unhandled text').textContent`)))(t)
	history := must(chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#history`))))(t)
	if len(failed) != 1 || failed[0] != "SubmitTask" {
		t.Errorf("states marked failed: %v, want [SubmitTask]", failed)
	}
	if fill != "rgb(255, 235, 233)" {
		t.Errorf("the failed state is filled %s, want red", fill)
	}
	if !strings.Contains(unhandled, "SymbolicatorUnreachable") {
		t.Errorf("unhandled error edge says %q", unhandled)
	}
	if !strings.Contains(history, "LambdaFunctionFailed") || !strings.Contains(history, "ExecutionFailed") {
		t.Errorf("history: %.300s", history)
	}
	visited := must(chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('#graph g.state.visited')].map(g => g.dataset.state)`)))(t)
	if strings.Join(visited, ",") != "LookupSources,SubmitTask" {
		t.Errorf("visited states: %v", visited)
	}
	if *screenshot != "" {
		png := must(chromedp.Run(ctx, chromedp.FullScreenshot(100)))(t)
		if err := os.WriteFile(*screenshot, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s", *screenshot)
	}

	// Redrive: Symbolicator is back but holds the task, so the page shows
	// RUNNING; once it completes, the reloading page shows SUCCEEDED.
	sym.down.Store(false)
	sym.hold.Store(true)
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`#redrive button`)),
		waitText(`#status`, "RUNNING"),
	); err != nil {
		t.Fatalf("redrive: %v", err)
	}
	sym.hold.Store(false)
	if err := chromedp.Do(ctx, waitText(`#status`, "SUCCEEDED")); err != nil {
		t.Fatalf("after the redrive: %v", err)
	}
	frames := must(chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`table.frames`))))(t)
	failed = must(chromedp.Run(ctx, failedStates))(t)
	if !strings.Contains(frames, "checked_limit") || !strings.Contains(frames, "/src/crashy.c:15") {
		t.Errorf("frames after the redrive: %q", frames)
	}
	if len(failed) != 0 {
		t.Errorf("states still marked failed after success: %v", failed)
	}
}

// waitText waits until sel's text is want; the page may reload meanwhile.
func waitText(sel, want string) chromedp.Action[chromedp.Void] {
	read := chromedp.Evaluate[string](fmt.Sprintf(`(document.querySelector(%q)||{}).textContent||""`, sel))
	return chromedp.Func(func(ctx context.Context, tgt *chromedp.Target) error {
		var last string
		for {
			got, err := read(ctx, tgt)
			if err == nil && strings.TrimSpace(got) == want {
				return nil
			}
			if err == nil {
				last = got
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("waiting for %s to read %s (last read %q): %w", sel, want, last, ctx.Err())
			case <-time.After(100 * time.Millisecond):
			}
		}
	})
}

// must fails the test on an action's error, else gives its value.
func must[T any](v T, err error) func(t *testing.T) T {
	return func(t *testing.T) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func readFile(t *testing.T, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func put(t *testing.T, method, url string, body []byte, want int) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s: %d %s, want %d", method, url, resp.StatusCode, out, want)
	}
}

// waitStatus polls the API until the execution has the status.
func waitStatus(t *testing.T, url, want string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		var v struct {
			Status string `json:"status"`
		}
		json.NewDecoder(resp.Body).Decode(&v) //nolint:errcheck // an empty status waits on
		resp.Body.Close()
		if v.Status == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("gave up after 2 minutes waiting for %s to be %s: last %q", url, want, v.Status)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
