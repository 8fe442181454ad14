// Command core2minidump converts a Linux ELF core file (x86_64 or aarch64:
// the kernel's, gdb's generate-core-file, or qemu-user's qemu_*.core) into
// a minidump, as Breakpad's core2md would.
//
//	core2minidump CORE OUT.dmp [-exe PATH]... [flags]
//
// The files the core names are read from their paths (under -root, if
// given) for module identifiers; -exe names files to use instead, matched
// by path or base name. A qemu-user core names no files: give the program
// with -exe. By default the core is taken to come from this machine, whose
// uname and CPUs are written into the dump, as Breakpad's writer does.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"github.com/symflow/symflow/internal/coredump"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

func run(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("core2minidump", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var exes stringList
	fs.Var(&exes, "exe", "a file of the crashed process (repeatable); required for qemu-user cores")
	root := fs.String("root", "", "read the files the core names under this directory")
	host := fs.Bool("host", true, "the core was written on this machine: record its uname and CPUs")
	ipMemory := fs.Bool("ip-memory", true, "copy the 256 bytes around the crashing instruction, as Breakpad does")
	regMemory := fs.Int("register-memory", 0, "copy this many bytes around every register that points into the core's memory")
	modern := fs.Bool("modern-arm64", false, "write ARM64 contexts as MDRawContextARM64 (architecture 12), not Breakpad's Linux layout")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: core2minidump CORE OUT.dmp [-exe PATH]... [flags]")
		fs.PrintDefaults()
	}
	// Flags may come before, between or after the two paths.
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return 2
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(pos) != 2 {
		fs.Usage()
		return 2
	}
	if err := convert(pos[0], pos[1], exes, *root, *host, *ipMemory, *regMemory, *modern); err != nil {
		fmt.Fprintln(stderr, "core2minidump:", err)
		return 1
	}
	return 0
}

func convert(corePath, out string, exes []string, root string, host, ipMemory bool, regMemory int, modern bool) error {
	f, err := os.Open(corePath)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	opts := coredump.Options{
		Time:                st.ModTime(), // the crash's time, near enough
		Executables:         exes,
		NoInstructionMemory: !ipMemory,
		RegisterMemory:      regMemory,
		ModernARM64:         modern,
	}
	if root != "" {
		opts.PathMap = func(p string) string { return filepath.Join(root, p) }
	}
	if host {
		core, err := coredump.ReadCore(f)
		if err != nil {
			return err
		}
		hostInfo(&opts, core.Machine)
	}
	dump, err := coredump.Convert(f, opts)
	if err != nil {
		return err
	}
	tmp := out + ".tmp"
	if err := os.WriteFile(tmp, dump, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, out)
}

// hostInfo fills what Breakpad's writer reads from the machine it runs on:
// uname, the CPU count and, when the core is for this machine's CPU, the
// x86 family, model, stepping and vendor from /proc/cpuinfo.
func hostInfo(opts *coredump.Options, m coredump.Machine) {
	var u syscall.Utsname
	if syscall.Uname(&u) == nil {
		opts.Uname = coredump.Uname{Sysname: cstr(u.Sysname[:]), Release: cstr(u.Release[:]), Version: cstr(u.Version[:]), Machine: cstr(u.Machine[:])}
	}
	opts.NumberOfProcessors = runtime.NumCPU()
	if m != coredump.MachineAMD64 || runtime.GOARCH != "amd64" {
		return
	}
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return
	}
	defer f.Close()
	var family, model, stepping int
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		n, _ := strconv.Atoi(v)
		switch k {
		case "cpu family":
			family = n
		case "model":
			model = n
		case "stepping":
			stepping = n
		case "vendor_id":
			opts.CPUVendor = v
		}
		if k == "power management" { // the end of the first processor's block
			break
		}
	}
	opts.ProcessorLevel = uint16(family)
	opts.ProcessorRevision = uint16(model<<8 | stepping)
}

// cstr reads a NUL-terminated utsname field (int8 or uint8 by platform).
func cstr[T int8 | uint8](b []T) string {
	var s []byte
	for _, c := range b {
		if c == 0 {
			break
		}
		s = append(s, byte(c))
	}
	return string(s)
}
