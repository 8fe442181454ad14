package symbolicator

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCleanPath(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"/work/linux/../linux/main.cpp", "/work/linux/main.cpp"},
		{"/a/./b", "/a/b"},
		{"/a/b/../c", "/a/c"},
		{"/foo/../../b", "../b"},                   // symbolic's quirk: climbing past the top leaves a relative path
		{"../aaa/bbb/../ccc", "../aaa/bbb/../ccc"}, // and once past the top, ".." no longer folds
		{"a//b", "a//b"},                           // repeated separators stay
		{"/src/x.c", "/src/x.c"},
		{"/src/dir/", "/src/dir"},
		{`C:\a\..\b\c.cpp`, `C:\b\c.cpp`},
		{`C:\a/./b.cpp`, `C:\a\b.cpp`},
		{"", ""},
	} {
		t.Run(tc.in, func(t *testing.T) {
			if got := cleanPath(tc.in); got != tc.want {
				t.Errorf("cleanPath(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestSplitName(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"/a/b/c.c", "c.c"},
		{`C:\a\b.cpp`, "b.cpp"},
		{"c.c", "c.c"},
		{"/a/b/", "b"},
	} {
		if got := splitName(tc.in); got != tc.want {
			t.Errorf("splitName(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestAbsPathCleanedEndToEnd: a compilation directory with ".." in it
// (as -fdebug-prefix-map or a build system may leave it) is reported
// cleaned, as symbolic's symcache reports it.
func TestAbsPathCleanedEndToEnd(t *testing.T) {
	tmp := filepath.Clean(os.TempDir())
	s := buildSample(t, "-fdebug-prefix-map="+tmp+"=/work/linux/../linux")
	want := "/work/linux" + strings.TrimPrefix(s.Dir, tmp) + "/sample.c"
	dir := t.TempDir()
	s.putUnified(t, dir)
	_, srv := testService(t, Config{})
	_, f := firstResult(t, postJSON(t, srv.URL+"/symbolicate", sampleRequest(s, s.Syms["main"][0], fsSource("fs", dir, "unified"))))
	if f["abs_path"] != want || f["filename"] != "sample.c" {
		t.Errorf("abs_path = %v, filename = %v; want %s, sample.c", f["abs_path"], f["filename"], want)
	}
}
