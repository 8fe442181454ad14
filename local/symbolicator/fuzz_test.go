package symbolicator

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzSymbolicateRequest feeds arbitrary bodies to the request decoder and,
// when one decodes, runs it through the engine (without sources, so no
// I/O). Neither may panic; decoding errors must be RequestErrors naming a
// field, or JSON syntax errors.
func FuzzSymbolicateRequest(f *testing.F) {
	seeds := []string{
		`{}`,
		`null`,
		`[]`,
		`{"stacktraces":[{"frames":[{"instruction_addr":"0x1010"}]}],"modules":[{"type":"elf","image_addr":"0x1000","image_size":4096}]}`,
		`{"signal":11,"stacktraces":[{"registers":{"rip":"0x1010"},"frames":[{"instruction_addr":4112,"addr_mode":"rel:0","adjust_instruction_addr":false}]}],"modules":[{"type":"macho","debug_id":"67e9247c-814e-392b-a027-dbde6748fcbf","image_addr":"0x0"}]}`,
		`{"stacktraces":[{"frames":[{"instruction_addr":"0xffffffffffffffff","addr_mode":"rel:99"}]}],"modules":[{"type":"elf","image_addr":"0xfffffffffffff000"},{"type":"pe","image_addr":"0x1"}]}`,
		`{"sources":[{"type":"s3","id":"a","bucket":"b","region":["r","http://127.0.0.1:9000"],"layout":{"type":"unified","casing":"uppercase"},"filters":{"filetypes":["elf_code"],"path_patterns":["*[!a-c]?*"]}}]}`,
		`{"sources":[{"type":"sentry","id":"s","url":"http://x/","token":"t"}],"options":{"dif_candidates":true,"frame_order":"caller_first"}}`,
		`{"stacktraces":[{"frames":[{"instruction_addr":"0x10","trust":"scan","function":"_ZN3foo3barEv"}]}]}`,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	svc := New(Config{Logger: discardLogger()})
	f.Cleanup(svc.Close)
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := decodeSymbolicateRequest(body)
		if err != nil {
			var re *requestError
			if errors.As(err, &re) && re.Error() == "" {
				t.Fatalf("empty request error for %q", body)
			}
			return
		}
		req.Sources = nil
		out := svc.symbolicate(context.Background(), req)
		if _, err := json.Marshal(out); err != nil {
			t.Fatalf("response does not encode: %v", err)
		}
		if out["status"] != "completed" {
			t.Fatalf("status = %v", out["status"])
		}
	})
}

// FuzzLocations feeds arbitrary identifiers and path patterns to every
// layout: nothing may panic, and every location must stay inside the
// source root once joined to it.
func FuzzLocations(f *testing.F) {
	f.Add("dfb85de42daffd09640c8fe377d572de3e168920", "/lib/libm.so", "e45db8df-af2d-09fd-640c-8fe377d572de", "*libm*")
	f.Add("../../etc", `C:\..\..`, "", "[!")
	f.Add("ab", "..", "67e9247c814e392ba027dbde6748fcbf", "**/x?[a-z]")
	f.Fuzz(func(t *testing.T, codeID, codeFile, debugID, pattern string) {
		id := objectID{Type: "elf", CodeID: normalizeCodeID(codeID), CodeFile: codeFile, DebugFile: codeFile}
		if d, ok := parseDebugID(debugID); ok {
			id.DebugID = d.String()
		}
		var flt filters
		if re, err := compileGlob(pattern); err == nil {
			flt.PathPatterns = append(flt.PathPatterns, re)
		}
		for lt := range layoutTypes {
			for _, casing := range []string{"default", "lowercase", "uppercase"} {
				for _, objType := range []string{"elf", "macho"} {
					id.Type = objType
					for _, loc := range (layout{Type: lt, Casing: casing}).locations(id, flt, fileTypesFor(objType)) {
						root := "/srv/symbols"
						if p := filepath.Join(root, loc); !strings.HasPrefix(p, root+"/") {
							t.Fatalf("layout %s: location %q leaves the root (%s)", lt, loc, p)
						}
					}
				}
			}
		}
	})
}
