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
