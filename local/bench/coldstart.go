package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/symflow/symflow/local/runtimeapi"
	"github.com/symflow/symflow/local/samtemplate"
)

// ColdStart is section 4 for one function.
type ColdStart struct {
	Function string `json:"function"`
	// Bytes is the size of the linux/arm64 bootstrap built as make build
	// does (-tags lambda.norpc -trimpath -ldflags='-s -w', CGO off).
	Bytes int64 `json:"bootstrap_bytes"`
	// Init is the time from process start to its first /next request
	// (Lambda's Init Duration); FirstResponse from process start to the
	// first invocation's response; medians over Repeats fresh processes
	// of the host build under the Runtime API emulator.
	Init          time.Duration `json:"init_ns"`
	FirstResponse time.Duration `json:"first_response_ns"`
	// FastestResponse is the best of the runs: the machine is shared,
	// and its noise only ever adds time.
	FastestResponse time.Duration `json:"fastest_first_response_ns"`
}

// buildArm64 cross-compiles every function with make build's flags into
// dir and returns function dir → path. One go build links them all, in
// parallel.
func buildArm64(ctx context.Context, root, dir string, fns []string) (map[string]string, error) {
	outDir := filepath.Join(dir, "arm64")
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return nil, err
	}
	args := []string{"build", "-tags", "lambda.norpc", "-trimpath", "-ldflags=-s -w", "-o", outDir + string(filepath.Separator)}
	for _, f := range fns {
		args = append(args, "./functions/"+f)
	}
	cmd := exec.CommandContext(ctx, goTool(), args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build the functions for linux/arm64: %w\n%s", err, b)
	}
	out := map[string]string{}
	for _, f := range fns {
		out[f] = filepath.Join(outDir, f) // go build names each binary after its folder
	}
	return out, nil
}

// buildHost builds every function for this machine, CGO off as on Lambda,
// into dir. Unlike runtimeapi.Build it keeps full paths (no -trimpath),
// so that it can reuse the packages go run compiled for the bench itself
// (run with CGO_ENABLED=0): on a fresh clone that saves a compilation of
// the AWS SDK. Start-up does not depend on the paths kept.
func buildHost(ctx context.Context, root, dir string, fns []string) (map[string]string, error) {
	outDir := filepath.Join(dir, "host")
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return nil, err
	}
	args := []string{"build", "-tags", "lambda.norpc", "-o", outDir + string(filepath.Separator)}
	for _, f := range fns {
		args = append(args, "./functions/"+f)
	}
	cmd := exec.CommandContext(ctx, goTool(), args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build the functions for this machine: %w\n%s", err, b)
	}
	out := map[string]string{}
	for _, f := range fns {
		out[f] = filepath.Join(outDir, f)
	}
	return out, nil
}

// measureColdStarts runs section 4.
func measureColdStarts(ctx context.Context, cfg Config, tmp string) ([]ColdStart, error) {
	dirs, err := runtimeapi.FunctionDirs(cfg.Root)
	if err != nil {
		return nil, err
	}
	arm, err := buildArm64(ctx, cfg.Root, tmp, dirs)
	if err != nil {
		return nil, err
	}
	host, err := buildHost(ctx, cfg.Root, tmp, dirs)
	if err != nil {
		return nil, err
	}
	tmpl, err := samtemplate.Load(filepath.Join(cfg.Root, "template.yaml"))
	if err != nil {
		return nil, err
	}
	var out []ColdStart
	for _, d := range dirs {
		fi, err := os.Stat(arm[d])
		if err != nil {
			return nil, err
		}
		cs := ColdStart{Function: d, Bytes: fi.Size()}
		env := map[string]string{}
		if fn, ok := tmpl.FunctionByDir(d); ok {
			for k, v := range fn.Env() {
				env[k] = v
			}
		}
		// Endpoints that nothing answers: the first invocation's event is
		// empty, so the handler answers (with its input error) before it
		// would reach them.
		env["AWS_ENDPOINT_URL"] = "http://127.0.0.1:9"
		env["SYMBOLICATOR_URL"] = "http://127.0.0.1:9/"
		var inits, firsts []time.Duration
		for i := 0; i < coldRuns(cfg); i++ {
			f, err := runtimeapi.NewFunction(runtimeapi.Config{Name: d, Bootstrap: host[d], Env: env, Timeout: 10 * time.Second})
			if err != nil {
				return nil, err
			}
			start := time.Now()
			_, err = f.Invoke(ctx, []byte(`{}`))
			first := time.Since(start)
			st := f.Stats()
			f.Stop()
			var fe *runtimeapi.FunctionError
			if err != nil && !errors.As(err, &fe) {
				return nil, fmt.Errorf("cold start of %s: %w", d, err)
			}
			if len(st.InitDurations) == 0 {
				return nil, fmt.Errorf("cold start of %s: the process never asked for an invocation", d)
			}
			inits = append(inits, st.InitDurations[0])
			firsts = append(firsts, first)
		}
		cs.Init, cs.FirstResponse = percentile(inits, 0.5), percentile(firsts, 0.5)
		cs.FastestResponse = percentile(firsts, 0)
		out = append(out, cs)
	}
	return out, nil
}

// coldRuns is how many fresh processes each function's cold start takes:
// at least 5, a process start is cheap.
func coldRuns(cfg Config) int {
	if cfg.Repeats <= 1 {
		return 1
	}
	return max(cfg.Repeats, 5)
}
