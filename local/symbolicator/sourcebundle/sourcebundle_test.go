package sourcebundle

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"errors"
	"hash/crc32"
	"runtime"
	"strings"
	"testing"

	"github.com/symflow/symflow/shared/debugfile"
	"github.com/symflow/symflow/shared/debugfile/debugfiletest"
)

// cliBundle is a bundle as sentry-cli writes it for a small program built
// on Linux and Windows: the attributes write_object sets, sources under
// their sanitized paths, two paths that sanitize alike.
func cliBundle(t testing.TB, absoluteOffsets bool) ([]byte, map[string]string) {
	w := newBundleWriter(t, absoluteOffsets)
	w.attrs["arch"] = "x86_64"
	w.attrs["debug_id"] = "06f93af5-832b-3bbc-6dfd-27a46912605f"
	w.attrs["code_id"] = "f53af9062b83bc3b6dfd27a46912605f23e874de"
	w.attrs["object_name"] = "relay"
	src := map[string]string{
		"/usr/src/app/main.c":                  "#include <stdio.h>\n\nint main(void) {\n\treturn crash();\n}\n",
		`C:\work\app\win.cpp`:                  "// windows\r\nint f() {\r\n  return 1;\r\n}\r\n",
		"/usr/local/cargo/registry/src/h1.rs":  "fn h1() {}\n",
		"/usr/src/app/empty.c":                 "",
		"/usr/src/app/ünïcode.c":               "// ☃\n",
		"/usr/src/app/../app/dotdot.c":         "dotdot\n",
		`\\fileserver\share\proj\unc.c`:        "unc\n",
		"relative/path.c":                      "relative\n",
		"/usr/src/app/main.c.1":                "a file whose name looks like a duplicate\n",
		"/usr/src/app/with space/and+plus.c":   "space\n",
		"/usr/src/app/deep/deeper/deepest.inc": strings.Repeat("x", 5000) + "\n",
	}
	for p, s := range src {
		w.addSource(p, []byte(s))
	}
	return w.finish(), src
}

func TestOpenSentryCLIBundle(t *testing.T) {
	for _, abs := range []bool{true, false} {
		data, src := cliBundle(t, abs)
		if !Is(data) {
			t.Fatal("Is = false for a bundle with the SYSB header")
		}
		b, err := Open(data, Limits{})
		if err != nil {
			t.Fatalf("absolute offsets %v: %v", abs, err)
		}
		if got := b.DebugID(); got != "06f93af5-832b-3bbc-6dfd-27a46912605f" {
			t.Errorf("DebugID = %q", got)
		}
		attrs := b.Attributes()
		want := map[string]string{"arch": "x86_64", "debug_id": "06f93af5-832b-3bbc-6dfd-27a46912605f",
			"code_id": "f53af9062b83bc3b6dfd27a46912605f23e874de", "object_name": "relay"}
		if len(attrs) != len(want) {
			t.Errorf("Attributes = %v, want %v", attrs, want)
		}
		for k, v := range want {
			if attrs[k] != v {
				t.Errorf("Attributes[%q] = %q, want %q", k, attrs[k], v)
			}
		}
		attrs["arch"] = "changed"
		if b.Attributes()["arch"] != "x86_64" {
			t.Error("Attributes returned the bundle's own map")
		}
		for p, s := range src {
			got, ok := b.Source(p)
			if !ok || string(got) != s {
				t.Errorf("Source(%q) = %q, %v; want %q", p, got, ok, s)
			}
		}
		if n := len(b.Files()); n != len(src) {
			t.Errorf("Files() has %d entries, want %d", n, len(src))
		}
	}
}

func TestLookupPaths(t *testing.T) {
	w := newBundleWriter(t, true)
	w.addSource(`C:\users\martin\mydebugfile.cs`, []byte("cs"))
	w.addSource("/usr/martin/mydebugfile.h", []byte("h"))
	w.addSource("/a/b.c", []byte("first"))
	w.addSource(`\a\b.c`, []byte("second")) // sanitizes to files/a/b.c too: stored at files/a/b.c.1
	w.addSource("/Case/Sensitive.c", []byte("case"))
	w.addFile("nopath.c", []byte("nopath"), manifestFile{Type: "source"})
	data := w.finish()
	b, err := Open(data, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path string
		want string // "" for not found
	}{
		// symbolic's own cases: a Windows path matches however its
		// separators are written.
		{`C:\users\martin\mydebugfile.cs`, "cs"},
		{"C:/users/martin/mydebugfile.cs", "cs"},
		{`C:\users\martin/mydebugfile.cs`, "cs"},
		{`C:\\users\\\martin//mydebugfile.cs`, "cs"},
		{"/usr/martin/mydebugfile.h", "h"},
		{`\usr\martin\mydebugfile.h`, "h"},
		{"//usr///martin/mydebugfile.h", "h"},
		// Both entries index "/a/b.c"; the later zip path wins.
		{"/a/b.c", "second"},
		{`\a\b.c`, "second"},
		// Case is kept.
		{"/Case/Sensitive.c", "case"},
		{"/case/sensitive.c", ""},
		// No normalization beyond separators: no ".." folding, no
		// trimming, no lookup by zip path.
		{"/usr/martin/../martin/mydebugfile.h", ""},
		{"/usr/martin/mydebugfile.h ", ""},
		{"files/usr/martin/mydebugfile.h", ""},
		{"usr/martin/mydebugfile.h", ""},
		{"", ""},
		{"nopath.c", ""},
		{"/missing.c", ""},
	} {
		t.Run(tc.path, func(t *testing.T) {
			got, ok := b.Source(tc.path)
			if tc.want == "" {
				if ok {
					t.Fatalf("Source(%q) = %q, want not found", tc.path, got)
				}
				if _, err := b.Lookup(tc.path); !errors.Is(err, ErrNotFound) {
					t.Fatalf("Lookup(%q) error = %v, want ErrNotFound", tc.path, err)
				}
				return
			}
			if !ok || string(got) != tc.want {
				t.Fatalf("Source(%q) = %q, %v; want %q", tc.path, got, ok, tc.want)
			}
		})
	}
}

func TestLookupURLAndDebugID(t *testing.T) {
	// symbolic's artifact bundle cases: a file found by its URL, or by the
	// debug id of its "debug-id" header and its type.
	w := newBundleWriter(t, true)
	w.addFile("bar.js", []byte("filecontents"), manifestFile{
		Type: "minified_source", Path: "/files/bar.js.min", URL: "https://example.com/bar.js.min",
		Headers: map[string]string{"Debug-Id": "5e618b9f-54a9-4389-b196-519819dd7c47", "sourcemap": "bar.js.map"},
	})
	w.addFile("bar.js.map", []byte(`{"version":3}`), manifestFile{
		Type: "source_map", URL: "https://example.com/bar.js.map",
		Headers: map[string]string{"debug-id": "5E618B9F54A94389B196519819DD7C47"},
	})
	w.addFile("untyped.js", []byte("untyped"), manifestFile{
		URL: "https://example.com/untyped.js", Headers: map[string]string{"debug-id": "11111111-2222-3333-4444-555555555555"},
	})
	b, err := Open(w.finish(), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	d, err := b.LookupDebugID("5e618b9f-54a9-4389-b196-519819dd7c47", "minified_source")
	if err != nil {
		t.Fatal(err)
	}
	if string(d.Contents) != "filecontents" || d.Type() != "minified_source" || d.URL != "https://example.com/bar.js.min" ||
		d.File.Path != "/files/bar.js.min" || d.File.Headers["sourcemap"] != "bar.js.map" {
		t.Errorf("LookupDebugID = %+v", d)
	}
	if got := d.File.DebugID(); got != "5e618b9f-54a9-4389-b196-519819dd7c47" {
		t.Errorf("File.DebugID = %q (header names are lower-cased on reading)", got)
	}
	if _, err := b.LookupDebugID("5e618b9f-54a9-4389-b196-519819dd7c47", "source"); !errors.Is(err, ErrNotFound) {
		t.Errorf("LookupDebugID of the wrong type: %v, want ErrNotFound", err)
	}
	// Debug ids compare as ids: any accepted spelling finds the map.
	if d, err := b.LookupDebugID("5E618B9F-54A9-4389-B196-519819DD7C47", "source_map"); err != nil || string(d.Contents) != `{"version":3}` {
		t.Errorf("LookupDebugID(source_map) = %+v, %v", d, err)
	}
	if _, err := b.LookupDebugID("11111111-2222-3333-4444-555555555555", "source"); !errors.Is(err, ErrNotFound) {
		t.Errorf("an entry without a type was found by debug id: %v", err)
	}
	if _, err := b.LookupDebugID("not an id", "source"); !errors.Is(err, ErrNotFound) {
		t.Errorf("LookupDebugID(bad id): %v", err)
	}
	if d, err := b.LookupURL("https://example.com/untyped.js"); err != nil || string(d.Contents) != "untyped" || d.Type() != "source" {
		t.Errorf("LookupURL = %+v, %v", d, err)
	}
	if _, err := b.LookupURL("https://example.com/BAR.js.min"); !errors.Is(err, ErrNotFound) {
		t.Errorf("LookupURL is exact: %v", err)
	}
	if d, err := b.Lookup("/files/bar.js.min"); err != nil || d.URL != "https://example.com/bar.js.min" {
		t.Errorf("Lookup by path = %+v, %v", d, err)
	}
}

func TestSourceLinks(t *testing.T) {
	// symbolic's case: an embedded file wins over a link that also
	// matches; a path only a link matches gets its URL and no contents.
	w := newBundleWriter(t, true)
	w.addFile("bar/index.js", []byte("filecontents"), manifestFile{
		Type: "minified_source", Path: "/files/bar/index.min.js", URL: "https://example.com/bar/index.min.js",
	})
	w.links["/files/bar/*"] = "https://nope.com/*"
	w.links["/files/foo/*"] = "https://example.com/*"
	w.links["C:/Src/*"] = "https://win.example.com/src/*"
	b, err := Open(w.finish(), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	d, err := b.Lookup("/files/foo/index.min.js")
	if err != nil || d.Embedded || d.Contents != nil || d.URL != "https://example.com/index.min.js" || d.Type() != "source" || d.File.Path != "" {
		t.Errorf("link lookup = %+v, %v", d, err)
	}
	if _, ok := b.Source("/files/foo/index.min.js"); ok {
		t.Error("Source returned contents for a link-only file")
	}
	d, err = b.Lookup("/files/bar/index.min.js")
	if err != nil || !d.Embedded || string(d.Contents) != "filecontents" || d.URL != "https://example.com/bar/index.min.js" {
		t.Errorf("embedded lookup = %+v, %v", d, err)
	}
	// The looked-up path is normalized before the links see it, and
	// patterns compare without case; the rest keeps its case.
	d, err = b.Lookup(`c:\src\Dir\File.cs`)
	if err != nil || d.URL != "https://win.example.com/src/Dir/File.cs" {
		t.Errorf("windows link lookup = %+v, %v", d, err)
	}
}

func TestResolveLinkSymbolicCases(t *testing.T) {
	// symbolic-common's SourceLinkMappings cases, applied as given.
	links := compileLinks(map[string]string{
		`C:\src\*`:                "http://MyDefaultDomain.com/src/*",
		`C:\src\fOO\*`:            "http://MyFooDomain.com/src/*",
		`C:\src\foo\specific.txt`: "http://MySpecificFoodDomain.com/src/specific.txt",
		`C:\src\bar\*`:            "http://MyBarDomain.com/src/*",
		`C:\src\file.txt`:         "https://example.com/file.txt",
		"/home/user/src/*":        "https://linux.com/*",
	})
	if len(links) != 6 {
		t.Fatalf("%d links, want 6", len(links))
	}
	for _, tc := range []struct{ path, want string }{
		{`c:\other\path`, ""},
		{"/home/path", ""},
		{`c:\src\bAr\foo\FiLe.txt`, "http://MyBarDomain.com/src/foo/FiLe.txt"},
		{`c:\src\foo\FiLe.txt`, "http://MyFooDomain.com/src/FiLe.txt"},
		{`c:\src\foo\SpEcIfIc.txt`, "http://MySpecificFoodDomain.com/src/specific.txt"},
		{`c:\src\other\path`, "http://MyDefaultDomain.com/src/other/path"},
		{"/home/user/src/Path/TO/file.txt", "https://linux.com/Path/TO/file.txt"},
	} {
		got, ok := resolveLink(links, tc.path)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("resolve(%q) = %q, %v; want %q", tc.path, got, ok, tc.want)
		}
	}
	// Every '*' of the target takes the rest; a rest cut inside a
	// character (the pattern's lower case is longer) is empty.
	links = compileLinks(map[string]string{"/a/*": "https://x/*/y/*", "/İ/*": "https://i/[*]"})
	if got, _ := resolveLink(links, "/a/b"); got != "https://x/b/y/b" {
		t.Errorf("two stars: %q", got)
	}
	// "İ" lower-cases to two characters, one byte longer: the rest is cut
	// a byte late, and is empty when that falls inside a character.
	for path, want := range map[string]string{"/İ/rest": "https://i/[est]", "/İ/é": "https://i/[]"} {
		if got, ok := resolveLink(links, path); !ok || got != want {
			t.Errorf("resolve(%q) = %q, %v; want %q", path, got, ok, want)
		}
	}
}

func TestSourceLinkOrder(t *testing.T) {
	links := compileLinks(map[string]string{
		"/a/*": "short", "/a/b/*": "long", "/a/b/c": "exact", "/A/B/*": "long, other case",
	})
	// "/A/B/*" and "/a/b/*" are one pattern; "/a/b/*" sorts later as
	// written, so its target stays.
	for path, want := range map[string]string{"/a/b/c": "exact", "/a/b/d": "long", "/a/x": "short", "/A/B/C": "exact"} {
		if got, _ := resolveLink(links, path); got != want {
			t.Errorf("resolve(%q) = %q, want %q", path, got, want)
		}
	}
}

func TestManifestMissingFile(t *testing.T) {
	// The manifest names a zip path the archive lacks: symbolic's lookup
	// fails with an error, and the links are not tried.
	w := newBundleWriter(t, true)
	w.files["files/ghost.c"] = manifestFile{Type: "source", Path: "/src/ghost.c"}
	w.links["/src/*"] = "https://example.com/*"
	b, err := Open(w.finish(), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.Lookup("/src/ghost.c")
	if err == nil || errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), `"files/ghost.c"`) {
		t.Errorf("Lookup of a listed but absent file: %v", err)
	}
	if d, err := b.Lookup("/src/other.c"); err != nil || d.URL != "https://example.com/other.c" {
		t.Errorf("Lookup of a linked file: %+v, %v", d, err)
	}
}

func TestNonUTF8Source(t *testing.T) {
	w := newBundleWriter(t, true)
	w.addSource("/src/latin1.c", []byte("caf\xe9\n"))
	b, err := Open(w.finish(), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Lookup("/src/latin1.c"); err == nil || !strings.Contains(err.Error(), "not UTF-8") {
		t.Errorf("Lookup of a Latin-1 file: %v, want a not-UTF-8 error", err)
	}
}

func TestBareZip(t *testing.T) {
	w := newBareWriter(t)
	w.addSource("/src/a.c", []byte("a\n"))
	data := w.finish()
	if Is(data) {
		t.Error("Is = true for a zip without the SYSB header")
	}
	b, err := Open(data, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := b.Source("/src/a.c"); !ok || string(got) != "a\n" {
		t.Errorf("Source = %q, %v", got, ok)
	}
}

func TestEntryNames(t *testing.T) {
	// A name without the UTF-8 flag reads as code page 437 (so a UTF-8
	// name written without the flag does not match its manifest key),
	// unless a Unicode Path extra field whose CRC matches gives it.
	name := "files/é.c"
	upath := func(crc uint32) []byte {
		body := append([]byte{1, byte(crc), byte(crc >> 8), byte(crc >> 16), byte(crc >> 24)}, name...)
		return append([]byte{0x75, 0x70, byte(len(body)), 0}, body...)
	}
	for _, tc := range []struct {
		desc  string
		flag  bool
		extra []byte
		found bool
	}{
		{"utf-8 flag", true, nil, true},
		{"no flag", false, nil, false},
		{"no flag, unicode path", false, upath(crc32.ChecksumIEEE([]byte(name))), true},
		{"no flag, unicode path of another name", false, upath(1), false},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			var buf bytes.Buffer
			zw := zip.NewWriter(&buf)
			for _, e := range []struct {
				name, body string
				extra      []byte
				nonUTF8    bool
			}{
				{name, "é\n", tc.extra, !tc.flag},
				{manifestPath, `{"files":{"files/é.c":{"type":"source","path":"/é.c"}}}`, nil, false},
			} {
				fw, err := zw.CreateHeader(&zip.FileHeader{Name: e.name, Method: zip.Store, Extra: e.extra, NonUTF8: e.nonUTF8})
				if err != nil {
					t.Fatal(err)
				}
				fw.Write([]byte(e.body))
			}
			zw.Close()
			b, err := Open(buf.Bytes(), Limits{})
			if err != nil {
				t.Fatal(err)
			}
			_, ok := b.Source("/é.c")
			if ok != tc.found {
				t.Errorf("found = %v, want %v", ok, tc.found)
			}
		})
	}
}

func TestDuplicateEntries(t *testing.T) {
	// Of two archive entries with one name, the last is read.
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range [][2]string{
		{"files/a.c", "first"},
		{manifestPath, `{"files":{"files/a.c":{"path":"/a.c"}}, "arch": "x86"}`},
		{"files/a.c", "second"},
		{manifestPath, `{"files":{"files/a.c":{"path":"/a.c"}}, "arch": "arm64"}`},
	} {
		fw, _ := zw.CreateHeader(&zip.FileHeader{Name: e[0], Method: zip.Store})
		fw.Write([]byte(e[1]))
	}
	zw.Close()
	b, err := Open(buf.Bytes(), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := b.Source("/a.c"); string(got) != "second" {
		t.Errorf("Source = %q, want the last entry", got)
	}
	if got := b.Attributes()["arch"]; got != "arm64" {
		t.Errorf("arch = %q, want the last manifest's", got)
	}
}

func TestManifestShapes(t *testing.T) {
	ok := func(m string) string { return m }
	for _, tc := range []struct {
		desc     string
		manifest string
		errWant  string // "" when Open must succeed
	}{
		{"minimal", ok(`{}`), ""},
		{"white space around", " \n\t{\"files\": {}}\r\n ", ""},
		{"null type", `{"files":{"files/a":{"type":null,"path":"/a"}}}`, ""},
		{"unknown fields ignored", `{"files":{"files/a":{"path":"/a","debug_id":"x","size":[1,{"a":[]}],"extra":null}}}`, ""},
		{"every type", `{"files":{"a":{"type":"source"},"b":{"type":"minified_source"},"c":{"type":"source_map"},"d":{"type":"indexed_ram_bundle"}}}`, ""},
		{"duplicate map keys keep the last", `{"files":{"a":{"path":"/x"},"a":{"path":"/y"}}}`, ""},
		{"duplicate attributes keep the last", `{"arch":"x86","arch":"arm64"}`, ""},
		{"empty", ``, "not JSON"},
		{"not JSON", `{"files":`, "not JSON"},
		{"garbage", `PK\x03\x04`, "not JSON"},
		{"array", `[]`, "not an object"},
		{"string", `"files"`, "not an object"},
		{"null", `null`, "not an object"},
		{"trailing data", `{} {}`, "after the object"},
		{"trailing garbage", `{}x`, "not JSON"},
		{"files not object", `{"files":[]}`, "files is an array, not an object"},
		{"files null", `{"files":null}`, "files is null"},
		{"entry not object", `{"files":{"a":"source"}}`, `files["a"] is a string, not an object`},
		{"unknown type", `{"files":{"a":{"type":"binary"}}}`, `unknown type "binary"`},
		{"type number", `{"files":{"a":{"type":1}}}`, "type is a number"},
		{"path number", `{"files":{"a":{"path":1}}}`, `files["a"].path is a number`},
		{"path null", `{"files":{"a":{"path":null}}}`, `files["a"].path is null`},
		{"url object", `{"files":{"a":{"url":{}}}}`, `files["a"].url is an object`},
		{"headers not strings", `{"files":{"a":{"headers":{"debug-id":1}}}}`, "is a number, not a string"},
		{"duplicate field", `{"files":{"a":{"path":"/a","path":"/b"}}}`, `duplicate field "path"`},
		{"duplicate files", `{"files":{},"files":{}}`, `duplicate field "files"`},
		{"attribute number", `{"files":{},"version":2}`, `attribute "version" is a number`},
		{"attribute null", `{"arch":null}`, `attribute "arch" is null`},
		{"source_links not strings", `{"source_links":{"/a/*":null}}`, "is null, not a string"},
		{"not UTF-8", "{\"arch\":\"x\xff\"}", "not UTF-8"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			w := newBundleWriter(t, true)
			_, err := Open(w.finishWith([]byte(tc.manifest)), Limits{})
			if tc.errWant == "" {
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.errWant) || !strings.Contains(err.Error(), "manifest.json") {
				t.Fatalf("Open error = %v, want one naming manifest.json and %q", err, tc.errWant)
			}
		})
	}
}

func TestManifestDuplicateKeys(t *testing.T) {
	w := newBundleWriter(t, true)
	w.writeEntry("a", []byte("x"), zip.Store)
	w.writeEntry("b", []byte("y"), zip.Store)
	b, err := Open(w.finishWith([]byte(`{"files":{"a":{"path":"/p"},"b":{"path":"/q"},"a":{"path":"/r"}},"arch":"x86","arch":"arm64"}`)), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := b.Source("/p"); ok {
		t.Error("the first value of a duplicated files key was kept")
	}
	if got, ok := b.Source("/r"); !ok || string(got) != "x" {
		t.Errorf("Source(/r) = %q, %v", got, ok)
	}
	if b.Attributes()["arch"] != "arm64" {
		t.Errorf("arch = %q", b.Attributes()["arch"])
	}
	// Header names that differ only in case are one; the one that sorts
	// later as written wins.
	f := lowerHeaders(map[string]string{"Debug-Id": "upper", "debug-id": "lower", "DEBUG-ID": "all caps"})
	if len(f) != 1 || f["debug-id"] != "lower" {
		t.Errorf("lowerHeaders = %v", f)
	}
}

func TestOpenErrors(t *testing.T) {
	good, _ := cliBundle(t, true)
	for _, tc := range []struct {
		desc    string
		data    []byte
		limits  Limits
		errWant string
	}{
		{"nil", nil, Limits{}, "not a zip archive (0 bytes)"},
		{"text", []byte("hello, world"), Limits{}, "not a zip archive"},
		{"header only", []byte("SYSB\x02\x00\x00\x00"), Limits{}, "not a zip archive"},
		{"no manifest", zipOf(t, "files/a.c", "a"), Limits{}, "no manifest.json"},
		{"manifest in a folder", zipOf(t, "files/manifest.json", "{}"), Limits{}, "no manifest.json"},
		{"manifest named in other case", zipOf(t, "Manifest.json", "{}"), Limits{}, "no manifest.json"},
		{"too many entries", good, Limits{MaxFiles: 5}, "more than the limit of 5"},
		{"too many manifest files", append([]byte(nil), bundleListing(t, 10)...), Limits{MaxFiles: 8}, "files has more than the limit of 8"},
		{"manifest too large", good, Limits{MaxManifestBytes: 64}, "more than the limit of 64"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			_, err := Open(tc.data, tc.limits)
			if err == nil || !strings.Contains(err.Error(), tc.errWant) {
				t.Fatalf("Open error = %v, want %q", err, tc.errWant)
			}
		})
	}
}

// bundleListing is a bundle whose manifest lists n files the archive does
// not hold.
func bundleListing(t testing.TB, n int) []byte {
	w := newBundleWriter(t, true)
	for i := 0; i < n; i++ {
		w.files["files/"+strings.Repeat("x", i+1)] = manifestFile{Path: "/" + strings.Repeat("x", i+1)}
	}
	return w.finish()
}

func TestTruncated(t *testing.T) {
	data, _ := cliBundle(t, true)
	for n := 0; n < len(data); n += 1 + n/50 {
		if _, err := Open(data[:n], Limits{}); err == nil {
			t.Fatalf("Open of the first %d of %d bytes succeeded", n, len(data))
		}
	}
}

func TestCorrupted(t *testing.T) {
	// Every single-byte change of a bundle either fails Open, or leaves a
	// bundle whose lookups return the original text or fail: a damaged
	// entry is never returned as text (the CRC is checked).
	data, src := cliBundle(t, true)
	for i := 0; i < len(data); i++ {
		bad := append([]byte(nil), data...)
		bad[i] ^= 0x5a
		b, err := Open(bad, Limits{})
		if err != nil {
			continue
		}
		for p, want := range src {
			if got, ok := b.Source(p); ok && string(got) != want {
				t.Fatalf("byte %d changed: Source(%q) = %q, want %q or nothing", i, p, got, want)
			}
		}
	}
}

// deflated compresses data.
func deflated(t testing.TB, data []byte) []byte {
	var b bytes.Buffer
	fw, _ := flate.NewWriter(&b, flate.BestSpeed)
	fw.Write(data)
	fw.Close()
	return b.Bytes()
}

// rawEntry adds an entry whose header fields are set by hand: the sizes
// it declares need not be the sizes it has.
func rawEntry(t testing.TB, zw *zip.Writer, name string, plain []byte, declared uint64) {
	comp := deflated(t, plain)
	fw, err := zw.CreateRaw(&zip.FileHeader{
		Name: name, Method: zip.Deflate, CRC32: crc32.ChecksumIEEE(plain),
		CompressedSize64: uint64(len(comp)), UncompressedSize64: declared,
	})
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(comp)
}

func TestBombs(t *testing.T) {
	const limit = 1 << 20
	// These bundles are bombs by the bundle-wide bound too (see
	// TestBundleBound); lifting it here checks that each entry is still
	// bounded on its own.
	unbounded := debugfile.InflateLimits{Ratio: 1 << 40}
	huge := make([]byte, 16<<20) // 16 MiB of zeros deflate to about 16 KiB
	for _, tc := range []struct {
		desc     string
		declared uint64
		errWant  string
	}{
		{"declares its size", uint64(len(huge)), "declares 16777216 bytes, more than the limit of 1048576"},
		{"declares a small size", 100, "files/bomb.c"},
		{"declares the limit", limit, "files/bomb.c"},
	} {
		t.Run("file "+tc.desc, func(t *testing.T) {
			var buf bytes.Buffer
			buf.WriteString("SYSB\x02\x00\x00\x00")
			zw := zip.NewWriter(&buf)
			zw.SetOffset(8)
			rawEntry(t, zw, "files/bomb.c", huge, tc.declared)
			rawEntry(t, zw, manifestPath, []byte(`{"files":{"files/bomb.c":{"type":"source","path":"/bomb.c"}}}`), 0)
			zw.Close()
			b, err := Open(buf.Bytes(), Limits{MaxFileBytes: limit, MaxManifestBytes: limit, Inflate: unbounded})
			if err == nil || !strings.Contains(err.Error(), "manifest.json") {
				// The manifest declares 0 bytes: it is read past that,
				// and archive/zip refuses it.
				t.Fatalf("Open with a manifest that lies about its size: %v", err)
			}
			buf.Reset()
			buf.WriteString("SYSB\x02\x00\x00\x00")
			zw = zip.NewWriter(&buf)
			zw.SetOffset(8)
			rawEntry(t, zw, "files/bomb.c", huge, tc.declared)
			m := []byte(`{"files":{"files/bomb.c":{"type":"source","path":"/bomb.c"}}}`)
			rawEntry(t, zw, manifestPath, m, uint64(len(m)))
			zw.Close()
			b, err = Open(buf.Bytes(), Limits{MaxFileBytes: limit, MaxManifestBytes: limit, Inflate: unbounded})
			if err != nil {
				t.Fatal(err)
			}
			alloc := allocated(func() { _, err = b.Lookup("/bomb.c") })
			if err == nil || !strings.Contains(err.Error(), tc.errWant) {
				t.Errorf("Lookup error = %v, want %q", err, tc.errWant)
			}
			if alloc > 4*limit {
				t.Errorf("Lookup allocated %d bytes for a file limited to %d", alloc, limit)
			}
		})
	}
	t.Run("file declares more than its data can hold", func(t *testing.T) {
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		rawEntry(t, zw, "files/tiny.c", []byte("x"), limit)
		fw, _ := zw.Create(manifestPath)
		fw.Write([]byte(`{"files":{"files/tiny.c":{"path":"/tiny.c"}}}`))
		zw.Close()
		data := buf.Bytes()
		b, err := Open(data, Limits{MaxFileBytes: limit, Inflate: unbounded})
		if err != nil {
			t.Fatal(err)
		}
		alloc := allocated(func() { _, err = b.Lookup("/tiny.c") })
		if err == nil || !strings.Contains(err.Error(), "compressed bytes can hold") {
			t.Errorf("Lookup error = %v", err)
		}
		if alloc > 64<<10 {
			t.Errorf("Lookup allocated %d bytes before refusing", alloc)
		}
	})
	t.Run("manifest", func(t *testing.T) {
		m := append([]byte(`{"files":{},"pad":"`), make([]byte, 16<<20)...)
		for i := 19; i < len(m); i++ {
			m[i] = ' '
		}
		m = append(m, `"}`...)
		for _, declared := range []uint64{uint64(len(m)), 50, limit} {
			var buf bytes.Buffer
			zw := zip.NewWriter(&buf)
			rawEntry(t, zw, manifestPath, m, declared)
			zw.Close()
			var err error
			alloc := allocated(func() { _, err = Open(buf.Bytes(), Limits{MaxManifestBytes: limit, Inflate: unbounded}) })
			if err == nil || !strings.Contains(err.Error(), "manifest.json") {
				t.Errorf("declared %d: Open error = %v", declared, err)
			}
			if alloc > 4*limit {
				t.Errorf("declared %d: Open allocated %d bytes for a manifest limited to %d", declared, alloc, limit)
			}
		}
	})
}

// allocated returns the bytes f allocates.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

func TestDebugIDs(t *testing.T) {
	// rust-debugid's cases, as symbolic parses the debug_id attribute and
	// "debug-id" headers.
	const uuid = "dfb8e43a-f242-3d73-a453-aeb6a777ef75"
	for in, want := range map[string]string{
		"dfb8e43a-f242-3d73-a453-aeb6a777ef75":                uuid,
		"dfb8e43a-f242-3d73-a453-aeb6a777ef75-a":              uuid + "-a",
		"dfb8e43a-f242-3d73-a453-aeb6a777ef75-feedface":       uuid + "-feedface",
		"dfb8e43af2423d73a453aeb6a777ef75feedface":            uuid + "-feedface",
		"DFB8E43A-F242-3D73-A453-AEB6A777EF75-FEEDFACE":       uuid + "-feedface",
		"dfb8e43a-f242-3d73-a453-aeb6a777ef75-feedface-1-2-3": uuid + "-feedface",
		"DFB8E43AF2423D73A453AEB6A777EF750":                   uuid,
		"DFB8E43AF2423D73A453AEB6A777EF75a":                   uuid + "-a",
		"DFB8E43AF2423D73A453AEB6A777EF75feedface123":         uuid + "-feedface",
		"dfb8e43a-f242-3d73-a453-aeb6a777ef75-":               uuid,
		"dfb8e43af242-3d73a453-aeb6a777ef75":                  uuid,
		"dfb8e43a-f242-3d73-a453-aeb6a777ef7":                 "",
		"DFB8E43AF2423D73A453AEB6A777EF7":                     "",
		"":                                                    "",
		" dfb8e43a-f242-3d73-a453-aeb6a777ef75":               "",
		"dfb8e43a-f242-3d73-a453-aeb6a777ef75 ":               "",
		"{dfb8e43a-f242-3d73-a453-aeb6a777ef75}":              "",
		"dfb8e43a-f242-3d73-a453-aeb6a777ef75-feedface-g":     "",
		"dfb8e43a-f242-3d73-a453-aeb6a777ef75--a":             uuid,
		uuid + "-12345678" + strings.Repeat("1", 24):          uuid + "-12345678",
		uuid + "-12345678" + strings.Repeat("1", 25):          "",
	} {
		got, ok := parseDebugID(in)
		if got != want || ok != (want != "") {
			t.Errorf("parseDebugID(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}

// TestBundleBound: a bundle whose entries declare more than the bound for
// a file of its size in total is refused by Open, naming the entry that
// took the total over it, before anything but the directory is read;
// however many of its files lookups would read, a bundle Open accepts
// costs at most the bound.
func TestBundleBound(t *testing.T) {
	manifest := debugfiletest.ZipEntry{Name: manifestPath, Data: []byte(`{"files":{"files/a.c":{"path":"/a.c"},"files/b.c":{"path":"/b.c"}}}`)}
	a := debugfiletest.ZipEntry{Name: "files/a.c", Zeros: 1 << 20}
	b := debugfiletest.ZipEntry{Name: "files/b.c", Zeros: 1 << 20}
	bundle := debugfiletest.Zip(true, manifest, a, b)
	for _, tc := range []struct {
		name   string
		limits debugfile.InflateLimits
		want   string
	}{
		{"default bound", debugfile.InflateLimits{}, "sourcebundle: entry files/a.c claims 1048576 bytes decompressed, over the bound of"},
		{"a cap between one entry and both", debugfile.InflateLimits{MaxBytes: 3 << 19, Ratio: 1 << 20}, "entry files/b.c claims 1048576 bytes decompressed, bringing the file's total to"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			alloc := allocated(func() { _, err = Open(bundle, Limits{Inflate: tc.limits}) })
			var ie *debugfile.InflateError
			if !errors.As(err, &ie) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Open = %v, want an *InflateError saying %q", err, tc.want)
			}
			if alloc > 256<<10 {
				t.Errorf("Open allocated %d bytes", alloc)
			}
		})
	}
	// With room for both, both are read.
	bb, err := Open(bundle, Limits{Inflate: debugfile.InflateLimits{MaxBytes: 4 << 20, Ratio: 1 << 20}})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/a.c", "/b.c"} {
		if src, ok := bb.Source(p); !ok || len(src) != 1<<20 {
			t.Errorf("%s: %d bytes, %v", p, len(src), ok)
		}
	}
}
