package sources

import (
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/symflow/symflow/shared/project"
)

// httpCreds is a custom http source with credentials in its URL.
const httpCreds = `{"type":"http","id":"mirror","name":"Mirror","url":"https://ci:url-s3cret@mirror.example.com/syms/","layout":{"type":"native"}}`

// urlSecrets must never appear where URLs are shown.
var urlSecrets = []string{"ci:url-s3cret", "url-s3cret", "tok-s3cret"}

func assertNoURLSecret(t *testing.T, where string, text string) {
	t.Helper()
	for _, s := range urlSecrets {
		if strings.Contains(text, s) {
			t.Errorf("%s holds %q: %s", where, s, text)
		}
	}
}

func TestHideURLCredentials(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{
			name: "http source url",
			in:   `[{"type":"http","id":"h","url":"https://ci:url-s3cret@h.example/x/"}]`,
			want: `[{"type":"http","id":"h","url":"https://%5Bhidden-secret%5D@h.example/x/"}]`,
		},
		{
			name: "token as user name in the internal source's url, token hidden too",
			in:   `[{"type":"sentry","id":"sentry:project","url":"https://tok-s3cret@sentry.example/api/0/","token":"sys"}]`,
			want: `[{"type":"sentry","id":"sentry:project","url":"https://%5Bhidden-secret%5D@sentry.example/api/0/","token":{"hidden-secret":true}}]`,
		},
		{
			name: "s3 endpoint in a region pair, and a header",
			in:   `[{"type":"s3","id":"b","region":["r","https://k:url-s3cret@minio.example:9000"],"headers":{"x-via":"http://u:url-s3cret@proxy/"}}]`,
			want: `[{"type":"s3","id":"b","region":["r","https://%5Bhidden-secret%5D@minio.example:9000"],"headers":{"x-via":"http://%5Bhidden-secret%5D@proxy/"}}]`,
		},
		{
			name: "url without credentials untouched",
			in:   `[{"type":"http","id":"h","url":"https://h.example/a@b"}]`,
			want: `[{"type":"http","id":"h","url":"https://h.example/a@b"}]`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := mustList(t, tt.in)
			got := Hide(in)
			if !jsonEqual(t, got, tt.want) {
				b, _ := json.Marshal(got)
				t.Errorf("got  %s\nwant %s", b, tt.want)
			}
			b, _ := json.Marshal(got)
			assertNoURLSecret(t, "hidden list", string(b))
			// Through state as JSON and back.
			var fromState List
			if err := json.Unmarshal(b, &fromState); err != nil {
				t.Fatal(err)
			}
			back, err := Backfill(fromState, in)
			if err != nil {
				t.Fatalf("Backfill: %v", err)
			}
			if !jsonEqual(t, back, tt.in) {
				b, _ := json.Marshal(back)
				t.Errorf("Backfill(Hide(l), l) = %s, want %s", b, tt.in)
			}
		})
	}
}

// TestBackfillStateNeverRedirects: a state whose source was edited on its
// way (or computed from an older configuration) gets its secrets only
// for the stored source's server.
func TestBackfillStateNeverRedirects(t *testing.T) {
	stored := mustList(t, `[{"type":"http","id":"h","url":"https://ci:url-s3cret@h.example/x/","headers":{"authorization":"Basic dTpw"}},`+
		`{"type":"sentry","id":"sentry:project","url":"https://sentry.example/api/","token":"sys"}]`)
	tests := []struct {
		name      string
		hidden    string
		wantField string // "" when it must fill
		wantID    string
	}{
		{name: "as hidden", hidden: `[{"type":"http","id":"h","url":"https://%5Bhidden-secret%5D@h.example/x/","headers":{"authorization":{"hidden-secret":true}}}]`},
		{name: "path changed", hidden: `[{"type":"http","id":"h","url":"https://%5Bhidden-secret%5D@h.example/y/","headers":{"authorization":{"hidden-secret":true}}}]`},
		{name: "url credentials to another host", wantID: "h", wantField: "url",
			hidden: `[{"type":"http","id":"h","url":"https://%5Bhidden-secret%5D@evil.example/x/"}]`},
		{name: "authorization header to another host", wantID: "h", wantField: "url",
			hidden: `[{"type":"http","id":"h","url":"https://evil.example/x/","headers":{"authorization":{"hidden-secret":true}}}]`},
		{name: "token to another host", wantID: "sentry:project", wantField: "url",
			hidden: `[{"type":"sentry","id":"sentry:project","url":"https://evil.example/api/","token":{"hidden-secret":true}}]`},
		{name: "token over plain http", wantID: "sentry:project", wantField: "url",
			hidden: `[{"type":"sentry","id":"sentry:project","url":"http://sentry.example/api/","token":{"hidden-secret":true}}]`},
		{name: "another host without secrets is not ours to refuse",
			hidden: `[{"type":"http","id":"h","url":"https://evil.example/x/"}]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Backfill(mustList(t, tt.hidden), stored)
			if tt.wantField == "" {
				if err != nil {
					t.Fatalf("Backfill: %v", err)
				}
				if got.HasHidden() {
					t.Error("placeholders left")
				}
				return
			}
			var me *MissingSecretError
			if !errors.As(err, &me) {
				t.Fatalf("Backfill = %v, %v; want a *MissingSecretError", got, err)
			}
			if me.SourceID != tt.wantID || me.Field != tt.wantField {
				t.Errorf("error names %q/%q, want %q/%q", me.SourceID, me.Field, tt.wantID, tt.wantField)
			}
			assertNoURLSecret(t, "error", err.Error())
			if strings.Contains(err.Error(), "evil") {
				t.Errorf("error %q quotes the url", err)
			}
		})
	}
}

func TestHideCustomURLCredentials(t *testing.T) {
	stored := "[" + httpCreds + "," + httpOK + "]"
	hidden, err := HideCustom(stored)
	if err != nil {
		t.Fatal(err)
	}
	assertNoURLSecret(t, "HideCustom", hidden)
	var arr []map[string]any
	if err := json.Unmarshal([]byte(hidden), &arr); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(arr[0]["url"].(string))
	if err != nil || u.Host != "mirror.example.com" || u.Path != "/syms/" || u.User.Username() != project.HiddenUserinfo {
		t.Errorf("hidden url %v (%v): want the same server and path, the placeholder as user", arr[0]["url"], err)
	}
	back, err := BackfillCustom(hidden, stored)
	if err != nil {
		t.Fatalf("BackfillCustom(HideCustom(x), x): %v", err)
	}
	if !jsonEqual(t, json.RawMessage(back), stored) {
		t.Errorf("round trip:\n got %s\nwant %s", back, stored)
	}
}

func TestBackfillCustomURLCredentials(t *testing.T) {
	stored := "[" + httpCreds + "," + httpOK + "]"
	hiddenURL := `"https://%5Bhidden-secret%5D@mirror.example.com/syms/"`
	withURL := func(u string) string {
		return strings.Replace(httpCreds, `"https://ci:url-s3cret@mirror.example.com/syms/"`, u, 1)
	}
	pwPlaceholder := strings.Replace(httpOK, `"hunter2"`, `{"hidden-secret":true}`, 1)
	tests := []struct {
		name      string
		newRaw    string
		want      string // JSON; "" for an error
		wantField string
		wantMsg   string
	}{
		{name: "as read", newRaw: "[" + withURL(hiddenURL) + "]", want: "[" + httpCreds + "]"},
		{name: "raw placeholder accepted", newRaw: "[" + withURL(`"https://[hidden-secret]@mirror.example.com/syms/"`) + "]", want: "[" + httpCreds + "]"},
		{name: "new password replaces", newRaw: "[" + withURL(`"https://ci:new@mirror.example.com/syms/"`) + "]",
			want: "[" + withURL(`"https://ci:new@mirror.example.com/syms/"`) + "]"},
		{name: "path changed, credentials kept", newRaw: "[" + withURL(`"https://%5Bhidden-secret%5D@mirror.example.com/v2/"`) + "]",
			want: "[" + withURL(`"https://ci:url-s3cret@mirror.example.com/v2/"`) + "]"},
		{name: "credentials removed", newRaw: "[" + withURL(`"https://mirror.example.com/syms/"`) + "]",
			want: "[" + withURL(`"https://mirror.example.com/syms/"`) + "]"},
		{name: "new host with new credentials", newRaw: "[" + withURL(`"https://bob:pw@new.example/"`) + "]",
			want: "[" + withURL(`"https://bob:pw@new.example/"`) + "]"},
		{name: "hidden credentials to another host", newRaw: "[" + withURL(`"https://%5Bhidden-secret%5D@evil.example/syms/"`) + "]",
			wantField: "symbol_sources[0].url", wantMsg: "host or port differs"},
		{name: "hidden credentials to another port", newRaw: "[" + withURL(`"https://%5Bhidden-secret%5D@mirror.example.com:8443/syms/"`) + "]",
			wantField: "symbol_sources[0].url", wantMsg: "differs"},
		{name: "hidden credentials over plain http", newRaw: "[" + withURL(`"http://%5Bhidden-secret%5D@mirror.example.com/syms/"`) + "]",
			wantField: "symbol_sources[0].url", wantMsg: "differs"},
		{name: "hidden password to another host", newRaw: "[" + strings.Replace(pwPlaceholder, "symbols.example.com", "evil.example", 1) + "]",
			wantField: "symbol_sources[0].password", wantMsg: "send the password again"},
		{name: "hidden password, same server, new path", newRaw: "[" + strings.Replace(pwPlaceholder, "/x/", "/y/", 1) + "]",
			want: "[" + strings.Replace(httpOK, "/x/", "/y/", 1) + "]"},
		{name: "hidden credentials, nothing stored for the id", newRaw: "[" + strings.Replace(withURL(hiddenURL), `"mirror"`, `"other"`, 1) + "]",
			wantField: "symbol_sources[0]", wantMsg: `no saved source with id "other"`},
		{name: "hidden credentials, stored url has none", newRaw: "[" + strings.Replace(withURL(hiddenURL), `"mirror"`, `"web"`, 1) + "]",
			wantField: "symbol_sources[0].url", wantMsg: "no credentials"},
		{name: "hidden credentials in a field that holds none", newRaw: "[" + strings.Replace(withURL(hiddenURL), `"Mirror"`, `"see https://%5Bhidden-secret%5D@x/"`, 1) + "]",
			wantField: "symbol_sources[0].name", wantMsg: "no credentials"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := BackfillCustom(tt.newRaw, stored)
			if tt.wantField == "" {
				if err != nil {
					t.Fatalf("BackfillCustom: %v", err)
				}
				if !jsonEqual(t, json.RawMessage(got), tt.want) {
					t.Errorf("got  %s\nwant %s", got, tt.want)
				}
				if _, err := ParseCustom(got); err != nil {
					t.Errorf("result does not parse: %v", err)
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("BackfillCustom = %q, %v; want a *ValidationError", got, err)
			}
			if ve.Field != tt.wantField || !strings.Contains(ve.Message, tt.wantMsg) {
				t.Errorf("error %q, want field %q and message containing %q", err, tt.wantField, tt.wantMsg)
			}
			assertNoURLSecret(t, "error", err.Error())
			for _, s := range append(secretsInFixtures, "evil.example") {
				if strings.Contains(err.Error(), s) {
					t.Errorf("error %q quotes %q", err, s)
				}
			}
		})
	}
}

// TestValidationErrorsHideURLCredentials: a refused source never has its
// URL credentials quoted back, whichever field names them.
func TestValidationErrorsHideURLCredentials(t *testing.T) {
	for _, raw := range []string{
		`[{"type":"http","id":"x","url":"ftp://ci:url-s3cret@h/","layout":{"type":"native"}}]`,
		`[{"type":"http","id":"x","url":"https://ci:url-s3cret@h/","layout":{"type":"https://ci:url-s3cret@h/"}}]`,
		`[{"type":"https://ci:url-s3cret@h/","id":"x"}]`,
		`[{"type":"http","id":"https://ci:url-s3cret@h/","url":"https://h/","layout":{"type":"native"}},{"type":"http","id":"https://ci:url-s3cret@h/","url":"https://h/","layout":{"type":"native"}}]`,
		`[{"type":"http","id":"x","url":"https://h/","layout":{"type":"native"},"https://ci:url-s3cret@h/":1}]`,
		`[{"type":"http","id":"x","url":"https://%5Bhidden-secret%5D@h/","layout":{"type":"native"}}]`,
	} {
		_, err := ParseCustom(raw)
		if err == nil {
			t.Errorf("ParseCustom(%s) accepted", raw)
			continue
		}
		assertNoURLSecret(t, "error", err.Error())
	}
}

func TestProcessResponseHidesURLCredentials(t *testing.T) {
	resp := map[string]any{
		"status":  "completed",
		"message": `download failed: Get "https://ci:url-s3cret@mirror.example.com/syms/x": EOF`,
		"modules": []any{map[string]any{"candidates": []any{
			map[string]any{"source": "mirror", "location": "https://ci:url-s3cret@mirror.example.com/syms/ab/cdef", "download": map[string]any{"status": "ok"}},
			map[string]any{"source": "mirror", "location": "https://mirror.example.com/syms/other", "download": map[string]any{
				"status": "error", "details": `Get "https://tok-s3cret@mirror.example.com/syms/other": dial tcp: refused`}},
		}}},
	}
	out := ProcessResponse(resp, ResponseContext{SourceNames: map[string]string{"mirror": "Mirror"}})
	b, _ := json.Marshal(out)
	assertNoURLSecret(t, "processed response", string(b))
	cands := out["modules"].([]any)[0].(map[string]any)["candidates"].([]any)
	if loc := cands[0].(map[string]any)["location"]; loc != "https://%5Bhidden-secret%5D@mirror.example.com/syms/ab/cdef" {
		t.Errorf("location = %v", loc)
	}
	if loc := cands[1].(map[string]any)["location"]; loc != "https://mirror.example.com/syms/other" {
		t.Errorf("a location without credentials changed: %v", loc)
	}
	in, _ := json.Marshal(resp)
	if !strings.Contains(string(in), "url-s3cret") {
		t.Error("ProcessResponse changed its argument")
	}
}

// TestForProjectURLCredentials follows a project whose custom source and
// Sentry URL prefix carry credentials through the workflow's path: what
// LookupSources puts in state holds none, and what SubmitTask sends
// Symbolicator holds them all.
func TestForProjectURLCredentials(t *testing.T) {
	p := baseProject()
	p.Organization.Features = []string{project.FeatureCustomSymbolSources}
	p.Options.SymbolSources = "[" + strings.Replace(httpCreds, `"Mirror"`, `"Mirror at https://ci:url-s3cret@mirror.example.com/"`, 1) + "]"
	s := project.Settings{InternalURLPrefix: "https://tok-s3cret@sentry.example", SystemToken: "sys-token"}
	list, rc := ForProject(p, s, "ev", now, nil)
	b, _ := json.Marshal(Hide(list))
	assertNoURLSecret(t, "hidden list", string(b))
	rcJSON, _ := json.Marshal(rc)
	assertNoURLSecret(t, "response context", string(rcJSON))
	var fromState List
	if err := json.Unmarshal(b, &fromState); err != nil {
		t.Fatal(err)
	}
	stored, _ := ForProject(p, s, "ev", now, nil)
	full, err := Backfill(fromState, stored)
	if err != nil {
		t.Fatal(err)
	}
	sent, _ := json.Marshal(full)
	for _, want := range []string{"https://ci:url-s3cret@mirror.example.com/syms/", "https://tok-s3cret@sentry.example/api/0/"} {
		if !strings.Contains(string(sent), want) {
			t.Errorf("the list sent to Symbolicator lacks %s: %s", want, sent)
		}
	}
}

// FuzzBackfillCustom writes any value over any stored one and checks the
// redirection rule: whenever the saved value holds a stored credential
// (a password or a URL's userinfo) that the written value did not spell
// out, the source's url still names the stored url's server.
func FuzzBackfillCustom(f *testing.F) {
	stored := "[" + httpCreds + "," + httpOK + "]"
	hidden, _ := HideCustom(stored)
	f.Add(hidden, stored)
	f.Add(strings.Replace(hidden, "mirror.example.com", "evil.example", 1), stored)
	f.Add(strings.Replace(hidden, "symbols.example.com", "evil.example", 1), stored)
	f.Add(`[{"type":"http","id":"web","url":"https://%5Bhidden-secret%5D@h/","password":{"hidden-secret":true},"layout":{"type":"native"}}]`,
		`[{"type":"http","id":"web","url":"https://a:b@h/","password":"p","layout":{"type":"native"}}]`)
	f.Fuzz(func(t *testing.T, newRaw, storedRaw string) {
		got, err := BackfillCustom(newRaw, storedRaw)
		if err != nil {
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("error %v is a %T, want *ValidationError", err, err)
			}
			return
		}
		saved, err := ParseCustom(got)
		if err != nil {
			t.Fatalf("saved value does not parse: %v", err)
		}
		storedSources := storedByID(storedRaw)
		for _, src := range saved {
			orig, ok := storedSources[src.ID()]
			if !ok || src.Type() != TypeHTTP {
				continue
			}
			u, _ := src["url"].(string)
			su, _ := orig["url"].(string)
			if u == su || project.SameOrigin(u, su) {
				continue
			}
			if pw, _ := src["password"].(string); pw != "" && pw == orig["password"] && !strings.Contains(newRaw, pw) {
				t.Fatalf("stored password of %q sent to %q (stored url %q)", src.ID(), u, su)
			}
			pu, err1 := url.Parse(u)
			ps, err2 := url.Parse(su)
			if err1 == nil && err2 == nil && pu.User != nil && ps.User != nil && pu.User.String() == ps.User.String() &&
				!strings.Contains(newRaw, ps.User.String()) {
				t.Fatalf("stored url credentials of %q sent to %q (stored url %q)", src.ID(), u, su)
			}
		}
	})
}
