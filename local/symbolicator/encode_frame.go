package symbolicator

import (
	"strconv"
	"unsafe"

	"github.com/symflow/symflow/internal/jsonstring"
)

// appendPlain writes a symbolicated frame that passes none of the
// request frame's own fields through: its keys are then known, and are
// written in their sorted order directly, where the general encoder
// (appendGeneral) gathers, sorts and escapes them per frame, which was
// most of the time spent writing an answer. Both write the same bytes
// (encode_test.go).
//
// known remembers strings already found plain, nil for none.
func (f *symFrame) appendPlain(dst []byte, known *plainStrings) []byte {
	str := appendJSONString
	if known != nil {
		str = known.append
	}
	// Every member is written with a leading comma; the first one's
	// becomes the object's brace.
	start := len(dst)
	var path, name string
	if f.path != nil {
		path, name = f.path.path, f.path.name
	}
	var pkg, mode string
	if f.mod != nil {
		pkg, mode = f.mod.pkg, f.mod.addrMode
	}
	if path != "" {
		dst = append(dst, `,"abs_path":`...)
		dst = str(dst, path)
	}
	if mode != "" {
		dst = append(dst, `,"addr_mode":`...)
		dst = str(dst, mode)
	}
	if adj := f.adjustment(); adj != nil {
		dst = append(dst, `,"adjust_instruction_addr":`...)
		dst = strconv.AppendBool(dst, *adj)
	}
	if f.context != nil {
		dst = append(dst, `,"context_line":`...)
		dst = str(dst, f.context.line)
	}
	if path != "" && name != "" {
		dst = append(dst, `,"filename":`...)
		dst = str(dst, name)
	}
	dst = append(dst, `,"function":`...)
	dst = str(dst, f.function)
	dst = append(dst, `,"instruction_addr":"0x`...)
	dst = strconv.AppendUint(dst, f.addr, 16)
	dst = append(dst, '"')
	if f.lang != "" {
		dst = append(dst, `,"lang":`...)
		dst = str(dst, f.lang)
	}
	dst = append(dst, `,"lineno":`...)
	dst = strconv.AppendInt(dst, int64(uint64(f.line)), 10)
	dst = append(dst, `,"original_index":`...)
	dst = strconv.AppendInt(dst, int64(uint64(f.index)), 10)
	if pkg != "" {
		dst = append(dst, `,"package":`...)
		dst = str(dst, pkg)
	}
	if c := f.context; c != nil {
		dst = append(dst, `,"post_context":`...)
		dst = appendStrings(dst, c.post)
		dst = append(dst, `,"pre_context":`...)
		dst = appendStrings(dst, c.pre)
	}
	dst = append(dst, `,"status":"`+frameSymbolicated+`"`...)
	if f.hasSymAddr {
		dst = append(dst, `,"sym_addr":"0x`...)
		dst = strconv.AppendUint(dst, f.symAddr, 16)
		dst = append(dst, '"')
	}
	dst = append(dst, `,"symbol":`...)
	dst = str(dst, f.symbol)
	if t := f.trustName(); t != "none" {
		dst = append(dst, `,"trust":`...)
		dst = str(dst, t)
	}
	dst[start] = '{'
	return append(dst, '}')
}

// appendStrings writes a list of strings as appendValue does.
func appendStrings(dst []byte, ss []string) []byte {
	dst = append(dst, '[')
	for i, s := range ss {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, s)
	}
	return append(dst, ']')
}

// appendJSONString appends s as jsonstring.Append does, copying it at
// once when it holds nothing to escape: names and paths are plain ASCII
// but for rare exceptions, and are tested eight bytes at a time.
func appendJSONString(dst []byte, s string) []byte {
	if !plainJSON(s) {
		return jsonstring.Append(dst, s)
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}

// plainJSON reports whether s is written as itself in a JSON string: only
// ASCII from ' ' up, without '"' and '\\'.
func plainJSON(s string) bool {
	const (
		ones  = 0x0101010101010101
		highs = 0x8080808080808080
	)
	i := 0
	for ; i+8 <= len(s); i += 8 {
		w := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		// A byte is flagged when it has its high bit set, is below 0x20,
		// or equals '"' or '\\' (SWAR: a borrow can only flag bytes above
		// one that is flagged rightly, so "any byte" is exact).
		quote, backslash := w^(ones*'"'), w^(ones*'\\')
		bad := w | (w - ones*0x20) | (quote-ones)&^quote | (backslash-ones)&^backslash
		if bad&highs != 0 {
			return false
		}
	}
	for ; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x80 || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// plainStrings remembers strings that plainJSON found plain, by where
// their bytes are: an answer names the same functions and files over and
// over, and long C++ names are most of what it holds. Strings do not
// change, and the table keeps the ones it holds alive, so a string at a
// remembered place is the one that was tested.
type plainStrings [plainSlots]struct {
	p *byte
	n int
}

const plainSlots = 2048

// append appends s as appendJSONString does.
func (c *plainStrings) append(dst []byte, s string) []byte {
	if len(s) < 16 {
		return appendJSONString(dst, s)
	}
	p := unsafe.StringData(s)
	slot := &c[(uintptr(unsafe.Pointer(p))>>3^uintptr(len(s)))%plainSlots]
	if slot.p != p || slot.n != len(s) {
		if !plainJSON(s) {
			return jsonstring.Append(dst, s)
		}
		slot.p, slot.n = p, len(s)
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}
