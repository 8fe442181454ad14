package symbolicator

import (
	"encoding/binary"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/symflow/symflow/local/symbolicator/pdb"
	"github.com/symflow/symflow/local/symbolicator/pe"
)

// winDump writes a Windows x64 minidump of one thread: the system info of
// an AMD64 Windows machine, one module (the image, with its CodeView
// record), the thread's stack and its CONTEXT. It stands for what
// Windows' MiniDumpWriteDump writes for a crashed process with its stack
// memory, reduced to the streams a stack walk reads.
type winDump struct {
	buf []byte
	dir [][3]uint32 // type, size, rva
}

func (w *winDump) add(b []byte) uint32 {
	for len(w.buf)%8 != 0 {
		w.buf = append(w.buf, 0)
	}
	rva := uint32(len(w.buf))
	w.buf = append(w.buf, b...)
	return rva
}

func (w *winDump) stream(typ uint32, b []byte) {
	rva := w.add(b)
	w.dir = append(w.dir, [3]uint32{typ, uint32(len(b)), rva})
}

func (w *winDump) string16(s string) uint32 {
	u := utf16.Encode([]rune(s))
	b := binary.LittleEndian.AppendUint32(nil, uint32(2*len(u)))
	for _, c := range u {
		b = binary.LittleEndian.AppendUint16(b, c)
	}
	return w.add(append(b, 0, 0))
}

func le(vals ...any) []byte {
	var b []byte
	for _, v := range vals {
		switch v := v.(type) {
		case uint8:
			b = append(b, v)
		case uint16:
			b = binary.LittleEndian.AppendUint16(b, v)
		case uint32:
			b = binary.LittleEndian.AppendUint32(b, v)
		case uint64:
			b = binary.LittleEndian.AppendUint64(b, v)
		case []byte:
			b = append(b, v...)
		default:
			panic(fmt.Sprintf("le: %T", v))
		}
	}
	return b
}

// writeWinDump builds the dump: the image (base, size, timestamp and RSDS
// record from f) and a thread whose stack, mapped at stackStart, holds
// stack, with rip and rsp as given.
func writeWinDump(f *pe.File, base uint64, pdbName string, guid [16]byte, age uint32, stackStart uint64, stack []byte, rip, rsp uint64) []byte {
	w := &winDump{buf: make([]byte, 32)}
	csd := w.string16("")
	w.stream(7, le(uint16(9), uint16(6), uint16(0x5507), uint8(2), uint8(1), uint32(10), uint32(0), uint32(19045), uint32(2), csd, uint16(0), uint16(0), make([]byte, 24)))

	ctx := make([]byte, 1232)
	binary.LittleEndian.PutUint32(ctx[0x30:], 0x10000b) // CONTEXT_AMD64 | CONTROL | INTEGER | FLOATING_POINT
	binary.LittleEndian.PutUint64(ctx[0x98:], rsp)
	binary.LittleEndian.PutUint64(ctx[0xf8:], rip)
	ctxRVA := w.add(ctx)
	stackRVA := w.add(stack)
	w.stream(3, le(uint32(1), uint32(0x1234), uint32(0), uint32(0x20), uint32(0), uint64(0), stackStart, uint32(len(stack)), stackRVA, uint32(len(ctx)), ctxRVA))
	w.stream(5, le(uint32(1), stackStart, uint32(len(stack)), stackRVA))

	cv := le(uint32(0x53445352), guid[:], age, []byte(pdbName), uint8(0))
	cvRVA := w.add(cv)
	name := w.string16(`C:\app\prog.exe`)
	w.stream(4, le(uint32(1), base, f.SizeOfImage, uint32(0), f.TimeDateStamp, name, make([]byte, 52), uint32(len(cv)), cvRVA, uint32(0), uint32(0), uint64(0), uint64(0)))

	dirRVA := w.add(nil)
	for _, d := range w.dir {
		w.buf = append(w.buf, le(d[0], d[1], d[2])...)
	}
	copy(w.buf, le(uint32(0x504d444d), uint32(0xa793), uint32(len(w.dir)), dirRVA, uint32(0), uint32(0x5ab8cee8), uint64(0)))
	return w.buf
}

var callRE = regexp.MustCompile(`^\s*([0-9a-f]+):\s+e8 (?:[0-9a-f]{2} ){4}\s*callq?\s+0x([0-9a-f]+)`)

// TestWindowsMinidumpWalk walks a Windows x64 minidump whose stack was
// laid out as the program's own code would leave it: add called by walk,
// called by table, called by main, at real call sites of the -O0 C build,
// each frame as large as its .pdata/.xdata says. The walk must find every
// caller through the image's unwind information (trust cfi, the image
// fetched from the symstore server) and symbolicate the frames from the
// PDB.
func TestWindowsMinidumpWalk(t *testing.T) {
	requireTool(t, "llvm-objdump")
	var b winBuild
	for _, x := range windowsBuilds(t) {
		if x.name == "prog.c-O0" {
			b = x
		}
	}
	store := symstoreServer(t, []winBuild{b})
	defer store.Close()
	image, err := os.ReadFile(b.exe)
	if err != nil {
		t.Fatal(err)
	}
	f, err := pe.Open(image)
	if err != nil {
		t.Fatal(err)
	}
	pdbData, err := os.ReadFile(b.pdb)
	if err != nil {
		t.Fatal(err)
	}
	p, err := pdb.Open(pdbData)
	if err != nil {
		t.Fatal(err)
	}
	fnAt := func(rva uint64) string {
		fr, ok := p.Lookup(rva)
		if !ok {
			return ""
		}
		return winBaseName(fr[len(fr)-1].Function)
	}
	// Call sites: caller -> callee -> the return address after the call.
	out, err := exec.Command("llvm-objdump", "-d", b.exe).Output()
	if err != nil {
		t.Fatal(err)
	}
	ret := map[[2]string]uint64{}
	var addIP uint64
	for _, l := range strings.Split(string(out), "\n") {
		m := callRE.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		at, _ := strconv.ParseUint(m[1], 16, 64)
		to, _ := strconv.ParseUint(m[2], 16, 64)
		caller, callee := fnAt(at-b.imageBase), fnAt(to-b.imageBase)
		if _, ok := ret[[2]string{caller, callee}]; !ok {
			ret[[2]string{caller, callee}] = at + 5
		}
		if caller == "add" && addIP == 0 {
			addIP = at // a call inside add: in its body
		}
	}
	chain := []string{"add", "walk", "table", "main"}
	if addIP == 0 {
		t.Fatalf("no call inside add in the disassembly")
	}
	// frameSize is how far below its return address a function's body
	// keeps rsp, from its unwind codes.
	frameSize := func(ip uint64) uint64 {
		r, ok := f.Rules(uint32(ip - b.imageBase))
		if !ok || r.Info.HasFrameRegister {
			t.Fatalf("%#x: no .pdata entry, or a frame register (rules %v): not the frame this test lays out", ip, ok)
		}
		regs, err := r.Unwind(func(n string) (uint64, bool) { return 0x1000, n == "rsp" }, zeroMem{})
		if err != nil {
			t.Fatal(err)
		}
		return regs[".cfa"] - 8 - 0x1000
	}
	const stackStart = 0x7ff000
	stack := make([]byte, 0x400)
	rsp := uint64(stackStart + 0x40)
	ip := addIP
	ips := []uint64{ip}
	sp := rsp
	for i := 0; i+1 < len(chain); i++ {
		ra, ok := ret[[2]string{chain[i+1], chain[i]}]
		if !ok {
			t.Fatalf("no call from %s to %s", chain[i+1], chain[i])
		}
		sp += frameSize(ip)
		binary.LittleEndian.PutUint64(stack[sp-stackStart:], ra)
		sp += 8
		ip = ra
		ips = append(ips, ra)
	}
	// main's return address stays 0: the end of the stack.
	var guid [16]byte
	d, _ := parseDebugID(b.id.DebugID)
	u := d.UUID
	// The RSDS GUID is stored with its first three fields little-endian.
	copy(guid[:], []byte{u[3], u[2], u[1], u[0], u[5], u[4], u[7], u[6]})
	copy(guid[8:], u[8:])
	dump := writeWinDump(f, b.imageBase, `C:\app\prog.pdb`, guid, uint32(d.Appendix), stackStart, stack, addIP, rsp)

	_, srv := testService(t, Config{AllowLoopback: true})
	sources := fmt.Sprintf(`[{"type":"http","id":"microsoft-like","url":%q,"layout":{"type":"symstore"},"filters":{"filetypes":["pe","pdb"]}}]`, store.URL+"/")
	body, ct := minidumpBody(t, dump, sources)
	resp := doRequest(t, http.MethodPost, srv.URL+"/minidump", ct, body)
	if resp.Status != 200 || resp.JSON["status"] != "completed" {
		t.Fatalf("answer %d: %.800s", resp.Status, resp.Body)
	}
	mod := obj(t, arr(t, resp.JSON["modules"], "modules")[0], "module")
	if mod["debug_status"] != "found" || mod["unwind_status"] != "found" || mod["code_id"] != b.id.CodeID || mod["debug_id"] != b.id.DebugID {
		t.Errorf("module %v", mod)
	}
	frames := arr(t, obj(t, arr(t, resp.JSON["stacktraces"], "stacktraces")[0], "thread")["frames"], "frames")
	var got []string
	for _, fr := range frames {
		fr := obj(t, fr, "frame")
		got = append(got, fmt.Sprintf("%s %s %s", fr["instruction_addr"], winBaseName(fmt.Sprint(fr["function"])), fr["trust"]))
	}
	var want []string
	for i, name := range chain {
		// Callers are reported at their return address minus one, as
		// rust-minidump's walk gives them to Symbolicator.
		addr, trust := ips[i]-1, "cfi"
		if i == 0 {
			addr, trust = ips[i], "context"
		}
		want = append(want, fmt.Sprintf("%s %s %s", hexAddr(addr), name, trust))
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("walk:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// zeroMem is a stack of zeros.
type zeroMem struct{}

func (zeroMem) Read(addr uint64, size int) (uint64, bool) { return 0, true }
