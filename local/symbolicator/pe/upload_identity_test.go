package pe_test

import (
	"errors"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/symflow/symflow/local/symbolicator/pdb"
	"github.com/symflow/symflow/local/symbolicator/pe"
	"github.com/symflow/symflow/shared/debugfile"
)

func lookTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is not installed: run make deps", name)
	}
	return p
}

func runIn(t *testing.T, dir, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(lookTool(t, name), args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// uploadProgram writes a C or C++ program of n exported functions calling
// each other, so that images differ in size, layout and exports.
func uploadProgram(rng *rand.Rand, n int, cpp bool) string {
	var b strings.Builder
	if cpp {
		b.WriteString("namespace ns { struct S { int v; int get(int k) const { return v * k; } }; }\n")
	}
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "__declspec(dllexport) __declspec(noinline) int f%d(int x) { int y = x * %d;", i, rng.Intn(90)+2)
		if i > 0 {
			fmt.Fprintf(&b, " y += f%d(y ^ %d);", rng.Intn(i), rng.Intn(1000))
		}
		if cpp {
			fmt.Fprintf(&b, " ns::S s; s.v = %d; y += s.get(y);", i)
		}
		b.WriteString(" return y; }\n")
	}
	if cpp {
		b.WriteString("extern \"C\" ")
	}
	fmt.Fprintf(&b, "int main(void) { return f%d(3); }\n", n-1)
	return b.String()
}

// TestUploadIdentityAgreesWithReader: the identity debug-file uploads
// compute (shared/debugfile, which stores the file under it) is the one
// this package and the pdb package report when the service loads the
// file (and looks it up by), on generated images and PDBs: x86 and x64,
// executables and DLLs, C and C++, -O0 and -O2, images without a CodeView
// record, MinGW images carrying DWARF; and on thousands of copies of them
// with a header byte changed, wherever both readers accept the copy.
func TestUploadIdentityAgreesWithReader(t *testing.T) {
	lookTool(t, "clang")
	lookTool(t, "lld-link")
	dir := t.TempDir()
	rng := rand.New(rand.NewSource(61))
	type build struct {
		name     string
		exe, pdb string
	}
	var builds []build
	i := 0
	for _, target := range []string{"x86_64-pc-windows-msvc", "i686-pc-windows-msvc"} {
		for _, opt := range []string{"-O0", "-O2"} {
			for _, dll := range []bool{false, true} {
				for _, cpp := range []bool{false, true} {
					for _, debug := range []bool{true, false} {
						if !debug && (dll || cpp) {
							continue
						}
						i++
						name := fmt.Sprintf("m%d", i)
						ext := ".c"
						if cpp {
							ext = ".cpp"
						}
						os.WriteFile(filepath.Join(dir, name+ext), []byte(uploadProgram(rng, 2+rng.Intn(60), cpp)), 0o644)
						runIn(t, dir, "clang", "--target="+target, "-g", "-gcodeview", opt, "-fno-exceptions", "-c", name+ext, "-o", name+".obj")
						args := []string{"/nodefaultlib", "/entry:main", "/subsystem:console", "/out:" + name + ".exe", name + ".obj"}
						b := build{name: fmt.Sprintf("%s %s %s dll=%v debug=%v", target, opt, ext, dll, debug), exe: filepath.Join(dir, name+".exe")}
						if debug {
							args = append(args, "/debug", "/pdb:"+name+".pdb")
							b.pdb = filepath.Join(dir, name+".pdb")
						}
						if dll {
							args = append(args, "/dll")
						}
						runIn(t, dir, "lld-link", args...)
						builds = append(builds, b)
					}
				}
			}
		}
	}
	for _, target := range []string{"x86_64-w64-mingw32", "i686-w64-mingw32"} {
		i++
		name := fmt.Sprintf("m%d", i)
		os.WriteFile(filepath.Join(dir, name+".c"), []byte(uploadProgram(rng, 2+rng.Intn(20), false)), 0o644)
		runIn(t, dir, "clang", "--target="+target, "-g", "-gdwarf", "-O1", "-nostdlib", "-fuse-ld=lld", "-Dmain=start", "-Wl,-e,start", name+".c", "-o", name+".exe")
		builds = append(builds, build{name: target + " DWARF", exe: filepath.Join(dir, name+".exe")})
	}

	checked, mutated, both, onlyReader := 0, 0, 0, 0
	for _, b := range builds {
		t.Run(b.name, func(t *testing.T) {
			data, err := os.ReadFile(b.exe)
			if err != nil {
				t.Fatal(err)
			}
			up, err := debugfile.Identify(data)
			if err != nil {
				t.Fatal(err)
			}
			ref, err := pe.Identify(data)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := [5]string{up.Arch, up.CodeID, up.DebugID, up.DebugFile, up.FileType}, [5]string{ref.Arch, ref.CodeID, ref.DebugID, ref.DebugFile, ref.FileType}; got != want {
				t.Errorf("image: upload %v, pe reader %v", got, want)
			}
			checked++
			if strings.Contains(b.name, "DWARF") && up.FileType != "both" {
				t.Errorf("a MinGW image with DWARF is %q, want both", up.FileType)
			}
			if b.pdb != "" {
				pdata, err := os.ReadFile(b.pdb)
				if err != nil {
					t.Fatal(err)
				}
				pup, err := debugfile.Identify(pdata)
				if err != nil {
					t.Fatal(err)
				}
				pref, err := pdb.Identify(pdata)
				if err != nil {
					t.Fatal(err)
				}
				if pup.DebugID != pref.DebugID || pup.Arch != pref.Arch || pup.DebugID != up.DebugID {
					t.Errorf("pdb: upload %s %s, pdb reader %s %s, image %s", pup.DebugID, pup.Arch, pref.DebugID, pref.Arch, up.DebugID)
				}
				checked++
				// PDB copies with a byte of the superblock, the stream
				// directory or the information stream changed.
				for k := 0; k < 300; k++ {
					c := append([]byte(nil), pdata...)
					c[rng.Intn(min(len(c), 3*4096))] ^= byte(1 + rng.Intn(255))
					mutated++
					u, uerr := debugfile.Identify(c)
					r, rerr := pdb.Identify(c)
					if uerr == nil && rerr == nil {
						both++
						if u.DebugID != r.DebugID || u.Arch != r.Arch {
							t.Errorf("mutated pdb: upload %s %s, pdb reader %s %s", u.DebugID, u.Arch, r.DebugID, r.Arch)
						}
					}
					if uerr != nil && !errors.Is(uerr, debugfile.ErrRejected) {
						t.Errorf("mutated pdb: %v is not a rejection", uerr)
					}
					if uerr != nil && rerr == nil {
						onlyReader++
						t.Errorf("mutated pdb: the upload refuses a file the service reads (%s): %v", r.DebugID, uerr)
					}
				}
			}
			// Copies with a byte of the headers or the debug directory
			// region changed.
			for k := 0; k < 300; k++ {
				c := append([]byte(nil), data...)
				c[rng.Intn(min(len(c), 0x800))] ^= byte(1 + rng.Intn(255))
				mutated++
				u, uerr := debugfile.Identify(c)
				r, rerr := pe.Identify(c)
				if uerr == nil && rerr == nil {
					both++
					if got, want := [5]string{u.Arch, u.CodeID, u.DebugID, u.DebugFile, u.FileType}, [5]string{r.Arch, r.CodeID, r.DebugID, r.DebugFile, r.FileType}; got != want {
						t.Errorf("mutated image: upload %v, pe reader %v", got, want)
					}
				}
				if uerr != nil && !errors.Is(uerr, debugfile.ErrRejected) {
					t.Errorf("mutated image: %v is not a rejection", uerr)
				}
				if uerr != nil && rerr == nil {
					onlyReader++
					t.Errorf("mutated image: the upload refuses a file the service reads (%s): %v", r.DebugID, uerr)
				}
			}
		})
	}
	t.Logf("%d files from %d builds agree; %d mutated copies, %d read by both readers, all agreeing; %d refused by the upload only", checked, len(builds), mutated, both, onlyReader)
}
