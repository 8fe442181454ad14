package symbolicator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// requestError reports a request body that is valid JSON but does not have
// the shape the API expects. Field is a path into the body such as
// "stacktraces[0].frames[2].instruction_addr".
type requestError struct {
	Field  string
	Reason string
}

func (e *requestError) Error() string {
	if e.Field == "" {
		return e.Reason
	}
	return e.Field + ": " + e.Reason
}

func fieldErr(path, format string, args ...any) error {
	return &requestError{Field: path, Reason: fmt.Sprintf(format, args...)}
}

// jsonObject is a decoded JSON object whose values are decoded lazily, so
// that errors can name the exact field and unknown fields can be carried
// through to the response.
type jsonObject map[string]json.RawMessage

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func index(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

func isNull(raw json.RawMessage) bool {
	return len(raw) == 0 || bytes.Equal(bytes.TrimSpace(raw), []byte("null"))
}

func decodeObject(raw json.RawMessage, path string) (jsonObject, error) {
	if isNull(raw) {
		return nil, fieldErr(path, "expected an object, got null")
	}
	var o jsonObject
	if err := json.Unmarshal(raw, &o); err != nil || o == nil {
		return nil, fieldErr(path, "expected an object, got %s", jsonKind(raw))
	}
	return o, nil
}

func decodeArray(raw json.RawMessage, path string) ([]json.RawMessage, error) {
	var a []json.RawMessage
	if isNull(raw) {
		return nil, nil
	}
	if err := json.Unmarshal(raw, &a); err != nil {
		return nil, fieldErr(path, "expected an array, got %s", jsonKind(raw))
	}
	return a, nil
}

func jsonKind(raw json.RawMessage) string {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 {
		return "nothing"
	}
	switch t[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	default:
		return "a number"
	}
}

// has reports whether the object has key with a non-null value.
func (o jsonObject) has(key string) bool {
	raw, ok := o[key]
	return ok && !isNull(raw)
}

func (o jsonObject) str(key, path string) (string, bool, error) {
	raw, ok := o[key]
	if !ok || isNull(raw) {
		return "", false, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false, fieldErr(join(path, key), "expected a string, got %s", jsonKind(raw))
	}
	return s, true, nil
}

func (o jsonObject) requiredStr(key, path string) (string, error) {
	s, ok, err := o.str(key, path)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", fieldErr(join(path, key), "missing field")
	}
	return s, nil
}

func (o jsonObject) boolean(key, path string) (bool, bool, error) {
	raw, ok := o[key]
	if !ok || isNull(raw) {
		return false, false, nil
	}
	var b bool
	if err := json.Unmarshal(raw, &b); err != nil {
		return false, false, fieldErr(join(path, key), "expected a boolean, got %s", jsonKind(raw))
	}
	return b, true, nil
}

func (o jsonObject) uint(key, path string, max uint64) (uint64, bool, error) {
	raw, ok := o[key]
	if !ok || isNull(raw) {
		return 0, false, nil
	}
	v, err := parseUintJSON(raw, max)
	if err != nil {
		return 0, false, fieldErr(join(path, key), "%v", err)
	}
	return v, true, nil
}

func parseUintJSON(raw json.RawMessage, max uint64) (uint64, error) {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || (t[0] != '-' && (t[0] < '0' || t[0] > '9')) {
		return 0, fmt.Errorf("expected a non-negative integer, got %s", jsonKind(raw))
	}
	v, err := strconv.ParseUint(string(t), 10, 64)
	if err != nil || v > max {
		return 0, fmt.Errorf("expected a non-negative integer up to %d, got %s", max, truncate(string(t), 40))
	}
	return v, nil
}

func (o jsonObject) hex(key, path string) (uint64, bool, error) {
	raw, ok := o[key]
	if !ok || isNull(raw) {
		return 0, false, nil
	}
	v, err := parseHexJSON(raw)
	if err != nil {
		return 0, false, fieldErr(join(path, key), "%v", err)
	}
	return v, true, nil
}

// parseHexJSON reads an address the way Symbolicator's HexValue does: a
// string "0x…" in hex, a decimal string, or a JSON number.
func parseHexJSON(raw json.RawMessage) (uint64, error) {
	t := bytes.TrimSpace(raw)
	if len(t) > 0 && t[0] == '"' {
		var s string
		if err := json.Unmarshal(t, &s); err != nil {
			return 0, fmt.Errorf("expected a hex string or number")
		}
		return parseHexString(s)
	}
	v, err := parseUintJSON(raw, math.MaxUint64)
	if err != nil {
		return 0, fmt.Errorf("expected a hex string or number, got %s", jsonKind(raw))
	}
	return v, nil
}

func parseHexString(s string) (uint64, error) {
	if h, ok := strings.CutPrefix(s, "0x"); ok {
		return parseHexDigits(s, h)
	}
	if h, ok := strings.CutPrefix(s, "0X"); ok {
		return parseHexDigits(s, h)
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("invalid address %q: expected \"0x\" and hex digits, or a decimal number", truncate(s, 40))
	}
	return v, nil
}

func parseHexDigits(s, h string) (uint64, error) {
	v, err := strconv.ParseUint(h, 16, 64)
	if err != nil {
		return 0, fmt.Errorf("invalid hex address %q", truncate(s, 40))
	}
	return v, nil
}

func formatHex(v uint64) string { return "0x" + strconv.FormatUint(v, 16) }

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// addrMode says what a frame's instruction_addr is relative to: the shared
// absolute address space, or module Index of the request.
type addrMode struct {
	Rel   bool
	Index int
}

func (m addrMode) String() string {
	if !m.Rel {
		return "abs"
	}
	return "rel:" + strconv.Itoa(m.Index)
}

func parseAddrMode(s string) (addrMode, error) {
	if s == "abs" {
		return addrMode{}, nil
	}
	kind, idx, ok := strings.Cut(s, ":")
	if ok && kind == "rel" {
		n, err := strconv.ParseUint(idx, 10, 31)
		if err == nil {
			return addrMode{Rel: true, Index: int(n)}, nil
		}
	}
	return addrMode{}, fmt.Errorf("invalid address mode %q: expected \"abs\" or \"rel:<module index>\"", truncate(s, 40))
}

// symbolicateRequest is the decoded body of POST /symbolicate.
type symbolicateRequest struct {
	Signal      *uint32
	Sources     []*source
	Stacktraces []*rawStacktrace
	Modules     []*rawModule
	Options     requestOptions
}

type requestOptions struct {
	DifCandidates      bool
	ApplySourceContext bool
	CallerFirst        bool
}

type rawStacktrace struct {
	Registers map[string]uint64
	Frames    []*rawFrame
	// fields holds everything else the client sent (thread_id, thread_name,
	// is_requesting, unknown fields); it is echoed back.
	fields jsonObject
}

type rawFrame struct {
	Addr     uint64
	Mode     addrMode
	Adjust   *bool
	Function string
	Symbol   string
	Trust    string
	// fields is the frame as sent, minus the fields parsed above.
	fields jsonObject
}

type rawModule struct {
	Type          string
	CodeID        string // normalized; "" when absent or invalid
	DebugID       string // normalized; "" when absent or invalid
	CodeFile      string
	DebugFile     string
	ImageAddr     uint64
	ImageSize     uint64
	HasImageSize  bool
	DebugChecksum string
	fields        jsonObject
}

// decodeSymbolicateRequest parses and validates a /symbolicate body. A
// *requestError names the offending field; any other error is a JSON syntax
// error. The request's passed-through values may alias body, which must not
// change afterwards.
//
// Bodies are read by decodeFast when they are valid; any body it does not
// take (an error anywhere, or a shape it leaves to the general decoder) is
// decoded again by decodeGeneral, which alone writes errors: the two agree
// on every body they both accept (fast_decode_test.go).
func decodeSymbolicateRequest(body []byte) (*symbolicateRequest, error) {
	if req, ok := decodeFast(body); ok {
		return req, nil
	}
	return decodeGeneral(body)
}

// decodeGeneral decodes a body as decodeSymbolicateRequest does, through
// encoding/json: a map per object, so that errors can name any field.
func decodeGeneral(body []byte) (*symbolicateRequest, error) {
	var top jsonObject
	if err := json.Unmarshal(body, &top); err != nil {
		var syn *json.SyntaxError
		if asSyntax(err, &syn) {
			return nil, fmt.Errorf("invalid JSON at offset %d: %w", syn.Offset, err)
		}
		return nil, &requestError{Reason: "expected a JSON object, got " + jsonKind(body)}
	}
	if top == nil {
		return nil, &requestError{Reason: "expected a JSON object, got null"}
	}
	req, err := decodeCommon(top)
	if err != nil {
		return nil, err
	}
	if sig, ok, err := top.uint("signal", "", math.MaxUint32); err != nil {
		return nil, err
	} else if ok {
		s := uint32(sig)
		req.Signal = &s
	}

	traces, err := decodeArray(top["stacktraces"], "stacktraces")
	if err != nil {
		return nil, err
	}
	for i, raw := range traces {
		st, err := decodeStacktrace(raw, index("stacktraces", i))
		if err != nil {
			return nil, err
		}
		req.Stacktraces = append(req.Stacktraces, st)
	}

	mods, err := decodeArray(top["modules"], "modules")
	if err != nil {
		return nil, err
	}
	for i, raw := range mods {
		m, err := decodeModule(raw, index("modules", i))
		if err != nil {
			return nil, err
		}
		req.Modules = append(req.Modules, m)
	}

	return req, nil
}

// decodeCommon decodes what every request kind carries: platform,
// options, sources and scraping. /symbolicate sends them in its JSON body;
// /minidump and /applecrashreport as multipart fields of JSON text, which
// the caller gathers into top.
func decodeCommon(top jsonObject) (*symbolicateRequest, error) {
	req := &symbolicateRequest{Options: requestOptions{ApplySourceContext: true}}

	if _, _, err := top.str("platform", ""); err != nil {
		return nil, err
	}
	if top.has("options") {
		o, err := decodeObject(top["options"], "options")
		if err != nil {
			return nil, err
		}
		if v, ok, err := o.boolean("dif_candidates", "options"); err != nil {
			return nil, err
		} else if ok {
			req.Options.DifCandidates = v
		}
		if v, ok, err := o.boolean("apply_source_context", "options"); err != nil {
			return nil, err
		} else if ok {
			req.Options.ApplySourceContext = v
		}
		if v, ok, err := o.str("frame_order", "options"); err != nil {
			return nil, err
		} else if ok {
			switch v {
			case "callee_first":
			case "caller_first":
				req.Options.CallerFirst = true
			default:
				return nil, fieldErr("options.frame_order", "unknown frame order %q: expected callee_first or caller_first", truncate(v, 40))
			}
		}
		if _, _, err := o.boolean("extract_variables", "options"); err != nil {
			return nil, err
		}
	}

	sources, err := decodeArray(top["sources"], "sources")
	if err != nil {
		return nil, err
	}
	ids := map[string]bool{}
	for i, raw := range sources {
		src, err := decodeSource(raw, index("sources", i))
		if err != nil {
			return nil, err
		}
		if ids[src.ID] {
			return nil, fieldErr(index("sources", i)+".id", "duplicate source id %q", truncate(src.ID, 60))
		}
		ids[src.ID] = true
		req.Sources = append(req.Sources, src)
	}

	if top.has("scraping") {
		if _, err := decodeObject(top["scraping"], "scraping"); err != nil {
			return nil, err
		}
	}
	return req, nil
}

func asSyntax(err error, target **json.SyntaxError) bool {
	s, ok := err.(*json.SyntaxError)
	if ok {
		*target = s
	}
	return ok
}

func decodeStacktrace(raw json.RawMessage, path string) (*rawStacktrace, error) {
	o, err := decodeObject(raw, path)
	if err != nil {
		return nil, err
	}
	st := &rawStacktrace{fields: jsonObject{}}
	if err := decodeStacktraceFields(st, o, path); err != nil {
		return nil, err
	}
	if !o.has("frames") {
		if _, ok := o["frames"]; !ok {
			return nil, fieldErr(join(path, "frames"), "missing field")
		}
	}
	frames, err := decodeArray(o["frames"], join(path, "frames"))
	if err != nil {
		return nil, err
	}
	for i, fr := range frames {
		f, err := decodeFrame(fr, index(join(path, "frames"), i))
		if err != nil {
			return nil, err
		}
		st.Frames = append(st.Frames, f)
	}
	return st, nil
}

// decodeStacktraceFields checks and keeps a stack trace's fields but its
// frames.
func decodeStacktraceFields(st *rawStacktrace, o jsonObject, path string) error {
	if _, _, err := o.uint("thread_id", path, math.MaxUint64); err != nil {
		return err
	}
	if _, _, err := o.str("thread_name", path); err != nil {
		return err
	}
	if _, _, err := o.boolean("is_requesting", path); err != nil {
		return err
	}
	if o.has("registers") {
		regs, err := decodeObject(o["registers"], join(path, "registers"))
		if err != nil {
			return err
		}
		st.Registers = make(map[string]uint64, len(regs))
		for name := range regs {
			v, _, err := regs.hex(name, join(path, "registers"))
			if err != nil {
				return err
			}
			if regs.has(name) {
				st.Registers[name] = v
			}
		}
	}
	for k, v := range o {
		switch k {
		case "registers", "frames":
		default:
			if !isNull(v) {
				st.fields[k] = v
			}
		}
	}
	return nil
}

// knownFrameFields are the frame fields Symbolicator itself understands;
// everything else is passed through unchanged.
var knownFrameFields = map[string]bool{
	"platform": true, "addr_mode": true, "instruction_addr": true,
	"adjust_instruction_addr": true, "function_id": true, "package": true,
	"lang": true, "symbol": true, "sym_addr": true, "function": true,
	"filename": true, "abs_path": true, "lineno": true, "pre_context": true,
	"context_line": true, "post_context": true, "source_link": true,
	"trust": true, "in_app": true, "vars": true, "registers": true,
}

var frameTrusts = map[string]bool{
	"none": true, "scan": true, "cfiscan": true, "fp": true, "cfi": true,
	"prewalked": true, "context": true,
}

func decodeFrame(raw json.RawMessage, path string) (*rawFrame, error) {
	o, err := decodeObject(raw, path)
	if err != nil {
		return nil, err
	}
	f := &rawFrame{}
	if err := decodeFrameFields(f, o, path); err != nil {
		return nil, err
	}
	return f, nil
}

// decodeFrameFields decodes the frame object o into f.
func decodeFrameFields(f *rawFrame, o jsonObject, path string) error {
	f.fields, f.Trust = jsonObject{}, "none"
	var err error
	addr, ok, err := o.hex("instruction_addr", path)
	if err != nil {
		return err
	}
	if !ok {
		return fieldErr(join(path, "instruction_addr"), "missing field")
	}
	f.Addr = addr
	if s, ok, err := o.str("addr_mode", path); err != nil {
		return err
	} else if ok {
		m, err := parseAddrMode(s)
		if err != nil {
			return fieldErr(join(path, "addr_mode"), "%v", err)
		}
		f.Mode = m
	}
	if b, ok, err := o.boolean("adjust_instruction_addr", path); err != nil {
		return err
	} else if ok {
		f.Adjust = &b
	}
	if f.Function, _, err = o.str("function", path); err != nil {
		return err
	}
	if f.Symbol, _, err = o.str("symbol", path); err != nil {
		return err
	}
	if s, ok, err := o.str("trust", path); err != nil {
		return err
	} else if ok {
		if !frameTrusts[s] {
			return fieldErr(join(path, "trust"), "unknown frame trust %q", truncate(s, 40))
		}
		f.Trust = s
	}
	for _, k := range []string{"platform", "package", "lang", "filename", "abs_path", "context_line", "source_link"} {
		if _, _, err := o.str(k, path); err != nil {
			return err
		}
	}
	for _, k := range []string{"function_id", "sym_addr"} {
		if v, ok, err := o.hex(k, path); err != nil {
			return err
		} else if ok {
			// Normalize to Symbolicator's "0x…" spelling.
			o[k], _ = json.Marshal(formatHex(v))
		}
	}
	if _, _, err := o.uint("lineno", path, math.MaxUint32); err != nil {
		return err
	}
	if _, _, err := o.boolean("in_app", path); err != nil {
		return err
	}
	for _, k := range []string{"pre_context", "post_context"} {
		if o.has(k) {
			var lines []string
			if err := json.Unmarshal(o[k], &lines); err != nil {
				return fieldErr(join(path, k), "expected an array of strings")
			}
		}
	}
	for k, v := range o {
		switch k {
		case "instruction_addr", "addr_mode", "adjust_instruction_addr", "function", "symbol", "trust":
		default:
			if !isNull(v) {
				f.fields[k] = v
			}
		}
	}
	return nil
}

func decodeModule(raw json.RawMessage, path string) (*rawModule, error) {
	o, err := decodeObject(raw, path)
	if err != nil {
		return nil, err
	}
	m := &rawModule{fields: jsonObject{}}
	if m.Type, err = o.requiredStr("type", path); err != nil {
		return nil, err
	}
	m.Type = normalizeObjectType(m.Type)
	codeID, _, err := o.str("code_id", path)
	if err != nil {
		return nil, err
	}
	m.CodeID = normalizeCodeID(codeID)
	debugID, _, err := o.str("debug_id", path)
	if err != nil {
		return nil, err
	}
	m.DebugID = normalizeDebugID(debugID)
	if m.CodeFile, _, err = o.str("code_file", path); err != nil {
		return nil, err
	}
	if m.DebugFile, _, err = o.str("debug_file", path); err != nil {
		return nil, err
	}
	if m.DebugChecksum, _, err = o.str("debug_checksum", path); err != nil {
		return nil, err
	}
	if m.ImageAddr, _, err = o.hex("image_addr", path); err != nil {
		return nil, err
	}
	if m.ImageSize, m.HasImageSize, err = o.uint("image_size", path, math.MaxUint64); err != nil {
		return nil, err
	}
	for k, v := range o {
		switch k {
		case "type", "code_id", "debug_id", "code_file", "debug_file", "debug_checksum", "image_addr", "image_size":
		default:
			if !isNull(v) {
				m.fields[k] = v
			}
		}
	}
	return m, nil
}

// normalizeObjectType maps the module type to Symbolicator's ObjectType
// spelling; unknown types become "unknown" as they do there.
func normalizeObjectType(t string) string {
	switch t {
	case "elf", "macho", "pe", "pe_dotnet", "wasm":
		return t
	default:
		return "unknown"
	}
}

// normalizeDebugID writes a debug id as symbolic's DebugId displays it,
// "" when it is not one.
func normalizeDebugID(s string) string {
	if d, ok := parseDebugID(s); ok {
		return d.String()
	}
	return ""
}

// normalizeCodeID lowercases a code id the way symbolic's CodeId does.
func normalizeCodeID(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" {
		return ""
	}
	for _, r := range s {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f' || r == '-') {
			return ""
		}
	}
	return s
}

// debugID is a UUID plus an appendix (the PDB age), as in symbolic.
type debugID struct {
	UUID     [16]byte
	Appendix uint32
}

func (d debugID) String() string {
	h := fmt.Sprintf("%x", d.UUID[:])
	s := h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
	if d.Appendix != 0 {
		s += "-" + strconv.FormatUint(uint64(d.Appendix), 16)
	}
	return s
}

// simple is the UUID as 32 lowercase hex digits.
func (d debugID) simple() string { return fmt.Sprintf("%x", d.UUID[:]) }

// parseDebugID accepts the hyphenated form ("c18b43e5-a21f-bc87-0711-3bf5b42431fb",
// optionally followed by "-<appendix hex>") and the compact breakpad form
// (32 hex digits plus an optional appendix).
func parseDebugID(s string) (debugID, bool) {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(strings.TrimSuffix(s, "}"), "{")
	var d debugID
	var hexPart, appendix string
	if len(s) >= 36 && s[8] == '-' && s[13] == '-' && s[18] == '-' && s[23] == '-' {
		hexPart = s[0:8] + s[9:13] + s[14:18] + s[19:23] + s[24:36]
		rest := s[36:]
		if rest != "" {
			if rest[0] != '-' && rest[0] != '.' {
				return d, false
			}
			appendix = rest[1:]
		}
	} else if len(s) >= 32 {
		hexPart, appendix = s[:32], s[32:]
	} else {
		return d, false
	}
	for i := 0; i < 16; i++ {
		b, err := strconv.ParseUint(hexPart[2*i:2*i+2], 16, 8)
		if err != nil {
			return d, false
		}
		d.UUID[i] = byte(b)
	}
	if appendix != "" {
		a, err := strconv.ParseUint(appendix, 16, 32)
		if err != nil {
			return d, false
		}
		d.Appendix = uint32(a)
	}
	return d, true
}

// sortedKeys returns the keys of m in order, for deterministic output.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
