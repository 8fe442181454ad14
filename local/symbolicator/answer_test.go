package symbolicator

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
)

// TestAnswerEncoding checks that an answer with frames reads back as the
// same value encoding/json makes of it, with keys in encoding/json's
// order.
func TestAnswerEncoding(t *testing.T) {
	fr := newFrame(4)
	fr.setString("status", "symbolicated")
	fr.setInt("original_index", 3)
	fr.setHex("instruction_addr", 0x7f0000001234)
	fr.setString("function", "ns::f<std::pair<int, int> >(int)")
	fr.set("raw", json.RawMessage(`{"a": "x<y", "b": [1, 2]}`))
	fr.set("pre_context", []string{"a", "b"})
	fr.setInt("lineno", 0)
	fr.setString("package", "gone")
	fr.del("package")
	fr.setInt("lineno", 42) // replaces
	answer := map[string]any{
		"status":      "completed",
		"stacktraces": []any{map[string]any{"frames": []any{fr}, "thread_id": json.RawMessage(`7`)}},
		"modules":     []any{map[string]any{"image_size": uint64(4096), "features": struct{ A bool }{true}}},
		"signal":      uint32(11),
	}
	got := marshalResponse(answer)
	want := map[string]any{
		"status": "completed",
		"stacktraces": []any{map[string]any{"frames": []any{map[string]any{
			"status": "symbolicated", "original_index": 3, "instruction_addr": "0x7f0000001234",
			"function": "ns::f<std::pair<int, int> >(int)", "raw": map[string]any{"b": []any{1, 2}, "a": "x<y"},
			"pre_context": []string{"a", "b"}, "lineno": 42,
		}}, "thread_id": 7}},
		"modules": []any{map[string]any{"image_size": 4096, "features": map[string]any{"A": true}}},
		"signal":  11,
	}
	wantJSON, _ := json.Marshal(want)
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("answer is not JSON: %v\n%s", err, got)
	}
	json.Unmarshal(wantJSON, &w)
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("answer\n%s\nwant the value of\n%s", got, wantJSON)
	}
	// Keys sorted as encoding/json sorts a map's, at every level.
	var canon bytes.Buffer
	enc := json.NewEncoder(&canon)
	enc.SetEscapeHTML(false)
	enc.Encode(g)
	if !bytes.Equal(got, bytes.TrimSuffix(canon.Bytes(), []byte("\n"))) {
		t.Errorf("answer\n%s\nis not in encoding/json's key order\n%s", got, canon.Bytes())
	}
	if fr.str("function") != "ns::f<std::pair<int, int> >(int)" || fr.integer("lineno") != 42 || fr.str("package") != "" {
		t.Errorf("frame fields read back as %q, %d, %q", fr.str("function"), fr.integer("lineno"), fr.str("package"))
	}
}

// TestWriteAnswerConcurrently writes one answer to several pollers at
// once, as when a request is polled twice: the writes must not disturb
// each other (go test -race) and must give the same bytes, cut into
// pieces or not.
func TestWriteAnswerConcurrently(t *testing.T) {
	raw := &rawFrame{Trust: "cfi", fields: jsonObject{"thread_hint": json.RawMessage(`"x"`)}}
	plain := &rawFrame{Trust: "none"}
	var frames []any
	for i := range 5000 {
		fr := newFrame(4)
		fr.setString("status", "missing")
		fr.setInt("original_index", i)
		fr.setHex("instruction_addr", uint64(0x1000+i))
		path := &cleanedPath{path: "/src/a.cc", name: "a.cc"}
		frames = append(frames, fr, &symFrame{src: raw, index: int32(i), addr: uint64(0x2000 + i), symbol: "_Z1fv", function: "f()",
			path: path, line: i, lang: "cpp", symAddr: 0x2000, hasSymAddr: true},
			// Without fields of its own: written by appendPlain.
			&symFrame{src: plain, index: int32(i), addr: uint64(0x3000 + i), symbol: "_ZN2ns4longEv", function: "ns::long()",
				path: path, line: i, mod: &frameModule{pkg: "/usr/lib/libfoo.so"}})
	}
	answer := map[string]any{"status": "completed", "stacktraces": []any{map[string]any{"frames": frames}}}
	want := marshalResponse(answer)
	got := make([]bytes.Buffer, 4)
	done := make(chan error, len(got))
	for i := range got {
		go func() { done <- writeAnswer(&got[i], answer) }()
	}
	for range got {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	for i := range got {
		if !bytes.Equal(got[i].Bytes(), want) {
			t.Fatalf("writer %d wrote %d bytes differing from the answer's %d", i, got[i].Len(), len(want))
		}
	}
	if !json.Valid(want) || len(want) < 2*answerChunk {
		t.Fatalf("answer of %d bytes: want valid JSON of several pieces", len(want))
	}
}
