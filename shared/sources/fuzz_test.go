package sources

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// FuzzParseCustom checks that any symbol_sources value either fails with a
// *ValidationError or yields sources that keep every rule, survive a JSON
// round trip, and hide and backfill back to themselves. Seeds are in
// testdata/fuzz/FuzzParseCustom.
func FuzzParseCustom(f *testing.F) {
	for _, s := range []string{"", "[]", "[" + httpOK + "," + s3OK + "," + gcsOK + "," + ascOK + "]", `[{"type":"http"}]`, `{}`, "[" + httpCreds + "]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		got, err := ParseCustom(raw)
		if err != nil {
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("error %v is a %T, want *ValidationError", err, err)
			}
			if !strings.HasPrefix(ve.Field, "symbol_sources") || ve.Message == "" {
				t.Fatalf("error %q does not name a field", err)
			}
			if len(err.Error()) > 1024 {
				t.Fatalf("error is %d bytes long", len(err.Error()))
			}
			return
		}
		seen := map[string]bool{}
		for _, s := range got {
			id := s.ID()
			if id == "" || strings.HasPrefix(id, "sentry") || seen[id] {
				t.Fatalf("accepted bad id %q", id)
			}
			seen[id] = true
			if typ := s.Type(); typ != TypeHTTP && typ != TypeS3 && typ != TypeGCS {
				t.Fatalf("accepted type %q", typ)
			}
		}
		b, err := json.Marshal(got)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		again, err := ParseCustom(string(b))
		if err != nil {
			t.Fatalf("re-parse of %s: %v", b, err)
		}
		b2, _ := json.Marshal(again)
		if !bytes.Equal(b, b2) {
			t.Fatalf("round trip changed:\n%s\n%s", b, b2)
		}
		hidden, err := HideCustom(raw)
		if err != nil {
			t.Fatalf("HideCustom of a valid value: %v", err)
		}
		back, err := BackfillCustom(hidden, raw)
		if err != nil {
			t.Fatalf("BackfillCustom(HideCustom(x), x): %v", err)
		}
		want := b
		if strings.TrimSpace(raw) == "" {
			want = nil // blank input: nothing to save
		}
		if back != string(want) {
			t.Fatalf("hide/backfill round trip:\n got %s\nwant %s", back, want)
		}
	})
}

// FuzzProcessResponse checks that post-processing never panics, never
// changes its input, is idempotent, and leaves no internal location or
// surplus notfound candidate behind. Seeds are in
// testdata/fuzz/FuzzProcessResponse.
func FuzzProcessResponse(f *testing.F) {
	f.Add([]byte(`{"modules":[{"candidates":[{"source":"sentry:ios-source","location":"x","download":{"status":"notfound"}}]}]}`))
	f.Add([]byte(`{"modules":{}}`))
	f.Add([]byte(`{"modules":[{"candidates":[1,{"source":2}]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var resp map[string]any
		if decodeJSON(data, &resp) != nil || resp == nil {
			if _, err := ProcessResponseJSON(data, testContext); err == nil && !bytes.Equal(bytes.TrimSpace(data), []byte("null")) {
				t.Fatalf("ProcessResponseJSON accepted %q", data)
			}
			return
		}
		before, err := json.Marshal(resp)
		if err != nil {
			return // e.g. a number json cannot write back; not ours to judge
		}
		out := ProcessResponse(resp, testContext)
		after, _ := json.Marshal(resp)
		if !bytes.Equal(before, after) {
			t.Fatal("ProcessResponse changed its argument")
		}
		first, err := json.Marshal(out)
		if err != nil {
			t.Fatalf("marshal result: %v", err)
		}
		second, _ := json.Marshal(ProcessResponse(out, testContext))
		if !bytes.Equal(first, second) {
			t.Fatalf("not idempotent:\n%s\n%s", first, second)
		}
		modules, _ := out["modules"].([]any)
		for _, m := range modules {
			mod, _ := m.(map[string]any)
			cands, _ := mod["candidates"].([]any)
			notfound := map[string]int{}
			other := map[string]bool{}
			for _, c := range cands {
				cand, _ := c.(map[string]any)
				id, ok := cand["source"].(string)
				if !ok || !IsInternalID(id) {
					continue
				}
				if _, has := testContext.ReverseAliases[id]; has {
					t.Fatalf("alias %s not reversed", id)
				}
				status, hasStatus := downloadStatus(cand)
				if _, has := cand["location"]; has && (id != InternalSourceID || (hasStatus && status == "notfound")) {
					t.Fatalf("location kept on %v", cand)
				}
				if hasStatus && status == "notfound" {
					notfound[id]++
				} else if hasStatus {
					other[id] = true
				}
			}
			for id, n := range notfound {
				if n > 1 || other[id] {
					t.Fatalf("source %s: %d notfound candidates, other status %v", id, n, other[id])
				}
			}
		}
	})
}
