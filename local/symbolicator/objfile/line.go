package objfile

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// lineTable is one parsed line-number program. Its files are absolute paths
// indexed by the program's own file numbers.
type lineTable struct {
	files []string
}

// lineRow is one state-machine row; file is the program's file number.
type lineRow struct {
	addr uint64
	file uint32
	line uint32
	end  bool
}

// buf is a bounds-checked little reader over DWARF data. Errors stick: after
// the first failure every read returns zero.
type buf struct {
	b   []byte
	off int
	bo  binary.ByteOrder
	err error
}

var errShort = errors.New("unexpected end of data")

func (r *buf) fail(err error) {
	if r.err == nil {
		r.err = err
	}
	r.off = len(r.b)
}

func (r *buf) need(n int) bool {
	if r.err != nil {
		return false
	}
	if n < 0 || n > len(r.b)-r.off {
		r.fail(errShort)
		return false
	}
	return true
}

func (r *buf) u8() uint8 {
	if !r.need(1) {
		return 0
	}
	r.off++
	return r.b[r.off-1]
}

func (r *buf) u16() uint16 {
	if !r.need(2) {
		return 0
	}
	r.off += 2
	return r.bo.Uint16(r.b[r.off-2:])
}

func (r *buf) u32() uint32 {
	if !r.need(4) {
		return 0
	}
	r.off += 4
	return r.bo.Uint32(r.b[r.off-4:])
}

func (r *buf) u64() uint64 {
	if !r.need(8) {
		return 0
	}
	r.off += 8
	return r.bo.Uint64(r.b[r.off-8:])
}

func (r *buf) uint(size int) uint64 {
	switch size {
	case 1:
		return uint64(r.u8())
	case 2:
		return uint64(r.u16())
	case 4:
		return uint64(r.u32())
	case 8:
		return r.u64()
	}
	r.fail(fmt.Errorf("unsupported address size %d", size))
	return 0
}

func (r *buf) skip(n int) {
	if r.need(n) {
		r.off += n
	}
}

func (r *buf) uleb() uint64 {
	var v uint64
	var shift uint
	for {
		if !r.need(1) {
			return 0
		}
		c := r.b[r.off]
		r.off++
		if shift < 64 {
			v |= uint64(c&0x7f) << shift
		}
		shift += 7
		if c&0x80 == 0 {
			return v
		}
	}
}

func (r *buf) sleb() int64 {
	var v int64
	var shift uint
	var c byte
	for {
		if !r.need(1) {
			return 0
		}
		c = r.b[r.off]
		r.off++
		if shift < 64 {
			v |= int64(c&0x7f) << shift
		}
		shift += 7
		if c&0x80 == 0 {
			break
		}
	}
	if shift < 64 && c&0x40 != 0 {
		v |= -1 << shift
	}
	return v
}

func (r *buf) cstr() string {
	if r.err != nil {
		return ""
	}
	i := r.off
	for i < len(r.b) && r.b[i] != 0 {
		i++
	}
	if i == len(r.b) {
		r.fail(errShort)
		return ""
	}
	s := string(r.b[r.off:i])
	r.off = i + 1
	return s
}

// strAt reads a NUL-terminated string at off in sec.
func strAt(sec []byte, off uint64) (string, error) {
	if off >= uint64(len(sec)) {
		return "", fmt.Errorf("string offset %#x outside its section (%d bytes)", off, len(sec))
	}
	s := sec[off:]
	for i, c := range s {
		if c == 0 {
			return string(s[:i]), nil
		}
	}
	return "", fmt.Errorf("string at %#x is not terminated", off)
}

// DWARF forms that may appear in DWARF 5 line table headers.
const (
	formBlock2   = 0x03
	formBlock4   = 0x04
	formData2    = 0x05
	formData4    = 0x06
	formData8    = 0x07
	formString   = 0x08
	formBlock    = 0x09
	formBlock1   = 0x0a
	formData1    = 0x0b
	formSdata    = 0x0d
	formStrp     = 0x0e
	formUdata    = 0x0f
	formData16   = 0x1e
	formLineStrp = 0x1f
)

// parseLineProgram decodes the line program at off. It calls row for every
// row. compDir is the unit's DW_AT_comp_dir.
func parseLineProgram(sec []byte, off uint64, bo binary.ByteOrder, compDir string, strs, lineStrs []byte, row func(lineRow)) (*lineTable, error) {
	if off >= uint64(len(sec)) {
		return nil, fmt.Errorf("offset %#x outside .debug_line (%d bytes)", off, len(sec))
	}
	r := &buf{b: sec, off: int(off), bo: bo}
	unitLen := uint64(r.u32())
	dwarf64 := false
	if unitLen == 0xffffffff {
		dwarf64 = true
		unitLen = r.u64()
	}
	if r.err != nil || unitLen > uint64(len(sec)-r.off) {
		return nil, fmt.Errorf("unit length %d exceeds .debug_line", unitLen)
	}
	end := r.off + int(unitLen)
	r.b = sec[:end]
	version := r.u16()
	if version < 2 || version > 5 {
		return nil, fmt.Errorf("unsupported line table version %d", version)
	}
	addrSize := 0
	if version >= 5 {
		addrSize = int(r.u8())
		r.u8() // segment selector size
	}
	var hdrLen uint64
	if dwarf64 {
		hdrLen = r.u64()
	} else {
		hdrLen = uint64(r.u32())
	}
	if r.err != nil || hdrLen > uint64(end-r.off) {
		return nil, fmt.Errorf("header length %d exceeds the unit", hdrLen)
	}
	progStart := r.off + int(hdrLen)
	minInst := uint64(r.u8())
	if version >= 4 {
		r.u8() // maximum_operations_per_instruction: VLIW only
	}
	r.u8() // default_is_stmt: LLVM looks at every row regardless
	lineBase := int64(int8(r.u8()))
	lineRange := uint64(r.u8())
	opBase := int(r.u8())
	if lineRange == 0 {
		return nil, errors.New("line_range is 0")
	}
	if opBase == 0 {
		return nil, errors.New("opcode_base is 0")
	}
	stdLens := make([]uint8, opBase)
	for i := 1; i < opBase; i++ {
		stdLens[i] = r.u8()
	}

	lt := &lineTable{}
	if version < 5 {
		var dirs []string
		for r.err == nil {
			d := r.cstr()
			if d == "" {
				break
			}
			dirs = append(dirs, d)
		}
		lt.files = append(lt.files, "") // file numbers start at 1
		for r.err == nil {
			name := r.cstr()
			if name == "" {
				break
			}
			dir := r.uleb()
			r.uleb() // mtime
			r.uleb() // length
			lt.files = append(lt.files, llvmPath(version, compDir, dirs, dir, name))
		}
		if r.err != nil {
			return nil, fmt.Errorf("file table: %w", r.err)
		}
		return lt, runLineProgram(r, progStart, end, version, addrSize, minInst, lineBase, lineRange, opBase, stdLens, lt, compDir, dirs, row)
	}

	readEntries := func(what string) ([][2]string, []uint64, error) {
		nfmt := int(r.u8())
		type pair struct{ lnct, form uint64 }
		formats := make([]pair, nfmt)
		for i := range formats {
			formats[i] = pair{r.uleb(), r.uleb()}
		}
		n := r.uleb()
		if r.err != nil {
			return nil, nil, fmt.Errorf("%s format: %w", what, r.err)
		}
		if n > uint64(end-r.off) {
			return nil, nil, fmt.Errorf("%s count %d exceeds the header", what, n)
		}
		names := make([][2]string, 0, n)
		dirIdx := make([]uint64, 0, n)
		for i := uint64(0); i < n; i++ {
			var name string
			var dir uint64
			for _, f := range formats {
				var s string
				var v uint64
				switch f.form {
				case formString:
					s = r.cstr()
				case formLineStrp, formStrp:
					var o uint64
					if dwarf64 {
						o = r.u64()
					} else {
						o = uint64(r.u32())
					}
					sec := lineStrs
					if f.form == formStrp {
						sec = strs
					}
					var err error
					if s, err = strAt(sec, o); err != nil && f.lnct == 1 {
						return nil, nil, fmt.Errorf("%s %d name: %w", what, i, err)
					}
				case formUdata:
					v = r.uleb()
				case formSdata:
					v = uint64(r.sleb())
				case formData1:
					v = uint64(r.u8())
				case formData2:
					v = uint64(r.u16())
				case formData4:
					v = uint64(r.u32())
				case formData8:
					v = r.u64()
				case formData16:
					r.skip(16)
				case formBlock:
					r.skip(int(min(r.uleb(), 1<<30)))
				case formBlock1:
					r.skip(int(r.u8()))
				case formBlock2:
					r.skip(int(r.u16()))
				case formBlock4:
					r.skip(int(r.u32()))
				default:
					return nil, nil, fmt.Errorf("%s entry uses unsupported form %#x", what, f.form)
				}
				switch f.lnct {
				case 1: // DW_LNCT_path
					name = s
				case 2: // DW_LNCT_directory_index
					dir = v
				}
			}
			if r.err != nil {
				return nil, nil, fmt.Errorf("%s %d: %w", what, i, r.err)
			}
			names = append(names, [2]string{name})
			dirIdx = append(dirIdx, dir)
		}
		return names, dirIdx, nil
	}
	dirEntries, _, err := readEntries("directory")
	if err != nil {
		return nil, err
	}
	dirs := make([]string, len(dirEntries))
	for i, d := range dirEntries {
		dirs[i] = d[0]
	}
	fileEntries, fileDirs, err := readEntries("file")
	if err != nil {
		return nil, err
	}
	lt.files = make([]string, len(fileEntries))
	for i, fe := range fileEntries {
		lt.files[i] = llvmPath(version, compDir, dirs, fileDirs[i], fe[0])
	}
	return lt, runLineProgram(r, progStart, end, version, addrSize, minInst, lineBase, lineRange, opBase, stdLens, lt, compDir, dirs, row)
}

func runLineProgram(r *buf, start, end int, version uint16, addrSize int, minInst uint64, lineBase int64, lineRange uint64, opBase int, stdLens []uint8,
	lt *lineTable, compDir string, dirs []string, row func(lineRow)) error {
	if start > end {
		return errors.New("program starts past the unit end")
	}
	r.off = start
	var addr uint64
	file, line := uint64(1), int64(1)
	reset := func() { addr, file, line = 0, 1, 1 }
	emit := func(endSeq bool) {
		row(lineRow{addr: addr, file: uint32(min(file, 1<<32-1)), line: uint32(max(0, min(line, 1<<32-1))), end: endSeq})
	}
	for r.off < end && r.err == nil {
		op := int(r.u8())
		switch {
		case op >= opBase:
			adj := uint64(op - opBase)
			addr += (adj / lineRange) * minInst
			line += lineBase + int64(adj%lineRange)
			emit(false)
		case op == 0:
			n := r.uleb()
			if n == 0 || n > uint64(end-r.off) {
				return fmt.Errorf("extended opcode length %d at %#x", n, r.off)
			}
			next := r.off + int(n)
			sub := r.u8()
			switch sub {
			case 1: // DW_LNE_end_sequence
				emit(true)
				reset()
			case 2: // DW_LNE_set_address
				addr = r.uint(int(n) - 1)
			case 3: // DW_LNE_define_file (DWARF < 5)
				name := r.cstr()
				dir := r.uleb()
				lt.files = append(lt.files, llvmPath(version, compDir, dirs, dir, name))
			}
			r.off = next
		case op == 1: // DW_LNS_copy
			emit(false)
		case op == 2: // DW_LNS_advance_pc
			addr += r.uleb() * minInst
		case op == 3: // DW_LNS_advance_line
			line += r.sleb()
		case op == 4: // DW_LNS_set_file
			file = r.uleb()
		case op == 8: // DW_LNS_const_add_pc
			addr += ((255 - uint64(opBase)) / lineRange) * minInst
		case op == 9: // DW_LNS_fixed_advance_pc
			addr += uint64(r.u16())
		default:
			for i := 0; i < int(stdLens[op]); i++ {
				r.uleb()
			}
		}
	}
	if r.err != nil {
		return fmt.Errorf("line program: %w", r.err)
	}
	return nil
}

// llvmPath builds the absolute path of a line-table file entry exactly as
// LLVM's Prologue::getFileNameByIndex (LLVM 14) does for AbsoluteFilePath:
// the name alone when absolute, else comp_dir (unless the include directory
// is absolute), the include directory and the name, joined without cleaning.
// For DWARF 5 directory 0 is comp_dir itself; it is normally absolute, and
// when it is not (Go writes ".") LLVM 14 still prefixes comp_dir.
func llvmPath(version uint16, compDir string, dirs []string, dirIdx uint64, name string) string {
	if strings.HasPrefix(name, "/") {
		return name
	}
	var inc string
	if version >= 5 {
		if dirIdx < uint64(len(dirs)) {
			inc = dirs[dirIdx]
		}
	} else if dirIdx > 0 && dirIdx <= uint64(len(dirs)) {
		inc = dirs[dirIdx-1]
	}
	p := ""
	if compDir != "" && !strings.HasPrefix(inc, "/") {
		p = compDir
	}
	p = appendPath(p, inc)
	return appendPath(p, name)
}

// appendPath mirrors llvm::sys::path::append for POSIX paths.
func appendPath(p, c string) string {
	if c == "" {
		return p
	}
	if p != "" && p[len(p)-1] == '/' {
		return p + strings.TrimLeft(c, "/")
	}
	if p != "" && c[0] != '/' {
		return p + "/" + c
	}
	return p + c
}
