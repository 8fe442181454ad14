package serve_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/symflow/symflow/local/serve"
)

// recordingS3 keeps what the watcher uploads.
type recordingS3 struct {
	mu      sync.Mutex
	objects map[string][]byte
	lengths map[string]int64
}

func (r *recordingS3) PutObject(ctx context.Context, in *awss3.PutObjectInput, _ ...func(*awss3.Options)) (*awss3.PutObjectOutput, error) {
	b, err := io.ReadAll(in.Body)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.objects[*in.Key] = b
	r.lengths[*in.Key] = *in.ContentLength
	return &awss3.PutObjectOutput{}, nil
}

// announced lists the keys of the events a watcher sent.
type announced struct {
	mu   sync.Mutex
	keys []string
}

func (a *announced) sink(_ context.Context, raw json.RawMessage) error {
	var ev struct {
		Detail struct {
			Object struct {
				Key  string `json:"key"`
				Size int64  `json:"size"`
			} `json:"object"`
		} `json:"detail"`
	}
	if err := json.Unmarshal(raw, &ev); err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.keys = append(a.keys, ev.Detail.Object.Key)
	return nil
}

func (a *announced) list() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.keys...)
}

// scan runs one Scan, failing if it does not return within a minute (a
// pipe opened for reading would wait for a writer forever).
func scan(t *testing.T, w *serve.Watcher) int {
	t.Helper()
	done := make(chan int, 1)
	go func() { done <- w.Scan(context.Background()) }()
	select {
	case n := <-done:
		return n
	case <-time.After(time.Minute):
		t.Fatal("a scan of the crash folder did not return within a minute")
		return 0
	}
}

func TestCrashFolderSkipsWhatIsNotARegularFile(t *testing.T) {
	dir := t.TempDir()
	outside := t.TempDir()
	crashes := filepath.Join(dir, "crashes", "42")
	if err := os.MkdirAll(crashes, 0o755); err != nil {
		t.Fatal(err)
	}
	key := func(n int) string { return "crashes/42/" + strings.Repeat("0", 31) + string(rune('0'+n)) + ".dmp" }
	path := func(n int) string { return filepath.Join(dir, filepath.FromSlash(key(n))) }
	dump := []byte("MDMP a regular dump")
	linked := []byte("MDMP a dump reached through a symbolic link, longer than the link")
	if err := os.WriteFile(path(1), dump, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(path(2), 0o644); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(outside, "real.dmp")
	if err := os.WriteFile(target, linked, 0o644); err != nil {
		t.Fatal(err)
	}
	must(t, os.Symlink(target, path(3)))
	must(t, os.Symlink(filepath.Join(outside, "gone.dmp"), path(4)))
	fifo := filepath.Join(outside, "pipe")
	must(t, syscall.Mkfifo(fifo, 0o644))
	must(t, os.Symlink(fifo, path(5)))
	must(t, os.Symlink(outside, path(6)))
	must(t, os.Symlink(path(7), path(7))) // a loop

	var logs syncBuffer
	s3 := &recordingS3{objects: map[string][]byte{}, lengths: map[string]int64{}}
	got := &announced{}
	w := &serve.Watcher{Dir: dir, Bucket: "crashes-bucket", S3: s3, Sink: got.sink,
		Log: slog.New(slog.NewTextHandler(&logs, nil))}
	for range 5 {
		scan(t, w)
	}
	keys := got.list()
	if len(keys) != 2 || keys[0] != key(1) || keys[1] != key(3) {
		t.Fatalf("announced %v, want %s and %s", keys, key(1), key(3))
	}
	if !bytes.Equal(s3.objects[key(1)], dump) || !bytes.Equal(s3.objects[key(3)], linked) || s3.lengths[key(3)] != int64(len(linked)) {
		t.Errorf("uploaded %q (%d bytes declared) through the link, want the target's %d bytes", s3.objects[key(3)], s3.lengths[key(3)], len(linked))
	}
	for n, why := range map[int]string{
		2: "a named pipe (FIFO), not a regular file",
		4: "a symbolic link to nothing readable",
		5: "a symbolic link to a named pipe (FIFO), not to a regular file",
		6: "a symbolic link to a directory, not to a regular file",
		7: "a symbolic link to nothing readable",
	} {
		lines := 0
		for _, l := range strings.Split(logs.String(), "\n") {
			if strings.Contains(l, "crash folder entry skipped") && strings.Contains(l, path(n)) {
				lines++
				if !strings.Contains(l, why) {
					t.Errorf("entry %d skipped with %q, want the reason %q", n, l, why)
				}
			}
		}
		if lines != 1 {
			t.Errorf("entry %d: %d skip lines in 5 scans, want 1 (logged once, not retried)", n, lines)
		}
	}

	// The pipe replaced by a regular file is a crash file again.
	must(t, os.Remove(path(2)))
	must(t, os.WriteFile(path(2), dump, 0o644))
	scan(t, w)
	scan(t, w)
	if keys := got.list(); len(keys) != 3 || keys[2] != key(2) {
		t.Errorf("announced %v after the pipe became a file", keys)
	}
}

func TestCrashFolderKnowsExistingExecutions(t *testing.T) {
	dir := t.TempDir()
	crashes := filepath.Join(dir, "crashes", "42")
	must(t, os.MkdirAll(crashes, 0o755))
	old := "crashes/42/" + strings.Repeat("a", 32) + ".dmp"
	fresh := "crashes/42/" + strings.Repeat("b", 32) + ".dmp"
	for _, k := range []string{old, fresh} {
		must(t, os.WriteFile(filepath.Join(dir, filepath.FromSlash(k)), []byte("MDMP"), 0o644))
	}
	var logs syncBuffer
	got := &announced{}
	w := &serve.Watcher{Dir: dir, Bucket: "b", InPlace: true, Sink: got.sink, Log: slog.New(slog.NewTextHandler(&logs, nil)),
		Exists: func(_ context.Context, key string) bool { return key == old }}
	scan(t, w)
	scan(t, w)
	scan(t, w)
	if keys := got.list(); len(keys) != 1 || keys[0] != fresh {
		t.Errorf("announced %v, want only %s (the other has its execution)", keys, fresh)
	}
	if !strings.Contains(logs.String(), "already has its execution") {
		t.Errorf("log does not say why the file was not announced:\n%s", logs.String())
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// syncBuffer collects log lines from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
