package wasm_test

import (
	"errors"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/symflow/symflow/local/symbolicator/objfile"
	"github.com/symflow/symflow/local/symbolicator/wasm"
	"github.com/symflow/symflow/shared/debugfile"
)

func uleb(v uint64) []byte {
	var b []byte
	for {
		c := byte(v & 0x7f)
		if v >>= 7; v != 0 {
			c |= 0x80
		}
		b = append(b, c)
		if v == 0 {
			return b
		}
	}
}

func custom(name string, payload []byte) []byte {
	body := append(append(uleb(uint64(len(name))), name...), payload...)
	return append(append([]byte{0}, uleb(uint64(len(body)))...), body...)
}

// companion keeps a module's header and custom sections, as wasm-split
// leaves a debug companion.
func companion(t *testing.T, mod []byte) []byte {
	out := append([]byte(nil), mod[:8]...)
	for pos := 8; pos < len(mod); {
		id := mod[pos]
		var size, shift uint64
		n := 1
		for ; ; n++ {
			c := mod[pos+n]
			size |= uint64(c&0x7f) << shift
			shift += 7
			if c&0x80 == 0 {
				break
			}
		}
		end := pos + 1 + n + int(size)
		if id == 0 {
			out = append(out, mod[pos:end]...)
		}
		pos = end
	}
	return out
}

// TestUploadIdentityAgreesWithReader: the identity debug-file uploads
// store a wasm module under (shared/debugfile) is the one the service's
// reader (objfile over this package) reports, on generated modules with
// and without DWARF, build ids of several lengths (wasm-split's 16 raw
// bytes, a 20-byte hash, wasm-ld's length-prefixed form, none), an
// external_debug_info section and debug companions; and on copies with a
// byte changed, wherever both read them. A module the service reads is
// never refused at upload.
func TestUploadIdentityAgreesWithReader(t *testing.T) {
	for _, tool := range []string{"clang", "wasm-ld"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not installed: run make deps", tool)
		}
	}
	dir := t.TempDir()
	rng := rand.New(rand.NewSource(7))
	var modules [][]byte
	var names []string
	for i := 0; i < 8; i++ {
		var src strings.Builder
		n := 2 + rng.Intn(30)
		for k := 0; k < n; k++ {
			fmt.Fprintf(&src, "__attribute__((noinline)) int g%d(int x) { int y = x * %d;", k, rng.Intn(50)+2)
			if k > 0 {
				fmt.Fprintf(&src, " y += g%d(y - %d);", rng.Intn(k), rng.Intn(100))
			}
			src.WriteString(" return y; }\n")
		}
		path := filepath.Join(dir, fmt.Sprintf("w%d.c", i))
		os.WriteFile(path, []byte(src.String()), 0o644)
		out := strings.TrimSuffix(path, ".c") + ".wasm"
		args := []string{"--target=wasm32", []string{"-O0", "-O2"}[i%2], "-nostdlib", "-Wl,--no-entry", "-Wl,--export-all", path, "-o", out}
		debug := i%4 < 2
		if debug {
			args = append(args, "-g")
		}
		if b, err := exec.Command("clang", args...).CombinedOutput(); err != nil {
			t.Fatalf("clang %s: %v\n%s", strings.Join(args, " "), err, b)
		}
		base, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		id := make([]byte, []int{16, 20, 8, 0}[i%4])
		rng.Read(id)
		mod := append([]byte(nil), base...)
		if len(id) > 0 {
			mod = append(mod, custom("build_id", id)...)
		}
		modules = append(modules, mod)
		names = append(names, fmt.Sprintf("w%d debug=%v build id %d bytes", i, debug, len(id)))
		// wasm-ld's --build-id form: a length-prefixed vector.
		modules = append(modules, append(append([]byte(nil), base...), custom("build_id", append([]byte{16}, id16(rng)...))...))
		names = append(names, fmt.Sprintf("w%d length-prefixed build id", i))
		ext := append(append([]byte(nil), mod...), custom("external_debug_info", append(uleb(11), "w.debug.wasm"[:11]...))...)
		modules = append(modules, ext)
		names = append(names, fmt.Sprintf("w%d external_debug_info", i))
		if debug {
			modules = append(modules, companion(t, mod))
			names = append(names, fmt.Sprintf("w%d debug companion", i))
		}
	}

	compare := func(t *testing.T, data []byte) (uploadErr, readerErr error) {
		up, uerr := debugfile.Identify(data)
		ref, rerr := objfile.Identify(data)
		if uerr != nil && !errors.Is(uerr, debugfile.ErrRejected) {
			t.Errorf("upload error %v is not a rejection", uerr)
		}
		if uerr != nil || rerr != nil {
			return uerr, rerr
		}
		m, err := wasm.Parse(data)
		if err != nil {
			t.Fatalf("objfile read a module wasm.Parse refuses: %v", err)
		}
		got := [5]string{up.Arch, up.CodeID, up.DebugID, up.FileType, up.DebugFile}
		want := [5]string{ref.Arch, ref.CodeID, ref.DebugID, ref.FileType, m.ExternalDebugInfo}
		if up.Format != "wasm" || got != want {
			t.Errorf("upload %s %v, reader %v", up.Format, got, want)
		}
		return nil, nil
	}
	mutated, both, onlyReader, empty := 0, 0, 0, 0
	for i, mod := range modules {
		t.Run(names[i], func(t *testing.T) {
			if uerr, rerr := compare(t, mod); uerr != nil || rerr != nil {
				t.Fatalf("upload: %v; reader: %v", uerr, rerr)
			}
			for k := 0; k < 400; k++ {
				c := append([]byte(nil), mod...)
				c[rng.Intn(len(c))] ^= byte(1 + rng.Intn(255))
				mutated++
				uerr, rerr := compare(t, c)
				switch {
				case uerr == nil && rerr == nil:
					both++
				case uerr != nil && rerr == nil:
					// Refusing a module with neither functions nor DWARF
					// is right: it has nothing to symbolicate with.
					if m, err := wasm.Parse(c); err == nil && !m.DefinesFunctions && !m.HasDebugInfo() && strings.Contains(uerr.Error(), "neither code") {
						empty++
						continue
					}
					onlyReader++
					t.Errorf("the upload refuses a module the service reads: %v", uerr)
				}
			}
		})
	}
	t.Logf("%d modules agree; %d mutated copies, %d read by both, all agreeing; %d refused at upload for having neither code nor DWARF; %d otherwise refused by the upload only", len(modules), mutated, both, empty, onlyReader)
}

func id16(rng *rand.Rand) []byte {
	b := make([]byte, 16)
	rng.Read(b)
	return b
}
