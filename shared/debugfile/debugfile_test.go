package debugfile_test

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/symflow/symflow/shared/blob"
	"github.com/symflow/symflow/shared/debugfile"
)

const crashy = "../../events/debug-files/crashy"

// The sample crash names the sample binary by these identifiers.
var crashyID = debugfile.Identity{
	Format: "elf", Arch: "x86_64", FileType: "both",
	CodeID:  "7b0672f0346e9b1e7f306a8aa55e53b6b67611e2",
	DebugID: "f072067b-6e34-1e9b-7f30-6a8aa55e53b6",
}

func tool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is not installed (scripts/deps.sh installs binutils, gcc)", name)
	}
	return p
}

func run(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	out, err := exec.Command(tool(t, name), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

func identifyFile(t *testing.T, path string) debugfile.Identity {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	id, err := debugfile.Identify(data)
	if err != nil {
		t.Fatalf("identify %s: %v", path, err)
	}
	return id
}

var buildIDLine = regexp.MustCompile(`Build ID: ([0-9a-f]+)`)

// TestELF checks identities against readelf's build id, and the file
// types of a binary split with objcopy and strip.
func TestELF(t *testing.T) {
	if got := identifyFile(t, crashy); got != crashyID {
		t.Errorf("crashy: %+v, want %+v", got, crashyID)
	}
	m := buildIDLine.FindSubmatch(run(t, "readelf", "-n", crashy))
	if m == nil || string(m[1]) != crashyID.CodeID {
		t.Errorf("readelf build id %q, want %s", m, crashyID.CodeID)
	}

	dir := t.TempDir()
	debug, stripped := filepath.Join(dir, "crashy.debug"), filepath.Join(dir, "crashy.stripped")
	run(t, "objcopy", "--only-keep-debug", crashy, debug)
	run(t, "strip", "-g", "-o", stripped, crashy)
	for path, want := range map[string]string{debug: "debuginfo", stripped: "executable"} {
		id := identifyFile(t, path)
		if id.FileType != want || id.CodeID != crashyID.CodeID || id.DebugID != crashyID.DebugID {
			t.Errorf("%s: %+v, want file type %s with crashy's ids", filepath.Base(path), id, want)
		}
	}
	objs, err := debugfile.Objects("42", crashyID)
	if err != nil {
		t.Fatal(err)
	}
	want := []debugfile.Object{
		{Key: "42/7b/0672f0346e9b1e7f306a8aa55e53b6b67611e2/executable", Kind: "executable"},
		{Key: "42/7b/0672f0346e9b1e7f306a8aa55e53b6b67611e2/debuginfo", Kind: "debuginfo"},
	}
	if len(objs) != 2 || objs[0] != want[0] || objs[1] != want[1] {
		t.Errorf("objects %+v, want %+v", objs, want)
	}
}

// TestELFWithoutBuildID: the debug id comes from the first 4096 bytes of
// .text (extracted here by objcopy), XORed into 16 bytes and swapped; the
// unified layout cannot name such a file, and says so.
func TestELFWithoutBuildID(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "p.c")
	os.WriteFile(src, []byte("int f(int x) { return x * 3 + 1; }\nint main(void) { return f(2); }\n"), 0o644)
	bin := filepath.Join(dir, "p")
	run(t, "gcc", "-O1", "-Wl,--build-id=none", "-o", bin, src)
	text := filepath.Join(dir, "text.bin")
	run(t, "objcopy", "-O", "binary", "--only-section=.text", bin, text)
	b, _ := os.ReadFile(text)
	var x [16]byte
	for i, c := range b[:min(len(b), 4096)] {
		x[i%16] ^= c
	}
	x[0], x[1], x[2], x[3] = x[3], x[2], x[1], x[0]
	x[4], x[5], x[6], x[7] = x[5], x[4], x[7], x[6]
	h := hex.EncodeToString(x[:])
	want := h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]

	id := identifyFile(t, bin)
	if id.CodeID != "" || id.DebugID != want || id.FileType != "executable" {
		t.Errorf("identity %+v, want no code id and debug id %s", id, want)
	}
	_, err := debugfile.Objects("42", id)
	var rej *debugfile.RejectedError
	if !errors.As(err, &rej) || !strings.Contains(rej.Reason, "no build id") {
		t.Errorf("Objects: %v, want a rejection naming the missing build id", err)
	}
}

// machO builds a 64-bit little-endian Mach-O executable: __TEXT with one
// __text section, and an LC_UUID.
func machO(cpu uint32, uuid [16]byte) []byte {
	le := binary.LittleEndian
	var b bytes.Buffer
	w := func(v ...any) {
		for _, x := range v {
			binary.Write(&b, le, x)
		}
	}
	name := func(s string) (n [16]byte) { copy(n[:], s); return }
	const hdr, seg, sect, uuidCmd = 32, 72, 80, 24
	sizeofcmds := uint32(seg + sect + uuidCmd)
	dataOff := uint32(hdr) + sizeofcmds
	code := []byte{0x55, 0x48, 0x89, 0xe5, 0x31, 0xc0, 0x5d, 0xc3}
	w(uint32(0xfeedfacf), cpu, uint32(3), uint32(2), uint32(2), sizeofcmds, uint32(0), uint32(0))
	w(uint32(0x19), uint32(seg+sect), name("__TEXT"), uint64(0x100000000), uint64(0x1000), uint64(0), uint64(dataOff)+uint64(len(code)), uint32(5), uint32(5), uint32(1), uint32(0))
	w(name("__text"), name("__TEXT"), uint64(0x100000000)+uint64(dataOff), uint64(len(code)), dataOff, uint32(0), uint32(0), uint32(0), uint32(0x80000400), uint32(0), uint32(0), uint32(0))
	w(uint32(0x1b), uint32(uuidCmd), uuid)
	b.Write(code)
	return b.Bytes()
}

func TestMachO(t *testing.T) {
	uuid := [16]byte{0xe5, 0x43, 0x8b, 0xc1, 0x1f, 0xa2, 0x87, 0xbc, 0x07, 0x11, 0x3b, 0xf5, 0xb4, 0x24, 0x31, 0xfb}
	thin := machO(0x01000007, uuid)
	want := debugfile.Identity{Format: "macho", Arch: "x86_64", CodeID: "e5438bc11fa287bc07113bf5b42431fb", DebugID: "e5438bc1-1fa2-87bc-0711-3bf5b42431fb", FileType: "executable"}
	id, err := debugfile.Identify(thin)
	if err != nil || id != want {
		t.Fatalf("thin: %+v %v, want %+v", id, err, want)
	}
	// A universal binary: its first slice.
	arm := machO(0x0100000c, [16]byte{1, 2, 3})
	var fat bytes.Buffer
	be := binary.BigEndian
	binary.Write(&fat, be, []uint32{0xcafebabe, 2, 0x0100000c, 0, 4096, uint32(len(arm)), 12, 0x01000007, 3, 8192, uint32(len(thin)), 12})
	fat.Write(make([]byte, 4096-fat.Len()))
	fat.Write(arm)
	fat.Write(make([]byte, 8192-fat.Len()))
	fat.Write(thin)
	id, err = debugfile.Identify(fat.Bytes())
	if err != nil || id.Arch != "arm64" || id.DebugID != "01020300-0000-0000-0000-000000000000" {
		t.Errorf("universal: %+v %v", id, err)
	}
	objs, err := debugfile.Objects("app", want)
	if err != nil || len(objs) != 1 || objs[0].Key != "app/e5/438bc11fa287bc07113bf5b42431fb/executable" {
		t.Errorf("objects %+v %v", objs, err)
	}
	// No LC_UUID: nothing to name the file by.
	noUUID := bytes.Replace(thin, []byte{0x1b, 0, 0, 0, 24, 0, 0, 0}, []byte{0x2a, 0, 0, 0, 24, 0, 0, 0}, 1)
	if _, err := debugfile.Identify(noUUID); err == nil || !strings.Contains(err.Error(), "no LC_UUID") {
		t.Errorf("without LC_UUID: %v", err)
	}
}

// TestRejected: files that are not debug files are refused with a reason,
// never a panic.
func TestRejected(t *testing.T) {
	crashyData, err := os.ReadFile(crashy)
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		data   []byte
		reason string
	}{
		"empty":            {nil, "too short"},
		"text":             {[]byte("hello, this is a text file\n"), "not an ELF or Mach-O file"},
		"MZ without PE":    {append([]byte("MZ\x90\x00"), make([]byte, 200)...), "without a PE signature"},
		"zip":              {[]byte("PK\x03\x04rest"), "malformed source bundle"},
		"truncated ELF":    {crashyData[:40], "malformed ELF"},
		"ELF header only":  {crashyData[:64], ""},
		"truncated Mach-O": {[]byte("\xcf\xfa\xed\xfe\x07\x00\x00\x01"), "malformed Mach-O"},
		"bad universal":    {[]byte("\xca\xfe\xba\xbe\x00\x00\x00\x05"), "universal Mach-O"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := debugfile.Identify(tc.data)
			var rej *debugfile.RejectedError
			if !errors.As(err, &rej) || !errors.Is(err, debugfile.ErrRejected) {
				t.Fatalf("Identify: %v, want a rejection", err)
			}
			if !strings.Contains(rej.Reason, tc.reason) {
				t.Errorf("reason %q, want it to say %q", rej.Reason, tc.reason)
			}
		})
	}
}

// FuzzIdentify: no input makes Identify panic; whatever it identifies has
// an identifier, a file type, and a naming that Objects either accepts
// or refuses with a reason. Seeds: ELF, Mach-O, a PE image and its PDB,
// a wasm module.
func FuzzIdentify(f *testing.F) {
	data, _ := os.ReadFile(crashy)
	f.Add(data[:min(len(data), 4096)])
	f.Add(machO(0x01000007, [16]byte{9}))
	for _, name := range []string{"prog.exe", "prog.pdb", "mod.wasm"} {
		f.Add(fixture(f, name))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		id, err := debugfile.Identify(b)
		if err != nil {
			if !errors.Is(err, debugfile.ErrRejected) {
				t.Errorf("error is not a rejection: %v", err)
			}
			return
		}
		if id.DebugID == "" && id.CodeID == "" {
			t.Errorf("identified without an identifier: %+v", id)
		}
		if id.FileType == "" {
			t.Errorf("identified without a file type: %+v", id)
		}
		_, err = debugfile.Objects("7", id)
		if err != nil && !errors.Is(err, debugfile.ErrRejected) {
			t.Errorf("Objects(%+v): %v, want keys or a rejection", id, err)
		}
		// What a client computes for a PE image or PDB it can name, the
		// server accepts for a presigned upload.
		if f, msg, ok := debugfile.CheckIdentity(id); err == nil && (id.Format == "pe" || id.Format == "pdb") && !ok {
			t.Errorf("CheckIdentity(%+v) refuses %s: %s", id, f, msg)
		}
	})
}

type recorder struct {
	at      time.Time
	unknown bool
}

func (r *recorder) RecordDebugFileUpload(_ context.Context, projectID string, at time.Time) error {
	if r.unknown {
		return errors.New("project " + projectID + ": not found")
	}
	r.at = at
	return nil
}

type memPutter map[string][]byte

func (m memPutter) Put(_ context.Context, ref blob.Ref, data []byte, _ string) error {
	m[ref.String()] = data
	return nil
}

func TestStoreUpload(t *testing.T) {
	data, err := os.ReadFile(crashy)
	if err != nil {
		t.Fatal(err)
	}
	rec, objs := &recorder{}, memPutter{}
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	s := &debugfile.Store{Bucket: "dbg", Blobs: objs, Projects: rec, Now: func() time.Time { return now }}
	id, stored, err := s.Upload(context.Background(), "42", data)
	if err != nil || id != crashyID || len(stored) != 2 {
		t.Fatalf("upload: %+v %+v %v", id, stored, err)
	}
	if !rec.at.Equal(now) || len(objs) != 2 || !bytes.Equal(objs["s3://dbg/42/7b/0672f0346e9b1e7f306a8aa55e53b6b67611e2/debuginfo"], data) {
		t.Errorf("recorded %v, stored %d objects", rec.at, len(objs))
	}
	// An unknown project: refused before anything is stored.
	rec2, objs2 := &recorder{unknown: true}, memPutter{}
	s2 := &debugfile.Store{Bucket: "dbg", Blobs: objs2, Projects: rec2}
	if _, _, err := s2.Upload(context.Background(), "77", data); err == nil || len(objs2) != 0 {
		t.Errorf("unknown project: %v, %d objects stored", err, len(objs2))
	}
	if _, err := s.PresignUploads(context.Background(), "42", crashyID); !errors.Is(err, debugfile.ErrNoPresigner) {
		t.Errorf("presign without presigner: %v", err)
	}
}

func BenchmarkIdentify(b *testing.B) {
	data, err := os.ReadFile(crashy)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := debugfile.Identify(data); err != nil {
			b.Fatal(err)
		}
	}
}

// TestSourceBundle: a source bundle is identified by the object it was
// made from (its manifest's code_id and debug_id) and stored beside that
// object's files, where Symbolicator's unified layout looks for it.
func TestSourceBundle(t *testing.T) {
	data, err := os.ReadFile("../../events/debug-files/crashy.src.zip")
	if err != nil {
		t.Fatal(err)
	}
	id, err := debugfile.Identify(data)
	if err != nil {
		t.Fatal(err)
	}
	if id.Format != "sourcebundle" || id.CodeID != "7b0672f0346e9b1e7f306a8aa55e53b6b67611e2" || id.DebugID != "f072067b-6e34-1e9b-7f30-6a8aa55e53b6" {
		t.Errorf("identity = %+v", id)
	}
	objs, err := debugfile.Objects("42", id)
	if err != nil || len(objs) != 1 || objs[0].Key != "42/7b/0672f0346e9b1e7f306a8aa55e53b6b67611e2/sourcebundle" {
		t.Errorf("objects = %v, %v", objs, err)
	}
	for name, bad := range map[string][]byte{
		"no manifest":          zipOf(t, map[string]string{"files/a.c": "int x;"}),
		"manifest not JSON":    zipOf(t, map[string]string{"manifest.json": "{"}),
		"no identifier":        zipOf(t, map[string]string{"manifest.json": `{"files":{}}`}),
		"truncated after SYSB": data[:6],
	} {
		if _, err := debugfile.Identify(bad); err == nil || !errors.Is(err, debugfile.ErrRejected) {
			t.Errorf("%s: error %v, want a rejection", name, err)
		}
	}
}

func zipOf(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, text := range files {
		w, _ := zw.Create(name)
		w.Write([]byte(text))
	}
	zw.Close()
	return append([]byte("SYSB\x02\x00\x00\x00"), buf.Bytes()...)
}
