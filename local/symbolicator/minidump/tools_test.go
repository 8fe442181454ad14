package minidump

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// breakpadTool returns the path of one of Breakpad's prebuilt tools, which
// `make deps` installs with the npm package "minidump".
func breakpadTool(t testing.TB, name string) string {
	t.Helper()
	path, err := filepath.Abs(filepath.Join("..", "..", "..", "node_modules", "minidump", "bin", "linux-x64", name))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("%s is not installed: run make deps", name)
	}
	return path
}

// minidumpDump runs Breakpad's minidump_dump on the dump in data and returns
// what it prints on stdout. It fails the test if minidump_dump cannot read
// the dump's header and directory. (Its exit status is no guide: it is 1
// whenever some stream it looks for is absent.)
func minidumpDump(t testing.TB, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "dump.dmp")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(breakpadTool(t, "minidump_dump"), path)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if !strings.Contains(stdout.String(), "\nStreams:\n") {
		t.Fatalf("minidump_dump could not read the dump (%v):\n%s", err, lastLines(stderr.String(), 10))
	}
	return stdout.String()
}

func lastLines(s string, n int) string {
	lines := bytes.Split([]byte(s), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}
