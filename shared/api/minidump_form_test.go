package api

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
)

// formFile is one file attachment of an upload form.
type formFile struct {
	filename string
	data     []byte
}

// crashpadForm builds an upload body byte for byte as Crashpad's handler
// does (CrashReportUploadThread::UploadReport with HTTPMultipartBuilder):
// the boundary "---MultipartBoundary-" + 32 letters and digits + "---";
// every text field first, sorted by name, as
// `--B CRLF Content-Disposition: form-data; name="N" CRLF CRLF value CRLF`;
// then the file attachments sorted by field name, the dump among them as
// upload_file_minidump named <report uuid>.dmp, each with
// `; filename="F"` and `Content-Type: application/octet-stream`; then
// `--B--` CRLF. Names escape CR, LF, '"' and '%' as %xx. With gz the whole
// body is gzipped and sent with Content-Encoding: gzip, Crashpad's default.
func crashpadForm(fields map[string]string, files map[string]formFile, gz bool) (body []byte, contentType string) {
	const alnum = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	boundary := "---MultipartBoundary-"
	r := rand.New(rand.NewPCG(uint64(len(fields)), uint64(len(files))))
	for range 32 {
		boundary += string(alnum[r.IntN(len(alnum))])
	}
	boundary += "---"
	escape := func(s string) string {
		var b strings.Builder
		for _, c := range []byte(s) {
			switch c {
			case '\r', '\n', '"', '%':
				fmt.Fprintf(&b, "%%%02x", c)
			default:
				b.WriteByte(c)
			}
		}
		return b.String()
	}
	var b bytes.Buffer
	names := make([]string, 0, len(fields))
	for n := range fields {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(&b, "--%s\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n%s\r\n", boundary, escape(n), fields[n])
	}
	keys := make([]string, 0, len(files))
	for k := range files {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "--%s\r\nContent-Disposition: form-data; name=\"%s\"; filename=\"%s\"\r\nContent-Type: application/octet-stream\r\n\r\n", boundary, escape(k), escape(files[k].filename))
		b.Write(files[k].data)
		b.WriteString("\r\n")
	}
	fmt.Fprintf(&b, "--%s--\r\n", boundary)
	body = b.Bytes()
	if gz {
		var z bytes.Buffer
		w := gzip.NewWriter(&z)
		w.Write(body)
		w.Close()
		body = z.Bytes()
	}
	return body, "multipart/form-data; boundary=" + boundary
}

func crashyDump(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "events", "crash-upload", "crashy.dmp"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func gzipped(b []byte) []byte {
	var z bytes.Buffer
	w := gzip.NewWriter(&z)
	w.Write(b)
	w.Close()
	return z.Bytes()
}

func boundaryOf(t testing.TB, contentType string) string {
	t.Helper()
	b, e := multipartBoundary(contentType)
	if e != nil {
		t.Fatal(e)
	}
	return b
}

const reportUUID = "4b3c2a1f-0e9d-4c8b-a7f6-e5d4c3b2a190"

// TestReadCrashpadForm reads the forms Crashpad, sentry-native and other
// Sentry clients send, and picks the event id as Sentry does.
func TestReadCrashpadForm(t *testing.T) {
	dump := crashyDump(t)
	sum := sha256.Sum256(dump)
	byContent := hex.EncodeToString(sum[:16])
	crashpadFields := map[string]string{
		"prod": "crashy", "ver": "1.0.0", "plat": "Linux", "ptype": "browser",
		"guid": "8f14e45f-ceea-467e-a9b8-1d4e1c3b6a7d", "list_annotations": "one\ntwo",
		`odd"name%`: "escaped by Crashpad",
	}
	sentryEvent := msgpackEncode(map[string]any{
		"event_id": "F1E2D3C4-B5A6-4978-8695-A4B3C2D1E0F9", "level": "fatal", "release": "crashy@1.0.0",
		"tags": map[string]any{"shard": "eu"},
	})
	for _, tc := range []struct {
		name        string
		fields      map[string]string
		files       map[string]formFile
		gz          bool
		wantID      string
		wantFrom    string
		wantFields  []string
		wantIgnored int
	}{
		{
			name:       "crashpad_handler, gzipped",
			fields:     crashpadFields,
			files:      map[string]formFile{MinidumpField: {reportUUID + ".dmp", dump}},
			gz:         true,
			wantID:     "4b3c2a1f0e9d4c8ba7f6e5d4c3b2a190",
			wantFrom:   "filename",
			wantFields: []string{"guid", "list_annotations", `odd%22name%25`, "plat", "prod", "ptype", "ver"},
		},
		{
			name:   "sentry-native's crashpad backend",
			fields: map[string]string{"sentry[release]": "crashy@1.0.0"},
			files: map[string]formFile{
				MinidumpField:          {reportUUID + ".dmp", dump},
				"__sentry-event":       {"__sentry-event", sentryEvent},
				"__sentry-breadcrumb1": {"__sentry-breadcrumb1", []byte{0x91, 0x80}},
				"__sentry-breadcrumb2": {"__sentry-breadcrumb2", nil},
			},
			wantID:      "f1e2d3c4b5a649788695a4b3c2d1e0f9",
			wantFrom:    "__sentry-event",
			wantFields:  []string{"sentry[release]"},
			wantIgnored: 2,
		},
		{
			name:       "a sentry JSON field",
			fields:     map[string]string{"sentry": `{"event_id":"0123456789abcdef0123456789abcdef","release":"r"}`, "prod": "p"},
			files:      map[string]formFile{MinidumpField: {"crash.dmp", dump}},
			wantID:     "0123456789abcdef0123456789abcdef",
			wantFrom:   "sentry",
			wantFields: []string{"prod"},
		},
		{
			name:       "sentry[event_id]",
			fields:     map[string]string{"sentry[event_id]": "0123456789ABCDEF0123456789ABCDEF"},
			files:      map[string]formFile{MinidumpField: {"crash.dmp", dump}},
			wantID:     "0123456789abcdef0123456789abcdef",
			wantFrom:   "sentry[event_id]",
			wantFields: []string{"sentry[event_id]"},
		},
		{
			name:        "Breakpad's uploader: no report id, the content decides; other files dropped",
			fields:      map[string]string{"prod": "crashy", "ver": "1.0", "key": "never kept", "sentry_key": "nor this"},
			files:       map[string]formFile{MinidumpField: {"dump", dump}, "log": {"app.log", []byte("log line\n")}},
			wantID:      byContent,
			wantFrom:    "content",
			wantFields:  []string{"prod", "ver"},
			wantIgnored: 1,
		},
		{
			name:     "a gzip-compressed dump in the field",
			files:    map[string]formFile{MinidumpField: {reportUUID + ".dmp.gz", gzipped(dump)}},
			wantID:   "4b3c2a1f0e9d4c8ba7f6e5d4c3b2a190",
			wantFrom: "filename",
		},
		{
			name:     "a nil sentry event id falls through",
			fields:   map[string]string{"sentry": `{"event_id":"00000000-0000-0000-0000-000000000000"}`},
			files:    map[string]formFile{MinidumpField: {"x.dmp", dump}},
			wantID:   byContent,
			wantFrom: "content",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body, ct := crashpadForm(tc.fields, tc.files, tc.gz)
			enc := ""
			if tc.gz {
				enc = "gzip"
			}
			f, e := readMinidumpForm(body, boundaryOf(t, ct), enc, DefaultMaxMinidumpBytes, "42")
			if e != nil {
				t.Fatal(e)
			}
			if !bytes.Equal(f.dump, dump) {
				t.Errorf("dump of %d bytes, want the %d sent", len(f.dump), len(dump))
			}
			id, from, e := f.eventID()
			if e != nil || id != tc.wantID || from != tc.wantFrom {
				t.Errorf("event id %q from %q (%v), want %q from %q", id, from, e, tc.wantID, tc.wantFrom)
			}
			var names []string
			for n := range f.fields {
				names = append(names, n)
			}
			sort.Strings(names)
			if !slices.Equal(names, tc.wantFields) {
				t.Errorf("fields %q, want %q", names, tc.wantFields)
			}
			if len(f.ignored) != tc.wantIgnored {
				t.Errorf("ignored %+v, want %d", f.ignored, tc.wantIgnored)
			}
		})
	}
}

// TestReadMinidumpFormRefusals: each bad form is refused naming the field.
func TestReadMinidumpFormRefusals(t *testing.T) {
	dump := crashyDump(t)
	ok := map[string]formFile{MinidumpField: {"x.dmp", dump}}
	withFiles := func(extra map[string]formFile) map[string]formFile {
		out := map[string]formFile{}
		for k, v := range ok {
			out[k] = v
		}
		for k, v := range extra {
			out[k] = v
		}
		return out
	}
	many := map[string]string{}
	for i := range maxFormParts + 1 {
		many[fmt.Sprintf("f%04d", i)] = "v"
	}
	for _, tc := range []struct {
		name   string
		fields map[string]string
		files  map[string]formFile
		enc    string
		max    int
		status int
		field  string
		msg    string
	}{
		{"no dump", map[string]string{"prod": "p"}, nil, "", 0, 400, MinidumpField, "is required"},
		{"empty dump", nil, map[string]formFile{MinidumpField: {"x.dmp", nil}}, "", 0, 400, MinidumpField, "is empty"},
		{"an ELF file", nil, map[string]formFile{MinidumpField: {"x.dmp", []byte("\x7fELF\x02\x01\x01")}}, "", 0, 400, MinidumpField, "the file starts with 0x7f454c46, a minidump with MDMP"},
		{"a text file", nil, map[string]formFile{MinidumpField: {"x.dmp", []byte("hello")}}, "", 0, 400, MinidumpField, `starts with "hell"`},
		{"bad gzip in the field", nil, map[string]formFile{MinidumpField: {"x.dmp", []byte{0x1f, 0x8b, 0}}}, "", 0, 400, MinidumpField, "looks gzip-compressed"},
		{"bad sentry JSON", map[string]string{"sentry": "{nope"}, ok, "", 0, 400, "sentry", "must be a JSON object"},
		{"bad sentry event id", map[string]string{"sentry": `{"event_id":"nope"}`}, ok, "", 0, 400, "sentry.event_id", `"nope" is not a UUID`},
		{"numeric sentry event id", map[string]string{"sentry": `{"event_id":5}`}, ok, "", 0, 400, "sentry.event_id", "must be a UUID string"},
		{"bad sentry[event_id]", map[string]string{"sentry[event_id]": "x"}, ok, "", 0, 400, "sentry[event_id]", "is not a UUID"},
		{"bad __sentry-event", nil, withFiles(map[string]formFile{"__sentry-event": {"__sentry-event", []byte{0xc1}}}), "", 0, 400, "__sentry-event", "is not a MessagePack event"},
		{"__sentry-event not a map", nil, withFiles(map[string]formFile{"__sentry-event": {"__sentry-event", []byte{0x90}}}), "", 0, 400, "__sentry-event", "not a MessagePack map"},
		{"field too long", map[string]string{"prod": strings.Repeat("p", maxFieldBytes+1)}, ok, "", 0, 400, "prod", "is larger than 65536 bytes"},
		{"too many parts", many, ok, "", 0, 400, "body", "more than 1024 parts"},
		{"body decompresses past the limit", nil, ok, "gzip", 4096, 413, "", "POST /v1/projects/42/minidump/uploads"},
		{"dump decompresses past the limit", nil, map[string]formFile{MinidumpField: {"x.dmp", gzipped(bytes.Repeat(dump, 8))}}, "", len(dump) * 4, 413, "", "presigned URL"},
		{"unknown content encoding", nil, ok, "br", 0, 415, "content-encoding", `"br" is not supported`},
		{"not gzip", nil, ok, "gzip-but-not", 0, 415, "content-encoding", "not supported"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body, ct := crashpadForm(tc.fields, tc.files, tc.enc == "gzip")
			max := tc.max
			if max == 0 {
				max = DefaultMaxMinidumpBytes
			}
			_, e := readMinidumpForm(body, boundaryOf(t, ct), tc.enc, max, "42")
			if e == nil {
				var f *minidumpForm
				f, e = readMinidumpForm(body, boundaryOf(t, ct), tc.enc, max, "42")
				if e == nil {
					_, _, e = f.eventID()
				}
			}
			if e == nil {
				t.Fatal("accepted")
			}
			if e.status != tc.status || e.body.Field != tc.field || !strings.Contains(e.body.Message, tc.msg) {
				t.Errorf("%d %+v, want %d field %q message containing %q", e.status, e.body, tc.status, tc.field, tc.msg)
			}
		})
	}
	// A body that is not multipart at all, or torn.
	if _, e := readMinidumpForm([]byte("just text"), "B", "", 1<<20, "42"); e == nil || e.body.Field != "body" || !strings.Contains(e.body.Message, "no part") {
		t.Errorf("not multipart: %v", e)
	}
	body, ct := crashpadForm(nil, ok, false)
	if _, e := readMinidumpForm(body[:len(body)/2], boundaryOf(t, ct), "", 1<<20, "42"); e == nil || e.body.Field != MinidumpField || !strings.Contains(e.body.Message, "cannot be read") {
		t.Errorf("torn body: %v", e)
	}
	if _, e := readMinidumpForm([]byte("not gzip"), boundaryOf(t, ct), "gzip", 1<<20, "42"); e == nil || e.body.Field != "content-encoding" {
		t.Errorf("body that is not gzip: %v", e)
	}
	part := "--B\r\nContent-Disposition: form-data; name=\"" + MinidumpField + "\"; filename=\"x.dmp\"\r\n\r\n" + string(dump) + "\r\n"
	if _, e := readMinidumpForm([]byte(part+part+"--B--\r\n"), "B", "", 1<<20, "42"); e == nil || e.body.Field != MinidumpField || !strings.Contains(e.body.Message, "appears twice") {
		t.Errorf("two dumps: %v", e)
	}
}

// TestMinidumpLimitExact: a body of exactly the limit is taken, one byte
// more is not.
func TestMinidumpLimitExact(t *testing.T) {
	body, ct := crashpadForm(nil, map[string]formFile{MinidumpField: {"x.dmp", crashyDump(t)}}, true)
	plain, _ := crashpadForm(nil, map[string]formFile{MinidumpField: {"x.dmp", crashyDump(t)}}, false)
	if _, e := readMinidumpForm(body, boundaryOf(t, ct), "gzip", len(plain), "42"); e != nil {
		t.Errorf("body of exactly the limit: %v", e)
	}
	if _, e := readMinidumpForm(body, boundaryOf(t, ct), "gzip", len(plain)-1, "42"); e == nil || e.status != http.StatusRequestEntityTooLarge {
		t.Errorf("body one byte over: %v", e)
	}
}

func TestMultipartBoundary(t *testing.T) {
	for ct, want := range map[string]string{
		"multipart/form-data; boundary=---MultipartBoundary-abc---": "",
		`multipart/form-data; boundary="quoted b"`:                  "",
		"":                                  "is missing",
		"application/octet-stream":          `"application/octet-stream" is not multipart/form-data`,
		"application/x-www-form-urlencoded": "is not multipart/form-data",
		"multipart/form-data":               "without a boundary",
		"multipart/form-data; boundary":     "is not multipart/form-data",
		"multipart/mixed; boundary=x":       "is not multipart/form-data",
	} {
		_, e := multipartBoundary(ct)
		switch {
		case want == "" && e != nil:
			t.Errorf("%q: %v", ct, e)
		case want != "" && (e == nil || e.body.Field != "content-type" || !strings.Contains(e.body.Message, want)):
			t.Errorf("%q: %v, want content-type error saying %q", ct, e, want)
		}
	}
}

func TestWantsJSON(t *testing.T) {
	for accept, want := range map[string]bool{
		"":                                       false,
		"*/*":                                    false,
		"text/plain":                             false,
		"application/json":                       true,
		"application/json; charset=utf-8":        true,
		"text/plain;q=0.5, application/json":     true,
		"text/plain, application/json;q=0.5":     false,
		"application/json;q=0":                   false,
		"text/html, application/json;q=0.9, */*": true,
	} {
		if got := wantsJSON(accept); got != want {
			t.Errorf("wantsJSON(%q) = %v, want %v", accept, got, want)
		}
	}
}

func TestNormalizeEventID(t *testing.T) {
	for in, want := range map[string]string{
		"4b3c2a1f-0e9d-4c8b-a7f6-e5d4c3b2a190":   "4b3c2a1f0e9d4c8ba7f6e5d4c3b2a190",
		"4B3C2A1F0E9D4C8BA7F6E5D4C3B2A190":       "4b3c2a1f0e9d4c8ba7f6e5d4c3b2a190",
		" 4b3c2a1f0e9d4c8ba7f6e5d4c3b2a190 ":     "4b3c2a1f0e9d4c8ba7f6e5d4c3b2a190",
		"00000000-0000-0000-0000-000000000000":   "",
		"4b3c2a1f0e9d4c8ba7f6e5d4c3b2a19":        "",
		"4b3c2a1f0e9d4c8ba7f6e5d4c3b2a1900":      "",
		"{4b3c2a1f-0e9d-4c8b-a7f6-e5d4c3b2a190}": "",
		"g b3c2a1f0e9d4c8ba7f6e5d4c3b2a190":      "",
	} {
		got, ok := normalizeEventID(in)
		if got != want || ok != (want != "") {
			t.Errorf("normalizeEventID(%q) = %q %v, want %q", in, got, ok, want)
		}
	}
}

// FuzzMinidumpForm reads arbitrary bodies (plain and gzipped) as upload
// forms: no panic, nothing decoded past the limit, and what is accepted
// holds a minidump and an event id.
func FuzzMinidumpForm(f *testing.F) {
	dump := crashyDump(f)
	body, ct := crashpadForm(map[string]string{"prod": "p", "sentry": `{"event_id":"0123456789abcdef0123456789abcdef"}`},
		map[string]formFile{MinidumpField: {reportUUID + ".dmp", dump[:64]}, "__sentry-event": {"__sentry-event", msgpackEncode(map[string]any{"event_id": reportUUID})}}, false)
	boundary := boundaryOf(f, ct)
	f.Add(body, false)
	f.Add(gzipped(body), true)
	f.Add([]byte("--"+boundary+"\r\nContent-Disposition: form-data; name=\"upload_file_minidump\"; filename=\"a\"\r\n\r\nMDMP\r\n--"+boundary+"--\r\n"), false)
	const limit = 64 << 10
	f.Fuzz(func(t *testing.T, body []byte, gz bool) {
		enc := ""
		if gz {
			enc = "gzip"
		}
		form, e := readMinidumpForm(body, boundary, enc, limit, "42")
		if e != nil {
			if e.body.Code == "" || e.body.Message == "" || e.status < 400 || e.status >= 500 {
				t.Fatalf("refusal without code, message or 4xx status: %+v", e)
			}
			return
		}
		if !isMinidump(form.dump) || len(form.dump) > limit {
			t.Fatalf("accepted a dump of %d bytes starting %q", len(form.dump), form.dump[:min(4, len(form.dump))])
		}
		if id, _, e := form.eventID(); e == nil && len(id) != 32 {
			t.Fatalf("event id %q", id)
		}
	})
}
