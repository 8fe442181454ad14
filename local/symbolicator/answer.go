package symbolicator

import (
	"bytes"
	"encoding/json"
	"io"
	"slices"
	"strconv"
	"sync"

	"github.com/symflow/symflow/internal/jsonstring"
)

// Answers are written by hand rather than by encoding/json over maps: an
// answer holds tens of thousands of frames, and encoding them as maps
// (reflection, a sorted key list per frame, a boxed value per field) was
// most of a warm request's time. The JSON is what encoding/json writes for
// the same maps, keys sorted, except that strings are not HTML-escaped
// ("<" stays "<", as in Symbolicator's own answers): C++ names are full of
// angle brackets, and escaping them made answers a third larger.

// frame is one frame of an answer: its fields in the order they were set,
// written with their keys sorted.
type frame struct {
	fields []frameField
}

// frameField is one field of a frame. Most values are strings, integers
// or addresses, kept unboxed; others are kept as any.
type frameField struct {
	key  string
	kind fieldKind
	s    string
	n    uint64
	v    any
}

type fieldKind uint8

const (
	fieldString fieldKind = iota
	fieldInt              // n holds an int
	fieldHex              // n holds an address, written "0x…"
	fieldAny              // v, written as encoding/json writes it
)

func newFrame(capacity int) *frame { return &frame{fields: make([]frameField, 0, capacity)} }

func (f *frame) slot(key string) *frameField {
	for i := range f.fields {
		if f.fields[i].key == key {
			return &f.fields[i]
		}
	}
	f.fields = append(f.fields, frameField{key: key})
	return &f.fields[len(f.fields)-1]
}

func (f *frame) setString(key, s string) {
	*f.slot(key) = frameField{key: key, kind: fieldString, s: s}
}
func (f *frame) setInt(key string, n int) {
	*f.slot(key) = frameField{key: key, kind: fieldInt, n: uint64(n)}
}
func (f *frame) setHex(key string, a uint64) {
	*f.slot(key) = frameField{key: key, kind: fieldHex, n: a}
}
func (f *frame) set(key string, v any) { *f.slot(key) = frameField{key: key, kind: fieldAny, v: v} }

func (f *frame) del(key string) {
	f.fields = slices.DeleteFunc(f.fields, func(x frameField) bool { return x.key == key })
}

// str returns the field key when it is a string.
func (f *frame) str(key string) string {
	for _, x := range f.fields {
		if x.key == key {
			switch {
			case x.kind == fieldString:
				return x.s
			case x.kind == fieldAny:
				s, _ := x.v.(string)
				return s
			}
			return ""
		}
	}
	return ""
}

// integer returns the field key when it is an integer.
func (f *frame) integer(key string) int {
	for _, x := range f.fields {
		if x.key == key && x.kind == fieldInt {
			return int(x.n)
		}
	}
	return 0
}

// MarshalJSON lets encoding/json write a frame that reaches it inside
// another value.
func (f *frame) MarshalJSON() ([]byte, error) { return f.appendJSON(nil) }

func (f *frame) appendJSON(dst []byte) ([]byte, error) {
	// Sorted in a copy: an answer may be written to two pollers at once.
	var arr [24]frameField
	return appendFields(dst, append(arr[:0], f.fields...))
}

// setContext implements contextFrame.
func (f *frame) setContext(pre []string, line string, post []string) {
	f.set("pre_context", pre)
	f.setString("context_line", line)
	f.set("post_context", post)
}

// appendFields writes fields as a JSON object, keys sorted (the slice is
// sorted in place).
func appendFields(dst []byte, fs []frameField) ([]byte, error) {
	// Insertion sort: a frame has a dozen fields, and no allocation.
	for i := 1; i < len(fs); i++ {
		for j := i; j > 0 && fs[j].key < fs[j-1].key; j-- {
			fs[j], fs[j-1] = fs[j-1], fs[j]
		}
	}
	dst = append(dst, '{')
	for i, x := range fs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = jsonstring.Append(dst, x.key)
		dst = append(dst, ':')
		switch x.kind {
		case fieldString:
			dst = jsonstring.Append(dst, x.s)
		case fieldInt:
			dst = strconv.AppendInt(dst, int64(x.n), 10)
		case fieldHex:
			dst = append(dst, `"0x`...)
			dst = strconv.AppendUint(dst, x.n, 16)
			dst = append(dst, '"')
		default:
			var err error
			if dst, err = appendValue(dst, x.v); err != nil {
				return nil, err
			}
		}
	}
	return append(dst, '}'), nil
}

// appendValue appends v's JSON: the answer's maps, slices, frames,
// strings and numbers directly, anything else through encoding/json.
func appendValue(dst []byte, v any) ([]byte, error) {
	var err error
	switch x := v.(type) {
	case *frame:
		return x.appendJSON(dst)
	case *symFrame:
		return x.appendJSON(dst)
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		dst = append(dst, '{')
		for i, k := range keys {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = jsonstring.Append(dst, k)
			dst = append(dst, ':')
			if dst, err = appendValue(dst, x[k]); err != nil {
				return nil, err
			}
		}
		return append(dst, '}'), nil
	case []any:
		dst = append(dst, '[')
		for i, e := range x {
			if i > 0 {
				dst = append(dst, ',')
			}
			if dst, err = appendValue(dst, e); err != nil {
				return nil, err
			}
		}
		return append(dst, ']'), nil
	case []string:
		dst = append(dst, '[')
		for i, e := range x {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = jsonstring.Append(dst, e)
		}
		return append(dst, ']'), nil
	case json.RawMessage:
		// Passed through from the request, which was checked to be JSON.
		buf := bytes.NewBuffer(dst)
		if err := json.Compact(buf, x); err != nil {
			return nil, err
		}
		return buf.Bytes(), nil
	case string:
		return jsonstring.Append(dst, x), nil
	case int:
		return strconv.AppendInt(dst, int64(x), 10), nil
	case bool:
		return strconv.AppendBool(dst, x), nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append(dst, b...), nil
}

// answerChunk is how much of an answer is encoded before it is written.
const answerChunk = 256 << 10

// answerBuffers recycles the encoding buffers: fresh memory is paid for
// in page faults, which a profile showed as most of the cost of writing a
// large answer.
var answerBuffers = sync.Pool{New: func() any { b := make([]byte, 0, answerChunk+answerChunk/4); return &b }}

// writeAnswer writes a request's answer to w as JSON, encoding it as it
// goes, a piece of about answerChunk bytes at a time. Answers are kept as
// values, not as their JSON: an answer of 30,000 addresses of a C++
// service is a hundred megabytes of JSON, which, built in memory, cost
// more in growing and faulting in buffers than in encoding, and was held
// as long as the result stays pollable.
func writeAnswer(w io.Writer, v any) error {
	bp := answerBuffers.Get().(*[]byte)
	aw := &answerWriter{buf: (*bp)[:0], out: w}
	err := aw.value(v)
	if err == nil {
		err = aw.write()
	}
	*bp = aw.buf[:0]
	answerBuffers.Put(bp)
	return err
}

// answerWriter encodes an answer into buf and writes buf out whenever it
// holds answerChunk bytes.
type answerWriter struct {
	buf []byte
	out io.Writer
	err error
	// known remembers the strings of symbolicated frames that need no
	// escaping; nil until the first.
	known *plainStrings
}

func (w *answerWriter) write() error {
	if w.err == nil && len(w.buf) > 0 {
		_, w.err = w.out.Write(w.buf)
	}
	w.buf = w.buf[:0]
	return w.err
}

func (w *answerWriter) flush() {
	if len(w.buf) >= answerChunk {
		w.write()
	}
}

// value writes v as appendValue does, handing the answer out between
// the elements of its arrays.
func (w *answerWriter) value(v any) error {
	if w.err != nil {
		return w.err
	}
	var err error
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		w.buf = append(w.buf, '{')
		for i, k := range keys {
			if i > 0 {
				w.buf = append(w.buf, ',')
			}
			w.buf = jsonstring.Append(w.buf, k)
			w.buf = append(w.buf, ':')
			if err := w.value(x[k]); err != nil {
				return err
			}
		}
		w.buf = append(w.buf, '}')
	case []any:
		w.buf = append(w.buf, '[')
		for i, e := range x {
			if i > 0 {
				w.buf = append(w.buf, ',')
			}
			if f, ok := e.(*symFrame); ok && len(f.fields()) == 0 {
				if w.known == nil {
					w.known = new(plainStrings)
				}
				w.buf = f.appendPlain(w.buf, w.known)
			} else if err := w.value(e); err != nil {
				return err
			}
			w.flush()
		}
		w.buf = append(w.buf, ']')
	default:
		w.buf, err = appendValue(w.buf, v)
	}
	if err != nil {
		return err
	}
	return w.err
}

// symFrame is a symbolicated frame: one function of a looked-up
// address's inline chain. It keeps its values typed, and the request's
// frame for the fields passed through, and writes its JSON only when the
// answer is written: a request of 30,000 addresses has a hundred thousand
// of them, and a list of boxed fields each made most of the garbage.
type symFrame struct {
	// src is the request's frame when the answer must keep it: it has
	// fields to pass through, or a trust not in trustNames. Otherwise nil,
	// and trust and adjust hold what the frame needs of it, so that the
	// request's frames are not kept as long as its answer.
	src *rawFrame
	// mod is what the frames of one module share (package, address
	// mode); path the cleaned source path, nil when unknown. Shared, so
	// that a frame is 112 bytes: a large answer is a hundred thousand
	// frames, fresh memory paid for in page faults and GC.
	mod              *frameModule
	path             *cleanedPath
	addr             uint64
	symAddr          uint64
	symbol, function string
	lang             string
	// context is the source around the line, nil without: few frames
	// have it, and every frame would carry its room.
	context    *frameContext
	line       int
	index      int32
	hasSymAddr bool
	trust      uint8 // index in trustNames
	adjust     uint8 // adjust_instruction_addr: 0 absent, 1 false, 2 true
}

// trustNames are the frame trusts a symbolicated frame keeps as a number.
var trustNames = [...]string{"none", "scan", "cfiscan", "fp", "cfi", "prewalked", "context"}

// setSource sets the frame's request frame.
func (f *symFrame) setSource(r *rawFrame) {
	f.src = nil
	if len(r.fields) > 0 {
		f.src = r
		return
	}
	switch r.Trust {
	case "none":
		f.trust = 0
	case "scan":
		f.trust = 1
	case "cfiscan":
		f.trust = 2
	case "fp":
		f.trust = 3
	case "cfi":
		f.trust = 4
	case "prewalked":
		f.trust = 5
	case "context":
		f.trust = 6
	default:
		f.src = r
		return
	}
	f.adjust = 0
	if r.Adjust != nil {
		f.adjust = 1
		if *r.Adjust {
			f.adjust = 2
		}
	}
}

// fields are the request frame's fields to pass through.
func (f *symFrame) fields() jsonObject {
	if f.src == nil {
		return nil
	}
	return f.src.fields
}

func (f *symFrame) trustName() string {
	if f.src != nil {
		return f.src.Trust
	}
	return trustNames[f.trust]
}

// adjustment returns the request frame's adjust_instruction_addr, nil
// when absent.
func (f *symFrame) adjustment() *bool {
	if f.src != nil {
		return f.src.Adjust
	}
	switch f.adjust {
	case 1:
		return &adjustFalse
	case 2:
		return &adjustTrue
	}
	return nil
}

// frameModule is what the symbolicated frames of one module share: its
// code file (the frames' package) and, for a module without an image
// address, the address mode their addresses are in.
type frameModule struct {
	pkg, addrMode string
}

func (f *symFrame) pkg() string {
	if f.mod == nil {
		return ""
	}
	return f.mod.pkg
}

func (f *symFrame) addrMode() string {
	if f.mod == nil {
		return ""
	}
	return f.mod.addrMode
}

// absPath and name are the cleaned source path and its file name, "" when
// unknown.
func (f *symFrame) absPath() string {
	if f.path == nil {
		return ""
	}
	return f.path.path
}

func (f *symFrame) name() string {
	if f.path == nil {
		return ""
	}
	return f.path.name
}

// frameContext is a frame's source context: the line and those around it.
type frameContext struct {
	pre, post []string
	line      string
}

// symFrameFields is how many fields a symFrame writes at most besides the
// request frame's own.
const symFrameFields = 20

func (f *symFrame) appendJSON(dst []byte) ([]byte, error) {
	if len(f.fields()) == 0 {
		return f.appendPlain(dst, nil), nil
	}
	return f.appendGeneral(dst)
}

// appendGeneral writes any symbolicated frame: its fields and the request
// frame's passed-through ones gathered and sorted.
func (f *symFrame) appendGeneral(dst []byte) ([]byte, error) {
	var arr [symFrameFields]frameField
	fs := arr[:0]
	add := func(x frameField) {
		if len(fs) < cap(fs) {
			fs = append(fs, x)
		}
	}
	var extra []frameField
	for k, v := range f.fields() {
		// Unknown fields pass through, and so do platform and function_id;
		// abs_path and filename when the debug file has no path.
		switch {
		case k == "platform", k == "function_id", !knownFrameFields[k],
			f.absPath() == "" && (k == "abs_path" || k == "filename"):
			extra = append(extra, frameField{key: k, kind: fieldAny, v: v})
		}
	}
	add(frameField{key: "status", s: frameSymbolicated})
	add(frameField{key: "original_index", kind: fieldInt, n: uint64(f.index)})
	add(frameField{key: "instruction_addr", kind: fieldHex, n: f.addr})
	if f.addrMode() != "" {
		add(frameField{key: "addr_mode", s: f.addrMode()})
	}
	if adj := f.adjustment(); adj != nil {
		add(frameField{key: "adjust_instruction_addr", kind: fieldAny, v: *adj})
	}
	if t := f.trustName(); t != "none" {
		add(frameField{key: "trust", s: t})
	}
	if f.pkg() != "" {
		add(frameField{key: "package", s: f.pkg()})
	}
	add(frameField{key: "symbol", s: f.symbol})
	add(frameField{key: "function", s: f.function})
	if f.absPath() != "" {
		add(frameField{key: "abs_path", s: f.absPath()})
		if f.name() != "" {
			add(frameField{key: "filename", s: f.name()})
		}
	}
	add(frameField{key: "lineno", kind: fieldInt, n: uint64(f.line)})
	if c := f.context; c != nil {
		add(frameField{key: "pre_context", kind: fieldAny, v: c.pre})
		add(frameField{key: "context_line", s: c.line})
		add(frameField{key: "post_context", kind: fieldAny, v: c.post})
	}
	if f.lang != "" {
		add(frameField{key: "lang", s: f.lang})
	}
	if f.hasSymAddr {
		add(frameField{key: "sym_addr", kind: fieldHex, n: f.symAddr})
	}
	// The frame's own fields win over passed-through ones of the same
	// name, as when the map was filled in that order.
	for _, x := range extra {
		if !slices.ContainsFunc(fs, func(y frameField) bool { return y.key == x.key }) {
			fs = append(fs, x)
		}
	}
	return appendFields(dst, fs)
}

// setContext implements contextFrame.
func (f *symFrame) setContext(pre []string, line string, post []string) {
	f.context = &frameContext{pre: pre, line: line, post: post}
}
