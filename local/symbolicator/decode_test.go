package symbolicator

import (
	"errors"
	"testing"
)

func TestDecodeAddressForms(t *testing.T) {
	body := `{
		"signal": 6,
		"stacktraces": [{
			"registers": {"rip": 4096, "rsp": "0x7ffe0000", "rbp": null},
			"frames": [
				{"instruction_addr": "0x1010"},
				{"instruction_addr": 4112, "addr_mode": "abs"},
				{"instruction_addr": "4112", "addr_mode": "rel:2", "adjust_instruction_addr": true},
				{"instruction_addr": "0X1A", "trust": "scan", "sym_addr": 16, "in_app": true}
			]
		}],
		"modules": [{"type": "ELF", "image_addr": 4096, "image_size": 8192, "code_id": "ABCDEF", "debug_id": "C18B43E5A21FBC8707113BF5B42431FB0"}]
	}`
	req, err := decodeSymbolicateRequest([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if req.Signal == nil || *req.Signal != 6 {
		t.Errorf("signal = %v", req.Signal)
	}
	st := req.Stacktraces[0]
	if st.Registers["rip"] != 4096 || st.Registers["rsp"] != 0x7ffe0000 || len(st.Registers) != 2 {
		t.Errorf("registers = %v", st.Registers)
	}
	want := []struct {
		addr uint64
		mode string
	}{{0x1010, "abs"}, {4112, "abs"}, {4112, "rel:2"}, {0x1a, "abs"}}
	for i, w := range want {
		f := st.Frames[i]
		if f.Addr != w.addr || f.Mode.String() != w.mode {
			t.Errorf("frames[%d] = %#x %s, want %#x %s", i, f.Addr, f.Mode, w.addr, w.mode)
		}
	}
	if st.Frames[2].Adjust == nil || !*st.Frames[2].Adjust {
		t.Error("adjust_instruction_addr lost")
	}
	if st.Frames[3].Trust != "scan" || string(st.Frames[3].fields["sym_addr"]) != `"0x10"` {
		t.Errorf("frame 3 = %+v", st.Frames[3])
	}
	m := req.Modules[0]
	// Unknown module types become "unknown" like Symbolicator's ObjectType;
	// ids are normalized.
	if m.Type != "unknown" || m.ImageAddr != 4096 || m.ImageSize != 8192 || m.CodeID != "abcdef" || m.DebugID != "c18b43e5-a21f-bc87-0711-3bf5b42431fb" {
		t.Errorf("module = %+v", m)
	}
	if !req.Options.ApplySourceContext || req.Options.DifCandidates {
		t.Errorf("default options = %+v", req.Options)
	}
}

func TestDecodeErrorsAreRequestErrors(t *testing.T) {
	for _, body := range []string{`{"stacktraces":[{"frames":[{"instruction_addr":"-1"}]}]}`, `{"modules":[1]}`, `"x"`} {
		_, err := decodeSymbolicateRequest([]byte(body))
		var re *requestError
		if !errors.As(err, &re) {
			t.Errorf("%s: error %v is not a requestError", body, err)
		}
	}
	if _, err := decodeSymbolicateRequest([]byte(`{`)); err == nil {
		t.Error("a syntax error must fail")
	} else if errors.As(err, new(*requestError)) {
		t.Error("a syntax error is not a shape error")
	}
}
