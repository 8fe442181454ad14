package breakpad

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Reference tools. Tests that need one fail (rather than skip) when it is
// missing, so that a machine without them cannot pass silently.

func requireTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is not installed: run make deps", name)
	}
	return p
}

// dumpSyms is Breakpad's dump_syms from the npm package minidump.
func dumpSyms(t testing.TB) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "..", "..", "node_modules", "minidump", "bin", "linux-x64", "dump_syms"))
	if err == nil {
		if _, err = os.Stat(p); err == nil {
			return p
		}
	}
	t.Fatalf("dump_syms is not installed: run make deps")
	return ""
}

func run(t testing.TB, dir string, stdin []byte, name string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	return stdout.Bytes()
}

// symFile runs dump_syms (with INLINE records) on bin and parses the result.
func symFile(t testing.TB, bin string) (*File, []byte) {
	t.Helper()
	out := run(t, filepath.Dir(bin), nil, dumpSyms(t), "-d", bin)
	f, err := Parse(out)
	if err != nil {
		t.Fatalf("Parse(dump_syms %s): %v", bin, err)
	}
	return f, out
}

// compileIn builds sources in dir into dir/name.
func compileIn(dir, name, cc string, flags, sources []string) (string, error) {
	bin := filepath.Join(dir, name)
	args := append(append([]string{}, flags...), "-o", bin)
	args = append(args, sources...)
	cmd := exec.Command(cc, args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("%s %s: %v\n%s", cc, strings.Join(args, " "), err, out)
	}
	return bin, nil
}
