package sourcebundle

import (
	"testing"
	"unicode/utf8"

	"github.com/symflow/symflow/shared/debugfile/debugfiletest"
)

// fuzzLimits keep each input fast: a hostile one costs at most a few
// hundred KiB of decompression.
var fuzzLimits = Limits{MaxFiles: 64, MaxFileBytes: 64 << 10, MaxManifestBytes: 64 << 10}

func FuzzOpen(f *testing.F) {
	cli, _ := cliBundle(f, true)
	f.Add(cli)
	bare, _ := cliBundle(f, false)
	f.Add(bare[8:])
	w := newBundleWriter(f, true)
	w.addFile("bar.js", []byte("x\ny\n"), manifestFile{Type: "minified_source", Path: "/b.js", URL: "https://e/b.js",
		Headers: map[string]string{"debug-id": "5e618b9f-54a9-4389-b196-519819dd7c47"}})
	w.links["/src/*"] = "https://example.com/*"
	f.Add(w.finish())
	f.Add(zipOf(f, manifestPath, `{"files":{"a":{"path":"/a"}}}`, "a", "a\r\nb"))
	f.Add([]byte("SYSB\x02\x00\x00\x00PK\x05\x06"))
	// Bombs: entries claiming more than the bundle's bound, and one whose
	// data runs past its claim.
	m := debugfiletest.ZipEntry{Name: manifestPath, Data: []byte(`{"files":{"a":{"path":"/a"},"b":{"path":"/b"}}}`)}
	f.Add(debugfiletest.Zip(true, m, debugfiletest.ZipEntry{Name: "a", Zeros: 32 << 10}, debugfiletest.ZipEntry{Name: "b", Zeros: 32 << 10}))
	f.Add(debugfiletest.Zip(true, m, debugfiletest.ZipEntry{Name: "a", Data: []byte("x"), Zeros: 32 << 10, Claim: 2}))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := Open(data, fuzzLimits)
		if err != nil {
			if b != nil {
				t.Fatal("Open returned a bundle and an error")
			}
			return
		}
		b.Attributes()
		b.DebugID()
		var read int64 // distinct entries' bytes
		seen := map[string]bool{}
		defer func() {
			if bound := fuzzLimits.Inflate.Bound(int64(len(data))); read > bound {
				t.Fatalf("lookups read %d bytes from a bundle bounded at %d", read, bound)
			}
		}()
		for _, fi := range b.Files() {
			for _, d := range []func() (Descriptor, error){
				func() (Descriptor, error) { return b.Lookup(fi.Path) },
				func() (Descriptor, error) { return b.LookupURL(fi.URL) },
				func() (Descriptor, error) { return b.LookupDebugID(fi.DebugID(), fi.Type) },
			} {
				d, err := d()
				if err != nil {
					continue
				}
				if d.Embedded && !seen[d.File.ZipPath] {
					seen[d.File.ZipPath] = true
					read += int64(len(d.Contents))
				}
				if d.Embedded && (int64(len(d.Contents)) > fuzzLimits.MaxFileBytes || !utf8.Valid(d.Contents)) {
					t.Fatalf("lookup returned %d bytes (UTF-8 %v)", len(d.Contents), utf8.Valid(d.Contents))
				}
				for line := 0; line < 3; line++ {
					Context(d.Contents, line, DefaultContextLines)
				}
			}
		}
		b.Lookup("/src/x.c")
	})
}

func FuzzContext(f *testing.F) {
	f.Add([]byte("a\nb\r\nc\rd\n"), 2, 5)
	f.Add([]byte(longLine+"\n"+longLine), 1, 1)
	f.Add([]byte("\xff\n"), 1, 0)
	f.Fuzz(func(t *testing.T, source []byte, line, n int) {
		line %= 1000
		n %= 20
		pre, ctx, post, ok := Context(source, line, n)
		if !ok {
			return
		}
		if !utf8.Valid(source) {
			t.Fatal("context from text that is not UTF-8")
		}
		if len(pre) > max(n, 0) || len(post) > max(n, 0) {
			t.Fatalf("%d lines before and %d after, n = %d", len(pre), len(post), n)
		}
		for _, l := range append(append(pre, ctx), post...) {
			if len(l) > 150 && len(l) > len("{snip} ")+140+len(" {snip}") {
				t.Fatalf("line of %d bytes", len(l))
			}
			if !utf8.ValidString(l) {
				t.Fatalf("line %q is not UTF-8", l)
			}
		}
	})
}
