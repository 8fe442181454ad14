package sourcebundle

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// bundleWriter writes bundles laid out as symbolic's SourceBundleWriter
// (the writer behind `sentry-cli difutil bundle-sources`) lays them out:
// the SYSB header with version 2, then a zip archive whose sources sit at
// files/<path made safe>, deflated, dated 1980-01-01, a counter appended to
// a path already taken, and manifest.json written last as compact JSON
// with "files" first, "source_links" when there are any, then the
// attributes in key order.
type bundleWriter struct {
	t        testing.TB
	buf      bytes.Buffer
	zw       *zip.Writer
	files    map[string]manifestFile
	links    map[string]string
	attrs    map[string]string
	noHeader bool
}

type manifestFile struct {
	Type    string            `json:"type,omitempty"`
	Path    string            `json:"path,omitempty"`
	URL     string            `json:"url,omitempty"`
	Headers map[string]string `json:"headers,omitempty"`
}

// newBundleWriter starts a bundle. With absoluteOffsets the zip's offsets
// count from the start of the file (header included), otherwise from the
// start of the archive; readers must take both.
func newBundleWriter(t testing.TB, absoluteOffsets bool) *bundleWriter {
	w := &bundleWriter{t: t, files: map[string]manifestFile{}, links: map[string]string{}, attrs: map[string]string{}}
	w.buf.WriteString(Magic)
	binary.Write(&w.buf, binary.LittleEndian, uint32(2))
	w.zw = zip.NewWriter(&w.buf)
	if absoluteOffsets {
		w.zw.SetOffset(8)
	}
	return w
}

// newBareWriter starts a bundle without the SYSB header.
func newBareWriter(t testing.TB) *bundleWriter {
	w := &bundleWriter{t: t, files: map[string]manifestFile{}, links: map[string]string{}, attrs: map[string]string{}, noHeader: true}
	w.zw = zip.NewWriter(&w.buf)
	return w
}

var sanePathRE = regexp.MustCompile(`:?[/\\]+`)

// sanitizeBundlePath makes a debug info path into a zip path as symbolic
// does: each run of separators (with a ':' before it) becomes '/', and a
// leading '/' goes.
func sanitizeBundlePath(p string) string {
	return strings.TrimPrefix(sanePathRE.ReplaceAllString(p, "/"), "/")
}

// addSource adds a file as write_object does for a path of the debug
// info: type "source" and the path as given. It returns the zip path.
func (w *bundleWriter) addSource(path string, contents []byte) string {
	return w.addFile(sanitizeBundlePath(path), contents, manifestFile{Type: "source", Path: path})
}

// addFile adds contents at files/<name> (made unique) with info.
func (w *bundleWriter) addFile(name string, contents []byte, info manifestFile) string {
	zp := w.uniquePath("files/" + name)
	w.writeEntry(zp, contents, zip.Deflate)
	w.files[zp] = info
	return zp
}

func (w *bundleWriter) uniquePath(p string) string {
	for dup := 1; ; dup++ {
		if _, taken := w.files[p]; !taken {
			return p
		}
		if dup == 1 {
			p += ".1"
		} else {
			p = strings.TrimRight(p, "0123456789") + strconv.Itoa(dup)
		}
	}
}

func (w *bundleWriter) writeEntry(name string, contents []byte, method uint16) {
	fw, err := w.zw.CreateHeader(&zip.FileHeader{
		Name: name, Method: method, Modified: time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC),
	})
	if err != nil {
		w.t.Fatal(err)
	}
	if _, err := fw.Write(contents); err != nil {
		w.t.Fatal(err)
	}
}

// manifestJSON renders the manifest as serde_json would.
func (w *bundleWriter) manifestJSON() []byte {
	var b bytes.Buffer
	b.WriteString(`{"files":`)
	b.Write(compactJSON(w.t, w.files))
	if len(w.links) > 0 {
		b.WriteString(`,"source_links":`)
		b.Write(compactJSON(w.t, w.links))
	}
	keys := make([]string, 0, len(w.attrs))
	for k := range w.attrs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		b.WriteByte(',')
		b.Write(compactJSON(w.t, k))
		b.WriteByte(':')
		b.Write(compactJSON(w.t, w.attrs[k]))
	}
	b.WriteByte('}')
	return b.Bytes()
}

func compactJSON(t testing.TB, v any) []byte {
	var b bytes.Buffer
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(false)
	if err := e.Encode(v); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// finish writes the manifest and closes the archive.
func (w *bundleWriter) finish() []byte {
	return w.finishWith(w.manifestJSON())
}

// finishWith writes manifest as manifest.json and closes the archive.
func (w *bundleWriter) finishWith(manifest []byte) []byte {
	w.writeEntry(manifestPath, manifest, zip.Deflate)
	if err := w.zw.Close(); err != nil {
		w.t.Fatal(err)
	}
	return w.buf.Bytes()
}

// zipOf writes a plain zip of the given entries (name, contents) in order.
func zipOf(t testing.TB, entries ...string) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for i := 0; i+1 < len(entries); i += 2 {
		fw, err := zw.Create(entries[i])
		if err != nil {
			t.Fatal(err)
		}
		fw.Write([]byte(entries[i+1]))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestSanitizeBundlePath(t *testing.T) {
	// symbolic's own cases for the writer's path mangling.
	for in, want := range map[string]string{
		"foo": "foo", "foo/bar": "foo/bar", "/foo/bar": "foo/bar", "C:/foo/bar": "C/foo/bar",
		`\foo\bar`: "foo/bar", `\\UNC\foo\bar`: "UNC/foo/bar",
	} {
		if got := sanitizeBundlePath(in); got != want {
			t.Errorf("sanitizeBundlePath(%q) = %q, want %q", in, got, want)
		}
	}
}
