package unwind

import (
	"context"
	"encoding/binary"
	"testing"
)

// Fuzz input layout:
//
//	[0]      CPU (amd64, arm64, x86, arm)
//	[1]      flags, see the fz* constants
//	[2]      CFA offset in words (signed)
//	[3]      return-address offset from the CFA in words (signed)
//	[4:36]   instruction pointer, stack pointer, frame pointer, link register
//	[36:]    stack memory at fuzzBase
//
// Code lives in two modules, fuzzModA (with CFI and symbols when the flags
// say so) and fuzzModB; both fit 32 bits so every CPU can reach them.
const (
	fzWindows = 1 << iota
	fzIOS
	fzSymbols
	fzCFI
	fzRAFromLR
	fzListing
	fzStart
	fzStackRelative // sp and fp are offsets into the stack memory

	fuzzBase = 0x10000
	fuzzModA = 0x40_0000
	fuzzModB = 0x50_0000
	fuzzSize = 0x10_0000
)

var fuzzCPUs = []struct {
	name       string
	word       int
	ip, sp, fp string
	lr         string
	adjust     uint64
}{
	{"amd64", 8, "rip", "rsp", "rbp", "rbx", 1},
	{"arm64", 8, "pc", "sp", "fp", "lr", 4},
	{"x86", 4, "eip", "esp", "ebp", "ebx", 1},
	{"arm", 4, "pc", "sp", "fp", "lr", 2},
}

// fuzzSeed encodes a walk for the fuzzer.
func fuzzSeed(cpu, flags byte, cfaOff, raOff int8, ip, sp, fp, lr uint64, mem []byte) []byte {
	b := []byte{cpu, flags, byte(cfaOff), byte(raOff)}
	for _, v := range []uint64{ip, sp, fp, lr} {
		b = binary.LittleEndian.AppendUint64(b, v)
	}
	return append(b, mem...)
}

func FuzzWalk(f *testing.F) {
	// A frame-pointer chain, a scan target and a CFI frame for each CPU.
	for cpu := range fuzzCPUs {
		word := fuzzCPUs[cpu].word
		s := newStack(fuzzBase, word)
		s.zeros(2)
		r1 := s.push(0, fuzzModB+0x100)
		s.push(fuzzModA + 0x2000)
		r2 := s.push(0, fuzzModA+0x300)
		s.zeros(3)
		s.set(r1, r2)
		mem := s.mem.bytes
		for _, flags := range []byte{0, fzSymbols, fzCFI, fzCFI | fzRAFromLR, fzCFI | fzListing | fzStart, fzWindows, fzIOS} {
			f.Add(fuzzSeed(byte(cpu), flags, 2, -1, fuzzModA+0x10, fuzzBase, r1, fuzzModB+0x40, mem))
		}
		f.Add(fuzzSeed(byte(cpu), fzStackRelative|fzCFI, 1, 0, fuzzModA+0x10, 0, 16, 0, mem))
	}

	f.Fuzz(func(t *testing.T, data []byte) { fuzzWalk(t, data) })
}

// fuzzWalk walks the stack data describes and checks the walk's invariants:
// it ends within the frame cap, callers come from CFI, the frame pointer or
// scanning, their instruction pointers are past the first page, Instruction
// is Resume less the CPU's adjustment, and the stack pointer moves up (or,
// where arm and arm64 allow it, stays). It returns the number of frames.
func fuzzWalk(t testing.TB, data []byte) int {
	if len(data) < 36 {
		return 0
	}
	c := fuzzCPUs[int(data[0])%len(fuzzCPUs)]
	flags := data[1]
	word := int64(c.word)
	vals := make([]uint64, 4)
	for i := range vals {
		vals[i] = binary.LittleEndian.Uint64(data[4+8*i:])
	}
	mem := data[36:]
	if flags&fzStackRelative != 0 && len(mem) > 0 {
		vals[1] = fuzzBase + vals[1]%uint64(len(mem))
		vals[2] = fuzzBase + vals[2]%uint64(len(mem))
	}
	regs := map[string]uint64{c.ip: vals[0], c.sp: vals[1], c.fp: vals[2], c.lr: vals[3]}

	var rs Rules
	r := &rules{word: c.word, cfaReg: c.sp, cfaOff: int64(int8(data[2])) * word,
		raOff: int64(int8(data[3])) * word, saved: map[string]int64{c.fp: -2 * word}}
	if flags&fzRAFromLR != 0 {
		r.raReg = c.lr
	}
	rs = r
	if flags&fzListing != 0 {
		r.lost = []string{c.lr}
		rs = listingRules{r}
	}
	if flags&fzStart != 0 {
		rs = startRules{r}
	}
	a := module{base: fuzzModA, size: fuzzSize, symbols: flags&fzSymbols != 0,
		funcs: [][2]uint64{{fuzzModA + 0x100, fuzzModA + 0x800}, {fuzzModA + 0x1000, fuzzModA + 0x4000}}}
	if flags&fzCFI != 0 {
		a.cfi = []cfiRange{{fuzzModA, fuzzModA + 0x8000, rs}}
	}
	ms := &modules{list: []module{a, {base: fuzzModB, size: fuzzSize}}}
	opts := Options{ModulesEnd: fuzzModB + fuzzSize}
	switch {
	case flags&fzWindows != 0:
		opts.OS = "windows"
	case flags&fzIOS != 0:
		opts.OS = "ios"
	}

	frames, err := Walk(context.Background(), c.name, regs, &stackMem{base: fuzzBase, bytes: mem}, ms, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(frames) == 0 || len(frames) > DefaultMaxFrames || frames[0].Trust != TrustContext {
		t.Fatalf("%d frames", len(frames))
	}
	for i := 1; i < len(frames); i++ {
		f, callee := frames[i], frames[i-1]
		switch f.Trust {
		case TrustCFI, TrustFP, TrustScan:
		default:
			t.Fatalf("frame %d: trust %q", i, f.Trust)
		}
		if f.Resume < 4096 || f.Instruction != f.Resume-c.adjust || f.Registers[c.ip] != f.Resume {
			t.Fatalf("frame %d: resume %#x instruction %#x", i, f.Resume, f.Instruction)
		}
		sp, ok := f.Registers[c.sp]
		if !ok {
			t.Fatalf("frame %d: no stack pointer", i)
		}
		lastSP := callee.Registers[c.sp]
		switch {
		case sp > lastSP:
		case sp == lastSP && c.name == "arm64" && f.Resume != callee.Resume &&
			(callee.Trust == TrustContext || f.Trust == TrustCFI):
		case sp == lastSP && c.name == "arm" && i == 1:
		default:
			t.Fatalf("frame %d: sp %#x after %#x", i, sp, lastSP)
		}
	}
	return len(frames)
}
