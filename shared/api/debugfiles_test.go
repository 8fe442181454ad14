package api_test

import (
	"debug/elf"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/symflow/symflow/shared/api"
	"github.com/symflow/symflow/shared/debugfile"
	"github.com/symflow/symflow/shared/debugfile/debugfiletest"
)

// TestDebugFileBombRefused: a debug file whose compressed sections claim
// more than the decompression bound, or inflate past their claims, is
// refused at upload with a 422 naming the section, and nothing is
// written.
func TestDebugFileBombRefused(t *testing.T) {
	e := newEnv(t)
	crashy, err := os.ReadFile(filepath.Join(root, "events/debug-files/crashy"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		section debugfiletest.Section
		want    string
	}{
		{"zstd section claiming 1 GiB", debugfiletest.Section{Name: ".debug_info", Codec: elf.COMPRESS_ZSTD, Zeros: 1 << 30},
			"debug file: section .debug_info claims 1073741824 bytes decompressed, over the bound of "},
		{"zlib stream past its claim", debugfiletest.Section{Name: ".debug_line", Codec: elf.COMPRESS_ZLIB, Zeros: 1 << 20, Claim: 4096},
			"debug file: section .debug_line inflates past the 4096 bytes its header claims"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bomb, err := debugfiletest.Rewrite(crashy, tc.section)
			if err != nil {
				t.Fatal(err)
			}
			want := tc.want
			if strings.HasSuffix(want, "over the bound of ") {
				// The default bound, the one the embedded Symbolicator
				// applies.
				want += strconv.FormatInt(debugfile.InflateLimits{}.Bound(int64(len(bomb))), 10) + " bytes"
			}
			before := e.snapshot()
			up := event(t, http.MethodPost, "/v1/projects/42/debug-files", base64.StdEncoding.EncodeToString(bomb))
			up.IsBase64Encoded = true
			up.Headers["content-type"] = "application/octet-stream"
			resp := e.send(up)
			if resp.StatusCode != http.StatusUnprocessableEntity {
				t.Fatalf("upload: %d %s", resp.StatusCode, resp.Body)
			}
			b := decode[errorBody](t, resp)
			if b.Error.Code != api.CodeDecompressionBound || !strings.HasPrefix(b.Error.Message, want) {
				t.Errorf("refused with %+v, want code %s and message %q…", b.Error, api.CodeDecompressionBound, want)
			}
			if after := e.snapshot(); !reflect.DeepEqual(before, after) {
				t.Errorf("the refused upload wrote something:\nbefore %+v\nafter  %+v", before, after)
			}
		})
	}
}

// TestPresignOddCodeID: a presign request whose code_id has an odd
// number of hex digits (no whole bytes) is a 400 naming the field, not a
// 500, and writes nothing.
func TestPresignOddCodeID(t *testing.T) {
	e := newEnv(t)
	data, err := os.ReadFile(filepath.Join(root, "events/api/presign-debug-file.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, code := range []string{"7b0672f0346e9b1e7f306a8aa55e53b6b67611e", "abc", "a"} {
		var ev events.APIGatewayV2HTTPRequest
		if err := json.Unmarshal(data, &ev); err != nil {
			t.Fatal(err)
		}
		var body map[string]any
		if err := json.Unmarshal([]byte(ev.Body), &body); err != nil {
			t.Fatal(err)
		}
		body["code_id"] = code
		b, _ := json.Marshal(body)
		ev.Body = string(b)
		before := e.snapshot()
		resp := e.send(ev)
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("code_id %q: %d %s", code, resp.StatusCode, resp.Body)
		}
		if eb := decode[errorBody](t, resp); eb.Error.Field != "code_id" || eb.Error.Code != api.CodeInvalidField || !strings.HasPrefix(eb.Error.Message, "code_id: ") {
			t.Errorf("code_id %q refused with %+v", code, eb.Error)
		}
		if after := e.snapshot(); !reflect.DeepEqual(before, after) {
			t.Errorf("code_id %q: the refused request wrote something", code)
		}
	}
}

// TestWindowsAndWasmDebugFiles: a PE image, its PDB and a wasm module are
// stored under the unified-layout keys Symbolicator looks them up by
// (the PE and PDB under the PDB's debug id in Breakpad form, the wasm
// module under its build id); a malformed one is a 422 naming the broken
// part and writes nothing; presigned uploads accept these formats and
// refuse an identity that cannot name the file with a 400 naming the
// field.
func TestWindowsAndWasmDebugFiles(t *testing.T) {
	e := newEnv(t)
	fixture := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(root, "shared/debugfile/testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	upload := func(data []byte) events.APIGatewayV2HTTPResponse {
		ev := event(t, http.MethodPost, "/v1/projects/42/debug-files", base64.StdEncoding.EncodeToString(data))
		ev.IsBase64Encoded = true
		ev.Headers["content-type"] = "application/octet-stream"
		return e.send(ev)
	}
	const breakpad = "42/85/9cd5a76121f14b4c4c44205044422e1/"
	for name, want := range map[string][]string{
		"prog.exe": {breakpad + "executable"},
		"prog.pdb": {breakpad + "debuginfo"},
		"mod.wasm": {"42/bd/a18fd85d4a4eb893022d6bfad846b1/executable", "42/bd/a18fd85d4a4eb893022d6bfad846b1/debuginfo"},
	} {
		resp := upload(fixture(name))
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("%s: %d %s", name, resp.StatusCode, resp.Body)
		}
		up := decode[api.DebugFileUploaded](t, resp)
		var keys []string
		for _, o := range up.Objects {
			keys = append(keys, o.Key)
			if _, err := os.Stat(filepath.Join(e.st.StateDir, "s3", o.Bucket, filepath.FromSlash(o.Key))); err != nil {
				t.Errorf("%s: %s not stored: %v", name, o.Key, err)
			}
		}
		if !reflect.DeepEqual(keys, want) {
			t.Errorf("%s stored as %v, want %v", name, keys, want)
		}
	}

	pdb := fixture("prog.pdb")
	bad := append([]byte(nil), pdb...)
	copy(bad[32:], []byte{0xb8, 0x0b, 0, 0}) // block size 3000
	for name, tc := range map[string]struct {
		data []byte
		says string
	}{
		"PE cut in its headers": {fixture("prog.exe")[:0x100], "malformed PE section table"},
		"PDB block size":        {bad, "malformed PDB superblock: block size 3000"},
		"wasm cut":              {fixture("mod.wasm")[:100], "malformed wasm section"},
	} {
		before := e.snapshot()
		resp := upload(tc.data)
		if resp.StatusCode != http.StatusUnprocessableEntity {
			t.Fatalf("%s: %d %s", name, resp.StatusCode, resp.Body)
		}
		if b := decode[errorBody](t, resp); b.Error.Code != api.CodeNotADebugFile || !strings.Contains(b.Error.Message, tc.says) {
			t.Errorf("%s refused with %+v, want a message saying %q", name, b.Error, tc.says)
		}
		if after := e.snapshot(); !reflect.DeepEqual(before, after) {
			t.Errorf("%s: the refused upload wrote something", name)
		}
	}

	presign := func(id map[string]any) events.APIGatewayV2HTTPResponse {
		b, _ := json.Marshal(id)
		ev := event(t, http.MethodPost, "/v1/projects/42/debug-files/uploads", string(b))
		ev.Headers["content-type"] = "application/json"
		return e.send(ev)
	}
	const dbg = "859cd5a7-6121-f14b-4c4c-44205044422e-1"
	for _, tc := range []struct {
		id    map[string]any
		field string // "" for accepted
		keys  []string
	}{
		{map[string]any{"format": "pe", "code_id": "281384574000", "debug_id": dbg, "debug_file": `C:\build\prog.pdb`, "file_type": "executable"}, "", []string{breakpad + "executable"}},
		{map[string]any{"format": "pdb", "debug_id": dbg, "file_type": "debuginfo"}, "", []string{breakpad + "debuginfo"}},
		{map[string]any{"format": "wasm", "code_id": "bda18fd85d4a4eb893022d6bfad846b1", "debug_id": "bda18fd8-5d4a-4eb8-9302-2d6bfad846b1", "file_type": "debuginfo"}, "", []string{"42/bd/a18fd85d4a4eb893022d6bfad846b1/debuginfo"}},
		{map[string]any{"format": "pe", "code_id": "281384574000", "file_type": "executable"}, "debug_id", nil},
		{map[string]any{"format": "pdb", "debug_id": dbg, "file_type": "executable"}, "file_type", nil},
		{map[string]any{"format": "wasm", "debug_id": "00000000-0000-0000-0000-000000000000", "file_type": "both"}, "code_id", nil},
		{map[string]any{"format": "coff", "debug_id": dbg, "file_type": "executable"}, "format", nil},
	} {
		before := e.snapshot()
		resp := presign(tc.id)
		if tc.field != "" {
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("%v: %d %s", tc.id, resp.StatusCode, resp.Body)
			}
			if b := decode[errorBody](t, resp); b.Error.Field != tc.field || b.Error.Code != api.CodeInvalidField {
				t.Errorf("%v refused with %+v, want field %s", tc.id, b.Error, tc.field)
			}
			if after := e.snapshot(); !reflect.DeepEqual(before, after) {
				t.Errorf("%v: the refused request wrote something", tc.id)
			}
			continue
		}
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%v: %d %s", tc.id, resp.StatusCode, resp.Body)
		}
		var keys []string
		for _, u := range decode[api.PresignedUploads](t, resp).Uploads {
			keys = append(keys, u.Key)
		}
		if !reflect.DeepEqual(keys, tc.keys) {
			t.Errorf("%v presigned %v, want %v", tc.id, keys, tc.keys)
		}
	}
}
