package runtimeapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
)

// BuildError is a failed `go build`; Output is the compiler's.
type BuildError struct {
	Packages []string
	Err      error
	Output   string
}

func (e *BuildError) Error() string {
	return fmt.Sprintf("go build %s: %v\n%s", strings.Join(e.Packages, " "), e.Err, strings.TrimSpace(e.Output))
}

func (e *BuildError) Unwrap() error { return e.Err }

// Build compiles functions/<dir> under root for each dir (every folder of
// functions/ but internal when dirs is empty) into outDir/<dir>/bootstrap
// and returns dir → binary path. It builds for the host, not Lambda's
// arm64 (that is `make build`), with the deploy build's flags:
// -tags lambda.norpc -trimpath, CGO off. Go's build cache makes a rebuild
// of unchanged code a link only.
func Build(ctx context.Context, root, outDir string, dirs []string) (map[string]string, error) {
	if len(dirs) == 0 {
		var err error
		if dirs, err = FunctionDirs(root); err != nil {
			return nil, err
		}
	}
	dirs = slices.Compact(slices.Sorted(slices.Values(dirs)))
	pkgs := make([]string, 0, len(dirs))
	for _, d := range dirs {
		if d == "" || d == "." || d == ".." || d == "internal" || strings.ContainsAny(d, `/\`) {
			return nil, fmt.Errorf("build: %q is not a folder of functions/", d)
		}
		if _, err := os.Stat(filepath.Join(root, "functions", d, "main.go")); err != nil {
			return nil, fmt.Errorf("build: functions/%s has no main.go: %w", d, err)
		}
		pkgs = append(pkgs, "./functions/"+d)
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return nil, fmt.Errorf("build: %w", err)
	}
	// One go build links the packages in parallel; its outputs are named
	// after the folders, then moved into place.
	stage, err := os.MkdirTemp(outDir, ".build-")
	if err != nil {
		return nil, fmt.Errorf("build: %w", err)
	}
	defer os.RemoveAll(stage)
	if len(pkgs) == 1 {
		err = goBuild(ctx, root, filepath.Join(stage, dirs[0]), pkgs...)
	} else {
		err = goBuild(ctx, root, stage+string(filepath.Separator), pkgs...)
	}
	if err != nil {
		return nil, err
	}
	bins := make(map[string]string, len(dirs))
	for _, d := range dirs {
		dst := filepath.Join(outDir, d, "bootstrap")
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return nil, fmt.Errorf("build: %w", err)
		}
		if err := os.Rename(filepath.Join(stage, d), dst); err != nil {
			return nil, fmt.Errorf("build: place %s: %w", dst, err)
		}
		if bins[d], err = filepath.Abs(dst); err != nil {
			return nil, fmt.Errorf("build: %w", err)
		}
	}
	return bins, nil
}

// FunctionDirs lists the function folders under root/functions.
func FunctionDirs(root string) ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(root, "functions"))
	if err != nil {
		return nil, fmt.Errorf("list functions: %w", err)
	}
	var dirs []string
	for _, e := range entries {
		if !e.IsDir() || e.Name() == "internal" {
			continue
		}
		if _, err := os.Stat(filepath.Join(root, "functions", e.Name(), "main.go")); err == nil {
			dirs = append(dirs, e.Name())
		}
	}
	if len(dirs) == 0 {
		return nil, errors.New("list functions: no functions/*/main.go under " + root)
	}
	sort.Strings(dirs)
	return dirs, nil
}

// goBuild runs go build in dir for the host with Lambda's tags.
func goBuild(ctx context.Context, dir, out string, pkgs ...string) error {
	args := append([]string{"build", "-tags", "lambda.norpc", "-trimpath", "-o", out}, pkgs...)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+runtime.GOOS, "GOARCH="+runtime.GOARCH)
	var output bytes.Buffer
	cmd.Stdout, cmd.Stderr = &output, &output
	if err := cmd.Run(); err != nil {
		return &BuildError{Packages: pkgs, Err: err, Output: output.String()}
	}
	return nil
}
