package sourcebundle

import (
	"archive/zip"
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"
)

// needTool fails the test when a reference tool is missing: these tests
// must not pass by skipping.
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is not installed: run make deps", name)
	}
	return p
}

// rustRef builds testdata/rustref.rs (once per run), answers from Rust's
// standard library (the one Symbolicator is built with).
func rustRef(t *testing.T) string {
	rustc := needTool(t, "rustc")
	rustOnce.Do(func() {
		rustDir, rustErr = os.MkdirTemp("", "sourcebundle-rustref")
		if rustErr != nil {
			return
		}
		rustBin = filepath.Join(rustDir, "rustref")
		out, err := exec.Command(rustc, "--edition", "2021", "-o", rustBin, filepath.Join("testdata", "rustref.rs")).CombinedOutput()
		if err != nil {
			rustErr = fmt.Errorf("rustc testdata/rustref.rs: %v\n%s", err, out)
		}
	})
	if rustErr != nil {
		t.Fatal(rustErr)
	}
	return rustBin
}

var (
	rustOnce         sync.Once
	rustDir, rustBin string
	rustErr          error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if rustDir != "" {
		os.RemoveAll(rustDir)
	}
	os.Exit(code)
}

// askRust sends records to the reference in mode and returns its output
// lines.
func askRust(t *testing.T, bin, mode string, records [][]byte) []string {
	var in bytes.Buffer
	for _, r := range records {
		binary.Write(&in, binary.LittleEndian, uint32(len(r)))
		in.Write(r)
	}
	cmd := exec.Command(bin, mode)
	cmd.Stdin = &in
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("rustref %s: %v", mode, err)
	}
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	return lines
}

// randomText joins n random pieces.
func randomText(r *rand.Rand, pieces []string, n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		b.WriteString(pieces[r.IntN(len(pieces))])
	}
	return b.String()
}

// TestLinesAgainstRust checks the line splitting and the UTF-8 test
// against Rust's str::lines and str::from_utf8, and the context window
// against the window taken from Rust's lines: pre is the up to n lines
// before line, post the up to n after it.
func TestLinesAgainstRust(t *testing.T) {
	bin := rustRef(t)
	r := rand.New(rand.NewPCG(1, 2))
	pieces := []string{"a", "b", " ", "\t", "\n", "\n", "\r", "\r\n", "\r\r\n", "é", "€", "😀", "\u0301",
		"\xff", "\xc3", "\xe2\x82", "\x00", strings.Repeat("x", 139), "€" + strings.Repeat("y", 150)}
	var sources [][]byte
	for i := 0; i < 600; i++ {
		sources = append(sources, []byte(randomText(r, pieces, r.IntN(24))))
	}
	sources = append(sources, nil, []byte("\n"), []byte("\r"), []byte("\r\n"), []byte("a\r"))
	out := askRust(t, bin, "lines", sources)
	for i, src := range sources {
		if len(out) == 0 {
			t.Fatal("rustref answered too few records")
		}
		head := out[0]
		out = out[1:]
		if head == "invalid" {
			if utf8.Valid(src) {
				t.Errorf("%q: Rust says not UTF-8, Go says UTF-8", src)
			}
			if _, _, _, ok := Context(src, 1, 5); ok {
				t.Errorf("%q: Context ok for text Rust rejects", src)
			}
			continue
		}
		n, _ := strconv.Atoi(head)
		want := make([]string, n)
		for j := range want {
			b, err := hex.DecodeString(out[j])
			if err != nil {
				t.Fatal(err)
			}
			want[j] = string(b)
		}
		out = out[n:]
		var got []string
		lr := lineReader{rest: src}
		for l, ok := lr.next(); ok; l, ok = lr.next() {
			got = append(got, l)
		}
		if !utf8.Valid(src) || len(got) != len(want) || (len(got) > 0 && !reflect.DeepEqual(got, want)) {
			t.Errorf("source %d %q: lines %q, Rust's %q", i, src, got, want)
			continue
		}
		for line := 0; line <= n+2; line++ {
			for _, ctxLines := range []int{0, 1, 2, 5} {
				checkWindow(t, src, want, line, ctxLines)
			}
		}
	}
}

func checkWindow(t *testing.T, src []byte, lines []string, line, n int) {
	t.Helper()
	idx := max(line, 1) - 1 // line 0 reads as line 1
	trimmed := func(ls []string) []string {
		var out []string
		for _, l := range ls {
			out = append(out, trimLine(l, 0))
		}
		return out
	}
	pre, ctx, post, ok := Context(src, line, n)
	if idx >= len(lines) {
		if ok {
			t.Errorf("%q line %d: ok past the last of %d lines", src, line, len(lines))
		}
		return
	}
	wantPre := trimmed(lines[max(idx-n, 0):idx])
	wantPost := trimmed(lines[idx+1 : min(idx+1+n, len(lines))])
	if !ok || ctx != trimLine(lines[idx], 0) || !reflect.DeepEqual(pre, wantPre) || !reflect.DeepEqual(post, wantPost) {
		t.Errorf("%q line %d n %d: %q %q %q %v; want %q %q %q", src, line, n, pre, ctx, post, ok, wantPre, trimLine(lines[idx], 0), wantPost)
	}
}

// TestFloorCharBoundaryAgainstRust checks the cut points of long lines
// against Rust's str::floor_char_boundary.
func TestFloorCharBoundaryAgainstRust(t *testing.T) {
	bin := rustRef(t)
	r := rand.New(rand.NewPCG(3, 4))
	pieces := []string{"a", "é", "€", "😀", "\u0301"}
	type q struct {
		s string
		i int
	}
	var qs []q
	var records [][]byte
	for k := 0; k < 300; k++ {
		s := randomText(r, pieces, r.IntN(12))
		for i := 0; i <= len(s)+2; i++ {
			rec := binary.LittleEndian.AppendUint32(nil, uint32(i))
			records = append(records, append(rec, s...))
			qs = append(qs, q{s, i})
		}
	}
	out := askRust(t, bin, "floor", records)
	if len(out) != len(qs) {
		t.Fatalf("rustref answered %d of %d", len(out), len(qs))
	}
	for k, q := range qs {
		if got := strconv.Itoa(floorCharBoundary(q.s, q.i)); got != out[k] {
			t.Errorf("floorCharBoundary(%q, %d) = %s, Rust's %s", q.s, q.i, got, out[k])
		}
	}
}

// TestLowerAgainstRust checks the lower-casing of source link patterns
// against Rust's str::to_lowercase, final sigma and İ included.
func TestLowerAgainstRust(t *testing.T) {
	bin := rustRef(t)
	r := rand.New(rand.NewPCG(5, 6))
	pieces := []string{"A", "z", "/", "\\", "*", " ", ".", "'", ":", "-", "Σ", "σ", "ς", "Α", "Ω", "İ", "I", "ı",
		"É", "ß", "ẞ", "Ж", "\u0301", "\u00ad", "ʰ", "1", "Ǆ", "ǅ", "Ⅻ", "Ⓐ", "Ꭰ", "𐐀"}
	var inputs []string
	for k := 0; k < 2000; k++ {
		inputs = append(inputs, randomText(r, pieces, r.IntN(10)))
	}
	inputs = append(inputs, "ΣΑΣ", "ΑΣ", "Σ", "ΑΣ'Β", "Α'Σ", "ΑΣ.", "C:\\SRC\\ΟΔΟΣ\\*", "/İstanbul/*")
	var records [][]byte
	for _, s := range inputs {
		records = append(records, []byte(s))
	}
	out := askRust(t, bin, "lower", records)
	if len(out) != len(inputs) {
		t.Fatalf("rustref answered %d of %d", len(out), len(inputs))
	}
	for k, s := range inputs {
		want, _ := hex.DecodeString(out[k])
		if got := rustLower(s); got != string(want) {
			t.Errorf("rustLower(%q) = %q, Rust's %q", s, got, want)
		}
	}
}

// python runs testdata/zipref.py.
func python(t *testing.T, args ...string) []byte {
	py := needTool(t, "python3")
	cmd := exec.Command(py, append([]string{filepath.Join("testdata", "zipref.py")}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("zipref.py %s: %v\n%s", args[0], err, stderr.Bytes())
	}
	return out
}

type pyDump struct {
	Names []string           `json:"names"`
	Files map[string]*string `json:"files"`
}

// randomPath makes a debug info path, Unix or Windows style.
func randomPath(r *rand.Rand, k int) string {
	parts := []string{"src", "app", "Lib", "ünï", "with space", "a+b", "x.y", "深い", "..", "C:", "ŝ"}
	seps := []string{"/", "/", `\`, "//"}
	var b strings.Builder
	switch r.IntN(4) {
	case 0:
		b.WriteString(`C:\`)
	case 1:
		b.WriteString(`\\server\share\`)
	default:
		b.WriteString("/")
	}
	for i := r.IntN(4); i >= 0; i-- {
		b.WriteString(parts[r.IntN(len(parts))])
		b.WriteString(seps[r.IntN(len(seps))])
	}
	b.WriteString("f" + strconv.Itoa(k) + ".c")
	return b.String()
}

func randomSource(r *rand.Rand) []byte {
	pieces := []string{"int x;", "\n", "\r\n", "\t", "é", "😀", "{}", strings.Repeat("z", 200)}
	return []byte(randomText(r, pieces, r.IntN(40)))
}

// TestAgainstPythonZipfile writes bundles as sentry-cli does and checks
// that every file a lookup returns is what Python's zipfile reads from the
// same entry, and that every entry name decodes alike.
func TestAgainstPythonZipfile(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	dir := t.TempDir()
	type written struct {
		file  string
		paths map[string]string // debug info path → zip path
	}
	var bundles []written
	for k := 0; k < 25; k++ {
		w := newBundleWriter(t, k%2 == 0)
		w.attrs["debug_id"] = "dfb8e43a-f242-3d73-a453-aeb6a777ef75"
		paths := map[string]string{}
		for i := r.IntN(12); i >= 0; i-- {
			p := randomPath(r, i)
			if _, dup := paths[p]; dup {
				continue
			}
			paths[p] = w.addSource(p, randomSource(r))
		}
		file := filepath.Join(dir, strconv.Itoa(k)+".src.zip")
		if err := os.WriteFile(file, w.finish(), 0o644); err != nil {
			t.Fatal(err)
		}
		bundles = append(bundles, written{file, paths})
	}
	// Entries whose names carry no UTF-8 flag: code page 437.
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for i := 0; i < 40; i++ {
		name := []byte("files/")
		for j := r.IntN(8); j >= 0; j-- {
			name = append(name, byte(0x20+r.IntN(0xe0)))
		}
		fw, _ := zw.CreateHeader(&zip.FileHeader{Name: string(name), NonUTF8: true, Method: zip.Store})
		fw.Write(name)
	}
	fw, _ := zw.CreateHeader(&zip.FileHeader{Name: manifestPath})
	fw.Write([]byte("{}"))
	zw.Close()
	cp437File := filepath.Join(dir, "cp437.zip")
	os.WriteFile(cp437File, buf.Bytes(), 0o644)

	args := []string{"dump"}
	for _, b := range bundles {
		args = append(args, b.file)
	}
	args = append(args, cp437File)
	var dumps []pyDump
	if err := json.Unmarshal(python(t, args...), &dumps); err != nil {
		t.Fatal(err)
	}
	if len(dumps) != len(bundles)+1 {
		t.Fatalf("zipref.py dumped %d bundles of %d", len(dumps), len(bundles)+1)
	}
	for k, wb := range bundles {
		data, _ := os.ReadFile(wb.file)
		b, err := Open(data, Limits{})
		if err != nil {
			t.Fatalf("%s: %v", wb.file, err)
		}
		if len(b.Files()) != len(wb.paths) {
			t.Errorf("%s: %d files, want %d", wb.file, len(b.Files()), len(wb.paths))
		}
		for p, zp := range wb.paths {
			enc := dumps[k].Files[zp]
			if enc == nil {
				t.Fatalf("%s: Python cannot read %q", wb.file, zp)
			}
			want, _ := base64.StdEncoding.DecodeString(*enc)
			got, ok := b.Source(p)
			if !ok || !bytes.Equal(got, want) {
				t.Errorf("%s: Source(%q) = %q, %v; Python reads %q from %q", wb.file, p, got, ok, want, zp)
			}
		}
	}
	zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	pyNames := dumps[len(dumps)-1].Names
	if len(pyNames) != len(zr.File) {
		t.Fatalf("Python lists %d entries, Go %d", len(pyNames), len(zr.File))
	}
	for i, f := range zr.File {
		if got := entryName(f); got != pyNames[i] {
			t.Errorf("entry %d (% x): name %q, Python's %q", i, f.Name, got, pyNames[i])
		}
	}
}

// TestBundlesWrittenByPython reads bundles another zip writer made, with
// and without the header, stored and deflated.
func TestBundlesWrittenByPython(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	dir := t.TempDir()
	var specs []map[string]any
	wants := map[string]map[string][]byte{}
	for k := 0; k < 8; k++ {
		want := map[string][]byte{}
		manifest := map[string]manifestFile{}
		var entries [][3]string
		for i := 0; i < 6; i++ {
			p := randomPath(r, i)
			zp := "files/" + sanitizeBundlePath(p)
			if _, dup := manifest[zp]; dup {
				continue
			}
			src := randomSource(r)
			want[p] = src
			manifest[zp] = manifestFile{Type: "source", Path: p}
			method := []string{"stored", "deflated"}[r.IntN(2)]
			entries = append(entries, [3]string{zp, base64.StdEncoding.EncodeToString(src), method})
		}
		m, _ := json.Marshal(map[string]any{"files": manifest, "object_name": "app"})
		entries = append(entries, [3]string{manifestPath, base64.StdEncoding.EncodeToString(m), "deflated"})
		out := filepath.Join(dir, strconv.Itoa(k)+".src.zip")
		specs = append(specs, map[string]any{"out": out, "header": k%2 == 0, "entries": entries})
		wants[out] = want
	}
	specFile := filepath.Join(dir, "specs.json")
	spec, _ := json.Marshal(specs)
	os.WriteFile(specFile, spec, 0o644)
	python(t, "write", specFile)
	for k, s := range specs {
		out := s["out"].(string)
		data, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		if Is(data) != (k%2 == 0) {
			t.Errorf("bundle %d: Is = %v", k, Is(data))
		}
		b, err := Open(data, Limits{})
		if err != nil {
			t.Fatalf("bundle %d: %v", k, err)
		}
		if b.Attributes()["object_name"] != "app" {
			t.Errorf("bundle %d: attributes %v", k, b.Attributes())
		}
		for p, src := range wants[out] {
			if got, ok := b.Source(p); !ok || !bytes.Equal(got, src) {
				t.Errorf("bundle %d: Source(%q) = %q, %v; want %q", k, p, got, ok, src)
			}
		}
	}
}
