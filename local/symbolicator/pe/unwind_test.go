package pe

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// roFunction is one RuntimeFunction block of llvm-readobj --unwind.
type roFunction struct {
	begin, end, info uint64 // VAs
	version, flags   uint64
	prologSize       uint64
	frameReg         string // "RBP (0x5)" or "-"
	frameOffset      string // raw 4-bit field "0x8" or "-"
	codeCount        uint64
	codes            []string // "0x0D: ALLOC_LARGE size=70008"
	handler          uint64   // VA, 0 when none
	chained          *[3]uint64
}

var (
	roAddr = regexp.MustCompile(`^\s*(StartAddress|EndAddress|UnwindInfoAddress|Handler): .*\(0x([0-9A-Fa-f]+)\)\s*$`)
	roCode = regexp.MustCompile(`^\s*(0x[0-9A-F]{2}: .*?)\s*$`)
	roKV   = regexp.MustCompile(`^\s*(Version|PrologSize|FrameRegister|FrameOffset|UnwindCodeCount): (.*?)\s*$`)
	roFlag = regexp.MustCompile(`^\s*Flags \[ \(0x([0-9A-Fa-f]+)\)`)
)

// parseReadobjUnwind parses llvm-readobj --unwind's text for x64 images.
func parseReadobjUnwind(t *testing.T, text string) []roFunction {
	t.Helper()
	var out []roFunction
	var cur *roFunction
	inChain, inCodes := false, false
	for _, line := range strings.Split(text, "\n") {
		s := strings.TrimSpace(line)
		switch {
		case s == "RuntimeFunction {":
			out = append(out, roFunction{})
			cur = &out[len(out)-1]
			inChain, inCodes = false, false
			continue
		case cur == nil:
			continue
		case s == "Chained {":
			inChain = true
			cur.chained = &[3]uint64{}
			continue
		case s == "UnwindCodes [":
			inCodes = true
			continue
		case s == "]":
			inCodes = false
			continue
		case s == "}":
			inChain = false
			continue
		}
		if m := roAddr.FindStringSubmatch(line); m != nil {
			v, _ := strconv.ParseUint(m[2], 16, 64)
			if inChain {
				cur.chained[map[string]int{"StartAddress": 0, "EndAddress": 1, "UnwindInfoAddress": 2}[m[1]]] = v
				continue
			}
			switch m[1] {
			case "StartAddress":
				cur.begin = v
			case "EndAddress":
				cur.end = v
			case "UnwindInfoAddress":
				cur.info = v
			case "Handler":
				cur.handler = v
			}
			continue
		}
		if inCodes {
			if m := roCode.FindStringSubmatch(line); m != nil {
				cur.codes = append(cur.codes, m[1])
			}
			continue
		}
		if m := roFlag.FindStringSubmatch(line); m != nil {
			cur.flags, _ = strconv.ParseUint(m[1], 16, 8)
			continue
		}
		if m := roKV.FindStringSubmatch(line); m != nil {
			val := strings.TrimSpace(m[2])
			switch m[1] {
			case "Version":
				cur.version, _ = strconv.ParseUint(val, 10, 8)
			case "PrologSize":
				cur.prologSize, _ = strconv.ParseUint(val, 10, 8)
			case "UnwindCodeCount":
				cur.codeCount, _ = strconv.ParseUint(val, 10, 8)
			case "FrameRegister":
				cur.frameReg = val
			case "FrameOffset":
				cur.frameOffset = val
			}
		}
	}
	return out
}

// TestUnwindInfoAgainstReadobj compares every RUNTIME_FUNCTION of every
// generated x64 image, and the decoding of every UNWIND_INFO and unwind
// code, with llvm-readobj --unwind.
func TestUnwindInfoAgainstReadobj(t *testing.T) {
	readobj := tool(t, "llvm-readobj")
	ops := map[UnwindOp]int{}
	functions, chained, handlers := 0, 0, 0
	for _, img := range images(t) {
		if !img.x64 {
			continue
		}
		t.Run(img.name, func(t *testing.T) {
			f := openImage(t, img)
			want := parseReadobjUnwind(t, run(t, readobj, "--unwind", img.path))
			got := f.RuntimeFunctions()
			if len(got) != len(want) || len(want) == 0 {
				t.Fatalf("%d runtime functions, llvm-readobj lists %d", len(got), len(want))
			}
			base := f.ImageBase
			for i, w := range want {
				rf := got[i]
				where := fmt.Sprintf("function %d at %#x", i, w.begin)
				if uint64(rf.Begin)+base != w.begin || uint64(rf.End)+base != w.end || uint64(rf.UnwindData)+base != w.info {
					t.Errorf("%s: %#x-%#x info %#x, want %#x-%#x info %#x", where, rf.Begin, rf.End, rf.UnwindData, w.begin-base, w.end-base, w.info-base)
					continue
				}
				ui, err := f.UnwindInfo(rf)
				if err != nil {
					t.Errorf("%s: %v", where, err)
					continue
				}
				frameReg, frameOff := "-", "-"
				if ui.HasFrameRegister {
					frameReg = fmt.Sprintf("%s (0x%X)", strings.ToUpper(ui.FrameRegister.String()), uint8(ui.FrameRegister))
					frameOff = fmt.Sprintf("0x%X", ui.FrameOffset/16)
				}
				if uint64(ui.Version) != w.version || uint64(ui.Flags) != w.flags || uint64(ui.PrologSize) != w.prologSize ||
					frameReg != w.frameReg || frameOff != w.frameOffset || uint64(ui.CountOfCodes) != w.codeCount {
					t.Errorf("%s: version %d flags %#x prolog %d frame %s/%s codes %d; readobj: %d %#x %d %s/%s %d", where,
						ui.Version, ui.Flags, ui.PrologSize, frameReg, frameOff, ui.CountOfCodes,
						w.version, w.flags, w.prologSize, w.frameReg, w.frameOffset, w.codeCount)
				}
				var codes []string
				for _, c := range ui.Codes {
					codes = append(codes, fmt.Sprintf("0x%02X: %s", c.CodeOffset, c))
					ops[c.Op]++
				}
				if strings.Join(codes, "\n") != strings.Join(w.codes, "\n") {
					t.Errorf("%s: codes\n%s\nreadobj:\n%s", where, strings.Join(codes, "\n"), strings.Join(w.codes, "\n"))
				}
				if w.handler != 0 {
					handlers++
					if uint64(ui.Handler)+base != w.handler {
						t.Errorf("%s: handler %#x, want %#x", where, ui.Handler, w.handler-base)
					}
				}
				if (w.chained != nil) != (ui.Chained != nil) {
					t.Errorf("%s: chained %+v, readobj %v", where, ui.Chained, w.chained)
				} else if w.chained != nil {
					chained++
					c := ui.Chained
					if uint64(c.Begin)+base != w.chained[0] || uint64(c.End)+base != w.chained[1] || uint64(c.UnwindData)+base != w.chained[2] {
						t.Errorf("%s: chained %+v, readobj %#x", where, *c, *w.chained)
					}
				}
				functions++

				// Every address of the function finds it.
				for _, rva := range []uint32{rf.Begin, rf.Begin + (rf.End-rf.Begin)/2, rf.End - 1} {
					if found, ok := f.FunctionAt(rva); !ok || found != rf {
						t.Errorf("FunctionAt(%#x) = %+v, %v; want %+v", rva, found, ok, rf)
					}
				}
			}
		})
	}
	// The generated code must exercise every operation but the reserved
	// ones and version 2's EPILOG, which LLVM does not write.
	for op := UnwindOp(0); op < numOps; op++ {
		if op == OpEpilog || op == OpSpareCode {
			continue
		}
		if ops[op] == 0 {
			t.Errorf("no generated image has a %s code", op)
		}
	}
	if chained == 0 || handlers == 0 {
		t.Errorf("%d chained entries and %d handlers checked; the generated images have both", chained, handlers)
	}
	t.Logf("%d runtime functions compared; codes by operation: %v", functions, ops)
}
