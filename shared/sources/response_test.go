package sources

import (
	"bytes"
	"encoding/json"
	"os"
	"testing"
)

var testContext = ResponseContext{
	ReverseAliases: map[string]string{"sentry:ios-source": "sentry:ios", "sentry:tvos-source": "sentry:ios"},
	SourceNames: map[string]string{
		"sentry:project":   "Sentry",
		"sentry:ios":       "Apple",
		"sentry:microsoft": "Microsoft",
		"custom":           "My server",
	},
}

func decodeObject(t *testing.T, raw string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := decodeJSON([]byte(raw), &m); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
	return m
}

func TestProcessResponse(t *testing.T) {
	// mod wraps candidates in a response with one module.
	mod := func(candidates string) string {
		return `{"status":"completed","modules":[{"debug_id":"d","candidates":` + candidates + `}]}`
	}
	tests := []struct {
		name string
		in   string
		want string
	}{
		{
			name: "alias reversed and named",
			in:   mod(`[{"source":"sentry:ios-source","location":"s3://apple/x","download":{"status":"ok"}}]`),
			want: mod(`[{"source":"sentry:ios","source_name":"Apple","download":{"status":"ok"}}]`),
		},
		{
			name: "custom source named, location kept",
			in:   mod(`[{"source":"custom","location":"https://h/x.pdb","download":{"status":"notfound"}},{"source":"custom","location":"https://h/y.pdb","download":{"status":"notfound"}}]`),
			want: mod(`[{"source":"custom","source_name":"My server","location":"https://h/x.pdb","download":{"status":"notfound"}},{"source":"custom","source_name":"My server","location":"https://h/y.pdb","download":{"status":"notfound"}}]`),
		},
		{
			name: "unknown source named unknown",
			in:   mod(`[{"source":"who","download":{"status":"ok"}}]`),
			want: mod(`[{"source":"who","source_name":"unknown","download":{"status":"ok"}}]`),
		},
		{
			name: "sentry:project keeps location when found",
			in:   mod(`[{"source":"sentry:project","location":"sentry://project_debug_file/123","download":{"status":"ok"},"debug":{"status":"ok"}}]`),
			want: mod(`[{"source":"sentry:project","source_name":"Sentry","location":"sentry://project_debug_file/123","download":{"status":"ok"},"debug":{"status":"ok"}}]`),
		},
		{
			name: "other internal sources lose location",
			in:   mod(`[{"source":"sentry:microsoft","location":"https://msdl/x","download":{"status":"ok"}},{"source":"sentry:microsoft","location":"https://msdl/y","download":{"status":"malformed"}}]`),
			want: mod(`[{"source":"sentry:microsoft","source_name":"Microsoft","download":{"status":"ok"}},{"source":"sentry:microsoft","source_name":"Microsoft","download":{"status":"malformed"}}]`),
		},
		{
			name: "one notfound kept per internal source, location dropped",
			in: mod(`[{"source":"sentry:project","location":"a","download":{"status":"notfound"}},
				{"source":"sentry:microsoft","location":"b","download":{"status":"notfound"}},
				{"source":"sentry:project","location":"c","download":{"status":"notfound"}},
				{"source":"sentry:microsoft","location":"d","download":{"status":"notfound"}}]`),
			want: mod(`[{"source":"sentry:project","source_name":"Sentry","download":{"status":"notfound"}},
				{"source":"sentry:microsoft","source_name":"Microsoft","download":{"status":"notfound"}}]`),
		},
		{
			name: "notfound dropped when the source has another status",
			in: mod(`[{"source":"sentry:project","location":"a","download":{"status":"notfound"}},
				{"source":"sentry:project","location":"b","download":{"status":"ok"}},
				{"source":"sentry:microsoft","location":"c","download":{"status":"notfound"}},
				{"source":"sentry:project","location":"d","download":{"status":"notfound"}}]`),
			want: mod(`[{"source":"sentry:project","source_name":"Sentry","location":"b","download":{"status":"ok"}},
				{"source":"sentry:microsoft","source_name":"Microsoft","download":{"status":"notfound"}}]`),
		},
		{
			name: "another status after notfound also counts",
			in: mod(`[{"source":"sentry:microsoft","download":{"status":"notfound"}},
				{"source":"sentry:microsoft","download":{"status":"noperm","details":"403"}}]`),
			want: mod(`[{"source":"sentry:microsoft","source_name":"Microsoft","download":{"status":"noperm","details":"403"}}]`),
		},
		{
			name: "alias members redacted under the alias id",
			in: mod(`[{"source":"sentry:ios-source","location":"x","download":{"status":"notfound"}},
				{"source":"sentry:tvos-source","location":"y","download":{"status":"notfound"}},
				{"source":"sentry:tvos-source","location":"z","download":{"status":"error","details":"timeout"}}]`),
			want: mod(`[{"source":"sentry:ios","source_name":"Apple","download":{"status":"error","details":"timeout"}}]`),
		},
		{
			name: "non-internal notfound never dropped",
			in: mod(`[{"source":"custom","download":{"status":"notfound"}},
				{"source":"custom","download":{"status":"ok"}}]`),
			want: mod(`[{"source":"custom","source_name":"My server","download":{"status":"notfound"}},
				{"source":"custom","source_name":"My server","download":{"status":"ok"}}]`),
		},
		{
			name: "internal candidate without download kept, not counted",
			in: mod(`[{"source":"sentry:microsoft","location":"x"},
				{"source":"sentry:microsoft","download":{"status":"notfound"}}]`),
			want: mod(`[{"source":"sentry:microsoft","source_name":"Microsoft"},
				{"source":"sentry:microsoft","source_name":"Microsoft","download":{"status":"notfound"}}]`),
		},
		{
			name: "download without status kept, not counted",
			in:   mod(`[{"source":"sentry:microsoft","download":{}},{"source":"sentry:microsoft","download":{"status":"notfound"}}]`),
			want: mod(`[{"source":"sentry:microsoft","source_name":"Microsoft","download":{}},{"source":"sentry:microsoft","source_name":"Microsoft","download":{"status":"notfound"}}]`),
		},
		{
			name: "non-string status counts as another status",
			in:   mod(`[{"source":"sentry:microsoft","download":{"status":null}},{"source":"sentry:microsoft","download":{"status":"notfound"}}]`),
			want: mod(`[{"source":"sentry:microsoft","source_name":"Microsoft","download":{"status":null}}]`),
		},
		{
			name: "candidates kept per module",
			in: `{"modules":[{"candidates":[{"source":"sentry:microsoft","download":{"status":"ok"}}]},
				{"candidates":[{"source":"sentry:microsoft","download":{"status":"notfound"}}]}]}`,
			want: `{"modules":[{"candidates":[{"source":"sentry:microsoft","source_name":"Microsoft","download":{"status":"ok"}}]},
				{"candidates":[{"source":"sentry:microsoft","source_name":"Microsoft","download":{"status":"notfound"}}]}]}`,
		},
		{
			name: "module without candidates stays without",
			in:   `{"modules":[{"debug_id":"a"},{"debug_id":"b","candidates":[]}]}`,
			want: `{"modules":[{"debug_id":"a"},{"debug_id":"b","candidates":[]}]}`,
		},
		{
			name: "rest of the response untouched, numbers exact",
			in:   `{"status":"completed","stacktraces":[{"frames":[{"instruction_addr":"0x1","lineno":18446744073709551615}]}],"modules":[]}`,
			want: `{"status":"completed","stacktraces":[{"frames":[{"instruction_addr":"0x1","lineno":18446744073709551615}]}],"modules":[]}`,
		},
		{name: "no modules", in: `{"status":"pending"}`, want: `{"status":"pending"}`},
		{name: "modules null", in: `{"modules":null}`, want: `{"modules":null}`},
		{name: "modules not an array", in: `{"modules":{"a":1}}`, want: `{"modules":{"a":1}}`},
		{name: "module not an object", in: `{"modules":[1,"x",null,[]]}`, want: `{"modules":[1,"x",null,[]]}`},
		{name: "candidates not an array", in: `{"modules":[{"candidates":{"source":"sentry:x"}}]}`, want: `{"modules":[{"candidates":{"source":"sentry:x"}}]}`},
		{name: "candidates null", in: `{"modules":[{"candidates":null}]}`, want: `{"modules":[{"candidates":null}]}`},
		{
			name: "odd candidates left alone",
			in:   mod(`[1,null,"s",{},{"source":5,"location":"x"},{"source":"sentry:microsoft","download":"notfound"}]`),
			want: mod(`[1,null,"s",{},{"source":5,"location":"x"},{"source":"sentry:microsoft","source_name":"Microsoft","download":"notfound"}]`),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := decodeObject(t, tt.in)
			before, _ := json.Marshal(in)
			got := ProcessResponse(in, testContext)
			if !jsonEqual(t, got, tt.want) {
				b, _ := json.Marshal(got)
				t.Errorf("got  %s\nwant %s", b, compact(t, tt.want))
			}
			after, _ := json.Marshal(in)
			if !bytes.Equal(before, after) {
				t.Errorf("ProcessResponse changed its argument:\nbefore %s\nafter  %s", before, after)
			}
			// The raw form gives the same.
			raw, err := ProcessResponseJSON(json.RawMessage(tt.in), testContext)
			if err != nil {
				t.Fatalf("ProcessResponseJSON: %v", err)
			}
			if !jsonEqual(t, raw, tt.want) {
				t.Errorf("ProcessResponseJSON = %s", raw)
			}
		})
	}
}

func compact(t *testing.T, s string) string {
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(s)); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestProcessResponseNil(t *testing.T) {
	if got := ProcessResponse(nil, testContext); got != nil {
		t.Errorf("ProcessResponse(nil) = %v", got)
	}
	got := ProcessResponse(map[string]any{"modules": []any{map[string]any{"candidates": []any{map[string]any{"source": "sentry:x"}}}}}, ResponseContext{})
	if !jsonEqual(t, got, `{"modules":[{"candidates":[{"source":"sentry:x","source_name":"unknown"}]}]}`) {
		t.Errorf("empty context: %v", got)
	}
}

func TestProcessResponseJSONErrors(t *testing.T) {
	tests := []struct {
		name, in string
	}{
		{"array", `[1]`},
		{"broken", `{"modules":[`},
		{"empty", ``},
		{"trailing", `{} x`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ProcessResponseJSON(json.RawMessage(tt.in), testContext)
			if err == nil {
				t.Fatalf("ProcessResponseJSON = %s, want an error", got)
			}
			if string(got) != tt.in {
				t.Errorf("body changed to %s", got)
			}
		})
	}
	got, err := ProcessResponseJSON(json.RawMessage(`null`), testContext)
	if err != nil || string(got) != "null" {
		t.Errorf("null: %s, %v", got, err)
	}
}

// TestProcessResponseGolden runs a full completed response from
// testdata/response.json through the post-processing.
func TestProcessResponseGolden(t *testing.T) {
	raw, err := os.ReadFile("testdata/response.json")
	if err != nil {
		t.Fatal(err)
	}
	got, err := ProcessResponseJSON(raw, testContext)
	if err != nil {
		t.Fatal(err)
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, got, "", "  "); err != nil {
		t.Fatal(err)
	}
	golden(t, "response.golden.json", pretty.Bytes())
}

func BenchmarkProcessResponse(b *testing.B) {
	raw, err := os.ReadFile("testdata/response.json")
	if err != nil {
		b.Fatal(err)
	}
	var resp map[string]any
	if err := decodeJSON(raw, &resp); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		ProcessResponse(resp, testContext)
	}
}
