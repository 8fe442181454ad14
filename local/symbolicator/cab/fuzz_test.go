package cab

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/seeds from gcab and mkcab.py")

// TestSeeds keeps the fuzz seeds in step with the tools: with -update it
// writes them (small cabinets of every kind the tests make), otherwise it
// checks that each still extracts.
func TestSeeds(t *testing.T) {
	dir := filepath.Join("testdata", "seeds")
	if *update {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		text := bytes.Repeat([]byte("symbols and lines "), 3000)
		seeds := map[string][]byte{
			"gcab-mszip.cab": gcabOne(t, "a.pdb", text, true),
			"gcab-none.cab":  gcabOne(t, "a.dll", text[:5000], false),
		}
		tmp := t.TempDir()
		if err := os.WriteFile(filepath.Join(tmp, "a.pdb"), text, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(tmp, "b.pdb"), text[:1500], 0o644); err != nil {
			t.Fatal(err)
		}
		seeds["reserves.cab"] = mkcab(t, tmp, "reserves", spec{HeaderReserve: 2, FolderReserve: 1, DataReserve: 3, Folders: []specFolder{
			{Method: "mszip", Block: 20000, Final: false, Checksums: true, Files: [][2]string{{"a.pdb", filepath.Join(tmp, "a.pdb")}}},
			{Method: "none", Block: 700, Files: [][2]string{{"b.pdb", filepath.Join(tmp, "b.pdb")}}}}})
		for name, data := range seeds {
			if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	names, _ := filepath.Glob(filepath.Join(dir, "*.cab"))
	if len(names) == 0 {
		t.Fatal("no seeds (go test -run TestSeeds -args -update writes them)")
	}
	for _, name := range names {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		c, err := Open(data)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for i := range c.Files {
			if _, err := c.ReadFile(i, 1<<20); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}
	}
}

// FuzzOpen opens arbitrary input and extracts every file under a small
// limit. Nothing may panic, extraction never returns more than the limit
// or other than the file's size, and Extract agrees with ReadFile.
func FuzzOpen(f *testing.F) {
	names, _ := filepath.Glob(filepath.Join("testdata", "seeds", "*.cab"))
	for _, name := range names {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	const limit = 1 << 20
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Open(data)
		if err != nil {
			return
		}
		for i, file := range c.Files {
			if i == 8 {
				break
			}
			got, err := c.ReadFile(i, limit)
			if err == nil && (len(got) > limit || len(got) != int(file.Size)) {
				t.Fatalf("file %d: %d bytes, size %d, limit %d", i, len(got), file.Size, limit)
			}
		}
		name, content, err := Extract(data, limit)
		if err == nil {
			if len(c.Files) != 1 || name != c.Files[0].Name {
				t.Fatalf("Extract gave %q from %d files", name, len(c.Files))
			}
			again, err := c.ReadFile(0, limit)
			if err != nil || !bytes.Equal(again, content) {
				t.Fatalf("ReadFile disagrees with Extract: %v", err)
			}
		}
	})
}
