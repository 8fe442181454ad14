package symbolicator

import (
	"math"
	"unicode/utf8"
)

// decodeFast reads a /symbolicate body in one pass, without a map per
// frame: a request of 30,000 frames, each an object that encoding/json
// scanned four times into maps of copied values, made decoding a third of
// a warm request. Frames with only the fields a crash reporter sends for
// native code (instruction_addr, addr_mode, adjust_instruction_addr,
// function, symbol, trust) are read directly; every other value is
// checked and kept by the general decoder's own code (decodeCommon,
// decodeModule, decodeStacktraceFields, decodeFrameFields), handed the
// value's bytes as the map encoding/json would have held.
//
// It reports false for any body it does not take: one with an error
// anywhere (the general decoder then says which), a duplicate key (the
// general decoder keeps the last), a key with escapes, or nesting deeper
// than maxFastDepth. It never reports an error itself, so that errors are
// written in one place.
func decodeFast(body []byte) (*symbolicateRequest, bool) {
	d := fastDecoder{b: body}
	d.ws()
	if !d.eat('{') {
		return nil, false
	}
	top := jsonObject{}
	var traces []*rawStacktrace
	ok := d.object(func(key []byte) bool {
		if _, dup := top[string(key)]; dup {
			return false
		}
		if string(key) == "stacktraces" {
			start := d.i
			var ok bool
			traces, ok = d.stacktraces()
			// Kept for the duplicate check; not read again.
			top["stacktraces"] = body[start:d.i]
			return ok
		}
		v, ok := d.value()
		top[string(key)] = v
		return ok
	})
	d.ws()
	if !ok || d.i != len(d.b) {
		return nil, false
	}
	req, err := decodeCommon(top)
	if err != nil {
		return nil, false
	}
	if sig, ok, err := top.uint("signal", "", math.MaxUint32); err != nil {
		return nil, false
	} else if ok {
		s := uint32(sig)
		req.Signal = &s
	}
	req.Stacktraces = traces
	mods, err := decodeArray(top["modules"], "modules")
	if err != nil {
		return nil, false
	}
	for _, raw := range mods {
		m, err := decodeModule(raw, "modules")
		if err != nil {
			return nil, false
		}
		req.Modules = append(req.Modules, m)
	}
	return req, true
}

// maxFastDepth bounds the nesting decodeFast reads; deeper bodies go to
// the general decoder (encoding/json allows 10,000 levels).
const maxFastDepth = 100

// fastDecoder scans a JSON document. Its methods report false on anything
// the fast path does not take, leaving i wherever it stopped.
type fastDecoder struct {
	b []byte
	i int
	// slab hands out frames a block at a time.
	slab []rawFrame
}

// ws skips JSON whitespace.
func (d *fastDecoder) ws() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// eat consumes c if it is the next byte.
func (d *fastDecoder) eat(c byte) bool {
	if d.i < len(d.b) && d.b[d.i] == c {
		d.i++
		return true
	}
	return false
}

// isLiteral reports whether lit starts at i.
func (d *fastDecoder) isLiteral(lit string) bool {
	return len(d.b)-d.i >= len(lit) && string(d.b[d.i:d.i+len(lit)]) == lit
}

// object reads the members of an object whose '{' was consumed, calling
// member with each key, positioned at the key's value after whitespace;
// member reads the value.
func (d *fastDecoder) object(member func(key []byte) bool) bool {
	d.ws()
	if d.eat('}') {
		return true
	}
	for {
		key, ok := d.plainString()
		if !ok {
			return false
		}
		d.ws()
		if !d.eat(':') {
			return false
		}
		d.ws()
		if !member(key) {
			return false
		}
		d.ws()
		if d.eat('}') {
			return true
		}
		if !d.eat(',') {
			return false
		}
		d.ws()
	}
}

// plainString reads a string at i and returns its contents when they are
// what encoding/json would decode them to: no escapes, valid UTF-8.
func (d *fastDecoder) plainString() ([]byte, bool) {
	if !d.eat('"') {
		return nil, false
	}
	start := d.i
	ascii := true
	for d.i < len(d.b) {
		c := d.b[d.i]
		switch {
		case c == '"':
			s := d.b[start:d.i]
			d.i++
			if !ascii && !utf8.Valid(s) {
				return nil, false
			}
			return s, true
		case c == '\\' || c < 0x20:
			return nil, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
		d.i++
	}
	return nil, false
}

// value reads any JSON value at i and returns its bytes, as a
// json.RawMessage of it would hold them.
func (d *fastDecoder) value() ([]byte, bool) {
	start := d.i
	if !d.skip(0) {
		return nil, false
	}
	return d.b[start:d.i], true
}

// skip reads a JSON value at i, checking it as encoding/json's scanner
// does.
func (d *fastDecoder) skip(depth int) bool {
	if d.i >= len(d.b) || depth > maxFastDepth {
		return false
	}
	switch c := d.b[d.i]; {
	case c == '{':
		d.i++
		return d.object(func([]byte) bool { return d.skip(depth + 1) })
	case c == '[':
		d.i++
		return d.array(func() bool { return d.skip(depth + 1) })
	case c == '"':
		return d.skipString()
	case c == 't':
		return d.literal("true")
	case c == 'f':
		return d.literal("false")
	case c == 'n':
		return d.literal("null")
	case c == '-' || c >= '0' && c <= '9':
		return d.number()
	}
	return false
}

func (d *fastDecoder) literal(lit string) bool {
	if !d.isLiteral(lit) {
		return false
	}
	d.i += len(lit)
	return true
}

// array reads the elements of an array whose '[' was consumed, calling
// elem positioned at each.
func (d *fastDecoder) array(elem func() bool) bool {
	d.ws()
	if d.eat(']') {
		return true
	}
	for {
		if !elem() {
			return false
		}
		d.ws()
		if d.eat(']') {
			return true
		}
		if !d.eat(',') {
			return false
		}
		d.ws()
	}
}

// skipString reads a string with any escapes: encoding/json's scanner
// accepts any bytes but control characters, and escapes \" \\ \/ \b \f
// \n \r \t and \u with four hex digits.
func (d *fastDecoder) skipString() bool {
	d.i++ // '"'
	for d.i < len(d.b) {
		c := d.b[d.i]
		switch {
		case c == '"':
			d.i++
			return true
		case c < 0x20:
			return false
		case c == '\\':
			d.i++
			if d.i >= len(d.b) {
				return false
			}
			switch d.b[d.i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				d.i++
			case 'u':
				if len(d.b)-d.i < 5 {
					return false
				}
				for _, h := range d.b[d.i+1 : d.i+5] {
					if hexVal(h) < 0 {
						return false
					}
				}
				d.i += 5
			default:
				return false
			}
		default:
			d.i++
		}
	}
	return false
}

// number reads a JSON number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (d *fastDecoder) number() bool {
	d.eat('-')
	switch {
	case d.eat('0'):
	case d.i < len(d.b) && d.b[d.i] >= '1' && d.b[d.i] <= '9':
		d.digits()
	default:
		return false
	}
	if d.eat('.') {
		if d.digits() == 0 {
			return false
		}
	}
	if d.eat('e') || d.eat('E') {
		if !d.eat('+') {
			d.eat('-')
		}
		if d.digits() == 0 {
			return false
		}
	}
	return true
}

func (d *fastDecoder) digits() int {
	start := d.i
	for d.i < len(d.b) && d.b[d.i] >= '0' && d.b[d.i] <= '9' {
		d.i++
	}
	return d.i - start
}

func hexVal(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// stacktraces reads the stacktraces array (or null).
func (d *fastDecoder) stacktraces() ([]*rawStacktrace, bool) {
	if d.literal("null") {
		return nil, true
	}
	if !d.eat('[') {
		return nil, false
	}
	var out []*rawStacktrace
	ok := d.array(func() bool {
		st, ok := d.stacktrace()
		out = append(out, st)
		return ok
	})
	return out, ok
}

// stacktrace reads one stack trace object: its frames here, its other
// fields through decodeStacktraceFields.
func (d *fastDecoder) stacktrace() (*rawStacktrace, bool) {
	if !d.eat('{') {
		return nil, false
	}
	st := &rawStacktrace{fields: jsonObject{}}
	var rest jsonObject
	hasFrames := false
	ok := d.object(func(key []byte) bool {
		if string(key) == "frames" {
			if hasFrames {
				return false
			}
			hasFrames = true
			var ok bool
			st.Frames, ok = d.frames()
			return ok
		}
		if _, dup := rest[string(key)]; dup {
			return false
		}
		v, ok := d.value()
		if rest == nil {
			rest = jsonObject{}
		}
		rest[string(key)] = v
		return ok
	})
	if !ok || !hasFrames {
		return nil, false
	}
	if err := decodeStacktraceFields(st, rest, ""); err != nil {
		return nil, false
	}
	return st, true
}

// frames reads a frames array (or null).
func (d *fastDecoder) frames() ([]*rawFrame, bool) {
	if d.literal("null") {
		return nil, true
	}
	if !d.eat('[') {
		return nil, false
	}
	var out []*rawFrame
	ok := d.array(func() bool {
		f, ok := d.frame()
		out = append(out, f)
		return ok
	})
	return out, ok
}

// newFrame returns a zero frame from the slab.
func (d *fastDecoder) newFrame() *rawFrame {
	if len(d.slab) == cap(d.slab) {
		d.slab = make([]rawFrame, 0, 512)
	}
	d.slab = d.slab[:len(d.slab)+1]
	return &d.slab[len(d.slab)-1]
}

// frameMember is one member of a frame object as read.
type frameMember struct {
	key   []byte
	value []byte
}

// The frame fields read directly, as bits of a set.
const (
	memberAddr = 1 << iota
	memberAddrMode
	memberAdjust
	memberFunction
	memberSymbol
	memberTrust
)

// Shared values of adjust_instruction_addr: frames only read them.
var (
	adjustTrue  = true
	adjustFalse = false
)

// frame reads one frame object. A frame of only the fields read directly
// costs no map; any other goes through decodeFrameFields.
func (d *fastDecoder) frame() (*rawFrame, bool) {
	if !d.eat('{') {
		return nil, false
	}
	var arr [8]frameMember
	members := arr[:0]
	var seen uint
	plain := true
	ok := d.object(func(key []byte) bool {
		var bit uint
		switch string(key) {
		case "instruction_addr":
			bit = memberAddr
		case "addr_mode":
			bit = memberAddrMode
		case "adjust_instruction_addr":
			bit = memberAdjust
		case "function":
			bit = memberFunction
		case "symbol":
			bit = memberSymbol
		case "trust":
			bit = memberTrust
		default:
			plain = false
		}
		if seen&bit != 0 {
			return false
		}
		seen |= bit
		v, ok := d.value()
		members = append(members, frameMember{key, v})
		return ok
	})
	if !ok {
		return nil, false
	}
	f := d.newFrame()
	if !plain {
		o := make(jsonObject, len(members))
		for _, m := range members {
			if _, dup := o[string(m.key)]; dup {
				return nil, false
			}
			o[string(m.key)] = m.value
		}
		if decodeFrameFields(f, o, "") != nil {
			return nil, false
		}
		return f, true
	}
	f.Trust = "none"
	for _, m := range members {
		v := m.value
		null := string(v) == "null"
		switch string(m.key) {
		case "instruction_addr":
			a, ok := fastAddress(v)
			if !ok {
				return nil, false
			}
			f.Addr = a
		case "addr_mode":
			if null {
				continue
			}
			s, ok := plainValue(v)
			if !ok {
				return nil, false
			}
			if string(s) != "abs" {
				m, err := parseAddrMode(string(s))
				if err != nil {
					return nil, false
				}
				f.Mode = m
			}
		case "adjust_instruction_addr":
			switch string(v) {
			case "true":
				f.Adjust = &adjustTrue
			case "false":
				f.Adjust = &adjustFalse
			case "null":
			default:
				return nil, false
			}
		case "function", "symbol":
			if null {
				continue
			}
			s, ok := plainValue(v)
			if !ok {
				return nil, false
			}
			if string(m.key) == "function" {
				f.Function = string(s)
			} else {
				f.Symbol = string(s)
			}
		case "trust":
			if null {
				continue
			}
			s, ok := plainValue(v)
			if !ok {
				return nil, false
			}
			t, ok := frameTrustNames[string(s)]
			if !ok {
				return nil, false
			}
			f.Trust = t
		}
	}
	if seen&memberAddr == 0 {
		return nil, false
	}
	return f, true
}

// frameTrustNames holds the trust values, so that frames share them.
var frameTrustNames = func() map[string]string {
	m := map[string]string{}
	for t := range frameTrusts {
		m[t] = t
	}
	return m
}()

// plainValue returns the contents of a string value read by value when
// they are what encoding/json decodes them to (no escapes, valid UTF-8).
func plainValue(v []byte) ([]byte, bool) {
	if len(v) < 2 || v[0] != '"' {
		return nil, false
	}
	s := v[1 : len(v)-1]
	ascii := true
	for _, c := range s {
		if c == '\\' {
			return nil, false
		}
		if c >= utf8.RuneSelf {
			ascii = false
		}
	}
	if !ascii && !utf8.Valid(s) {
		return nil, false
	}
	return s, true
}

// fastAddress reads instruction_addr as parseHexJSON does: "0x" and hex
// digits directly, anything else through parseHexJSON.
func fastAddress(v []byte) (uint64, bool) {
	if len(v) > 4 && v[0] == '"' && v[1] == '0' && v[2] == 'x' {
		h := v[3 : len(v)-1]
		var a uint64
		ok := len(h) > 0
		for _, c := range h {
			x := hexVal(c)
			if x < 0 || a>>60 != 0 {
				ok = false
				break
			}
			a = a<<4 | uint64(x)
		}
		if ok {
			return a, true
		}
	}
	if string(v) == "null" {
		return 0, false
	}
	a, err := parseHexJSON(v)
	return a, err == nil
}
