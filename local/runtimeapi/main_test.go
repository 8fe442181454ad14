package runtimeapi_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/symflow/symflow/local/runtimeapi"
)

// binDir holds the binaries the tests build, once per test binary.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "runtimeapi-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// repoRoot is the module root (where go.mod is).
func repoRoot(tb testing.TB) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Fatal("no go.mod above the test's folder")
		}
		dir = parent
	}
}

var (
	crasherOnce sync.Once
	crasherPath string
	crasherErr  error

	functionsOnce sync.Once
	functionBins  map[string]string
	functionsErr  error
)

// crasher builds testdata/crasher, the misbehaving test function.
func crasher(tb testing.TB) string {
	tb.Helper()
	crasherOnce.Do(func() {
		crasherPath = filepath.Join(binDir, "crasher", "bootstrap")
		crasherErr = runtimeapi.GoBuildForTest(context.Background(), ".", crasherPath, "./testdata/crasher")
	})
	if crasherErr != nil {
		tb.Fatalf("build crasher: %v", crasherErr)
	}
	return crasherPath
}

// realFunctions builds the functions the tests run, with Build (a folder
// named twice is built once).
func realFunctions(tb testing.TB) map[string]string {
	tb.Helper()
	functionsOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
		defer cancel()
		functionBins, functionsErr = runtimeapi.Build(ctx, repoRoot(tb), filepath.Join(binDir, "functions"),
			[]string{"recover-task", "lookup-sources", "prepare-components", "recover-task"})
	})
	if functionsErr != nil {
		tb.Fatalf("build functions: %v", functionsErr)
	}
	return functionBins
}

// newFunction starts managing cfg's function and stops it when the test
// ends.
func newFunction(tb testing.TB, cfg runtimeapi.Config) *runtimeapi.Function {
	tb.Helper()
	if cfg.Output == nil && testing.Verbose() {
		cfg.Output = os.Stderr
	}
	f, err := runtimeapi.NewFunction(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(f.Stop)
	return f
}

// syncBuffer collects the processes' logs for failure messages.
type syncBuffer struct {
	mu  sync.Mutex
	buf *bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
