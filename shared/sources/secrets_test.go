package sources

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/symflow/symflow/shared/project"
)

func mustList(t *testing.T, raw string) List {
	t.Helper()
	var l List
	if err := json.Unmarshal([]byte(raw), &l); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
	return l
}

func TestHide(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{
			name: "sentry token",
			in:   `[{"type":"sentry","id":"sentry:project","url":"http://s/","token":"sys"}]`,
			want: `[{"type":"sentry","id":"sentry:project","url":"http://s/","token":{"hidden-secret":true}}]`,
		},
		{
			name: "http authorization header, other headers kept",
			in:   `[{"type":"http","id":"h","url":"https://h/","headers":{"authorization":"Basic dTpw","x-sentry-project-id":"42"}}]`,
			want: `[{"type":"http","id":"h","url":"https://h/","headers":{"authorization":{"hidden-secret":true},"x-sentry-project-id":"42"}}]`,
		},
		{
			name: "authorization header in any case",
			in:   `[{"type":"http","id":"h","url":"https://h/","headers":{"Authorization":"Bearer t","User-Agent":"curl"}}]`,
			want: `[{"type":"http","id":"h","url":"https://h/","headers":{"Authorization":{"hidden-secret":true},"User-Agent":"curl"}}]`,
		},
		{
			name: "s3 secret_key, access_key kept",
			in:   `[{"type":"s3","id":"b","access_key":"AKIA","secret_key":"sk"}]`,
			want: `[{"type":"s3","id":"b","access_key":"AKIA","secret_key":{"hidden-secret":true}}]`,
		},
		{
			name: "gcs private_key",
			in:   `[{"type":"gcs","id":"g","client_email":"e","private_key":"pk"}]`,
			want: `[{"type":"gcs","id":"g","client_email":"e","private_key":{"hidden-secret":true}}]`,
		},
		{
			name: "un-normalized http password",
			in:   `[{"type":"http","id":"h","username":"u","password":"p"}]`,
			want: `[{"type":"http","id":"h","username":"u","password":{"hidden-secret":true}}]`,
		},
		{
			name: "empty secret is hidden too",
			in:   `[{"type":"sentry","id":"sentry:project","token":""}]`,
			want: `[{"type":"sentry","id":"sentry:project","token":{"hidden-secret":true}}]`,
		},
		{
			name: "nothing secret",
			in:   `[{"type":"http","id":"sentry:microsoft","url":"https://m/","layout":{"type":"symstore"}}]`,
			want: `[{"type":"http","id":"sentry:microsoft","url":"https://m/","layout":{"type":"symstore"}}]`,
		},
		{name: "empty", in: `[]`, want: `[]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := mustList(t, tt.in)
			got := Hide(in)
			if !jsonEqual(t, got, tt.want) {
				b, _ := json.Marshal(got)
				t.Errorf("got  %s\nwant %s", b, tt.want)
			}
			if !jsonEqual(t, in, tt.in) {
				t.Error("Hide changed its argument")
			}
			back, err := Backfill(got, in)
			if err != nil {
				t.Fatalf("Backfill: %v", err)
			}
			if !jsonEqual(t, back, tt.in) {
				b, _ := json.Marshal(back)
				t.Errorf("Backfill(Hide(l), l) = %s, want %s", b, tt.in)
			}
			if back.HasHidden() {
				t.Error("backfilled list still has placeholders")
			}
		})
	}
}

func TestHideBackfillRoundTripForProject(t *testing.T) {
	p := baseProject()
	p.Organization.Features = []string{project.FeatureCustomSymbolSources}
	p.Options.SymbolSources = "[" + httpOK + "," + s3OK + "," + gcsOK + "]"
	p.Options.BuiltinSymbolSources = []string{"apple", "zeta", "alpha"}
	s := project.Settings{InternalURLPrefix: "http://s", SystemToken: "sys-token", BuiltinCatalog: testCatalog(t)}
	list, _ := ForProject(p, s, "ev", now, nil)
	hidden := Hide(list)
	b, err := json.Marshal(hidden)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"sys-token", "hunter2", basicAuth("alice", "hunter2"), "s3cr3t-key",
		"BEGIN PRIVATE KEY", "catalog-secret", "catalog-private", "catalog-token"} {
		if strings.Contains(string(b), secret) {
			t.Errorf("hidden list leaks %q: %s", secret, b)
		}
	}
	if !hidden.HasHidden() {
		t.Error("HasHidden = false on a hidden list")
	}
	// As in the workflow: the hidden list goes through state as JSON, and
	// the stored list is computed again from the store.
	var fromState List
	if err := json.Unmarshal(b, &fromState); err != nil {
		t.Fatal(err)
	}
	stored, _ := ForProject(p, s, "ev", now.Add(time.Second), nil)
	back, err := Backfill(fromState, stored)
	if err != nil {
		t.Fatalf("Backfill: %v", err)
	}
	want, _ := json.Marshal(list)
	if !jsonEqual(t, back, string(want)) {
		got, _ := json.Marshal(back)
		t.Errorf("round trip:\n got %s\nwant %s", got, want)
	}
}

func TestBackfillErrors(t *testing.T) {
	tests := []struct {
		name      string
		hidden    string
		stored    string
		wantID    string
		wantField string
	}{
		{
			name:      "no stored source with that id",
			hidden:    `[{"type":"s3","id":"b","secret_key":{"hidden-secret":true}}]`,
			stored:    `[{"type":"s3","id":"other","secret_key":"sk"}]`,
			wantID:    "b",
			wantField: "secret_key",
		},
		{
			name:      "stored source lacks the field",
			hidden:    `[{"type":"sentry","id":"sentry:project","token":{"hidden-secret":true}}]`,
			stored:    `[{"type":"sentry","id":"sentry:project"}]`,
			wantID:    "sentry:project",
			wantField: "token",
		},
		{
			name:      "stored value is itself hidden",
			hidden:    `[{"type":"gcs","id":"g","private_key":{"hidden-secret":true}}]`,
			stored:    `[{"type":"gcs","id":"g","private_key":{"hidden-secret":true}}]`,
			wantID:    "g",
			wantField: "private_key",
		},
		{
			name:      "header without stored header",
			hidden:    `[{"type":"http","id":"h","headers":{"authorization":{"hidden-secret":true}}}]`,
			stored:    `[{"type":"http","id":"h","headers":{"x-sentry-project-id":"1"}}]`,
			wantID:    "h",
			wantField: "headers.authorization",
		},
		{
			name:      "stored headers not an object",
			hidden:    `[{"type":"http","id":"h","headers":{"authorization":{"hidden-secret":true}}}]`,
			stored:    `[{"type":"http","id":"h","headers":"Basic x"}]`,
			wantID:    "h",
			wantField: "headers.authorization",
		},
		{
			name:      "placeholder in an array beyond the stored one",
			hidden:    `[{"type":"x","id":"a","keys":["k",{"hidden-secret":true}]}]`,
			stored:    `[{"type":"x","id":"a","keys":["k"]}]`,
			wantID:    "a",
			wantField: "keys[1]",
		},
		{
			name:      "nothing stored",
			hidden:    `[{"type":"s3","id":"b","secret_key":{"hidden-secret":true}}]`,
			stored:    `[]`,
			wantID:    "b",
			wantField: "secret_key",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Backfill(mustList(t, tt.hidden), mustList(t, tt.stored))
			var me *MissingSecretError
			if !errors.As(err, &me) {
				t.Fatalf("Backfill = %v, %v; want a *MissingSecretError", got, err)
			}
			if me.SourceID != tt.wantID || me.Field != tt.wantField {
				t.Errorf("error names %q/%q, want %q/%q", me.SourceID, me.Field, tt.wantID, tt.wantField)
			}
			if !strings.Contains(err.Error(), tt.wantField) || !strings.Contains(err.Error(), tt.wantID) {
				t.Errorf("message %q does not name the source and field", err)
			}
			for _, v := range []string{"sk", "Basic x"} {
				if strings.Contains(err.Error(), `"`+v+`"`) {
					t.Errorf("message %q shows a stored value", err)
				}
			}
		})
	}
}

func TestBackfillFillsArraysAndKeepsOthers(t *testing.T) {
	hidden := mustList(t, `[{"type":"x","id":"a","keys":["k",{"hidden-secret":true}],"token":"new"},{"type":"y","id":"b"}]`)
	stored := mustList(t, `[{"type":"x","id":"a","keys":["old",{"v":1}],"token":"old"}]`)
	got, err := Backfill(hidden, stored)
	if err != nil {
		t.Fatal(err)
	}
	want := `[{"type":"x","id":"a","keys":["k",{"v":1}],"token":"new"},{"type":"y","id":"b"}]`
	if !jsonEqual(t, got, want) {
		b, _ := json.Marshal(got)
		t.Errorf("got %s, want %s", b, want)
	}
	// The filled value is a copy: changing it leaves stored alone.
	got[0]["keys"].([]any)[1].(map[string]any)["v"] = 2
	if !jsonEqual(t, stored, `[{"type":"x","id":"a","keys":["old",{"v":1}],"token":"old"}]`) {
		t.Error("Backfill shares values with stored")
	}
}

func TestHideCustom(t *testing.T) {
	tests := []struct {
		name, in, want string
		wantErr        string
	}{
		{name: "empty", in: "", want: ""},
		{
			// Legacy appStoreConnect entries are not shown, as Sentry's
			// configuration API drops them when it reads sources.
			name: "every secret field, legacy entries left out",
			in:   "[" + ascOK + "," + httpOK + "," + s3OK + `,{"type":"appStoreConnect"},` + gcsOK + "," + ascOK + "]",
			want: "[" + strings.Replace(httpOK, `"hunter2"`, `{"hidden-secret":true}`, 1) + "," +
				strings.Replace(s3OK, `"s3cr3t-key"`, `{"hidden-secret":true}`, 1) + "," +
				strings.Replace(gcsOK, `"-----BEGIN PRIVATE KEY-----xyz"`, `{"hidden-secret":true}`, 1) + "]",
		},
		{name: "only legacy entries", in: "[" + ascOK + "]", want: "[]"},
		{
			name: "fields of other types untouched",
			in:   `[{"type":"s3","id":"x","password":"not-a-field-of-s3"},"odd",1]`,
			want: `[{"type":"s3","id":"x","password":"not-a-field-of-s3"},"odd",1]`,
		},
		{name: "broken JSON", in: `[{"password":"hunter2"`, wantErr: "symbol_sources: invalid JSON"},
		{name: "not an array", in: `{"password":"hunter2"}`, wantErr: "symbol_sources: must be a JSON array, got object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := HideCustom(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("HideCustom = %q, %v; want error %q", got, err, tt.wantErr)
				}
				if got != "" || strings.Contains(err.Error(), "hunter2") {
					t.Errorf("broken input leaked: %q, %v", got, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.want == "" {
				if got != "" {
					t.Errorf("got %q, want empty", got)
				}
				return
			}
			if !jsonEqual(t, json.RawMessage(got), tt.want) {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestBackfillCustom(t *testing.T) {
	stored := "[" + httpOK + "," + s3OK + "," + gcsOK + "," + ascOK + "]"
	hidden, err := HideCustom(stored)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		newRaw    string
		storedRaw string
		want      string // JSON; "" for an error
		wantField string
		wantMsg   string
	}{
		{name: "read, then written back unchanged", newRaw: hidden, storedRaw: stored, want: "[" + httpOK + "," + s3OK + "," + gcsOK + "]"},
		{name: "empty", newRaw: "", storedRaw: stored, want: ""},
		{
			name:      "new secret replaces the stored one",
			newRaw:    `[{"type":"http","id":"web","url":"https://h/","password":"new-pass","layout":{"type":"native"}}]`,
			storedRaw: stored,
			want:      `[{"type":"http","id":"web","url":"https://h/","password":"new-pass","layout":{"type":"native"}}]`,
		},
		{
			name:      "other fields change, secret kept",
			newRaw:    `[{"type":"s3","id":"bucket","bucket":"new","region":"r","access_key":"a","secret_key":{"hidden-secret":true},"layout":{"type":"native"}}]`,
			storedRaw: stored,
			want:      `[{"type":"s3","id":"bucket","bucket":"new","region":"r","access_key":"a","secret_key":"s3cr3t-key","layout":{"type":"native"}}]`,
		},
		{
			name:      "reordered sources fill by id",
			newRaw:    `[` + strings.Replace(s3OK, `"s3cr3t-key"`, `{"hidden-secret":true}`, 1) + `,` + strings.Replace(httpOK, `"hunter2"`, `{"hidden-secret":true}`, 1) + `]`,
			storedRaw: stored,
			want:      `[` + s3OK + `,` + httpOK + `]`,
		},
		{
			name:      "broken stored value is fine when nothing is hidden",
			newRaw:    `[` + gcsOK + `]`,
			storedRaw: `[{"broken`,
			want:      `[` + gcsOK + `]`,
		},
		{
			name:      "hidden placeholder with no stored source",
			newRaw:    `[{"type":"http","id":"new","url":"https://h/","password":{"hidden-secret":true},"layout":{"type":"native"}}]`,
			storedRaw: stored,
			wantField: "symbol_sources[0].password",
			wantMsg:   `no saved source with id "new"`,
		},
		{
			name:      "hidden placeholder with nothing stored",
			newRaw:    `[` + gcsOK + `,{"type":"s3","id":"bucket","bucket":"b","region":"r","access_key":"a","secret_key":{"hidden-secret":true},"layout":{"type":"native"}}]`,
			storedRaw: "",
			wantField: "symbol_sources[1].secret_key",
			wantMsg:   "hidden secret has no stored value",
		},
		{
			name:      "hidden placeholder, stored value broken",
			newRaw:    hidden,
			storedRaw: `[{"type":"http","id":"web","password":"hunter2"`,
			wantField: "symbol_sources[0].password",
			wantMsg:   "hidden secret has no stored value",
		},
		{
			name:      "stored source has no such secret",
			newRaw:    `[{"type":"http","id":"web","url":"https://h/","password":{"hidden-secret":true},"layout":{"type":"native"}}]`,
			storedRaw: `[{"type":"http","id":"web","url":"https://h/","layout":{"type":"native"}}]`,
			wantField: "symbol_sources[0].password",
			wantMsg:   `saved source "web" has no password`,
		},
		{
			name:      "stored source of another type",
			newRaw:    `[{"type":"gcs","id":"bucket","bucket":"b","client_email":"e","private_key":{"hidden-secret":true},"layout":{"type":"native"}}]`,
			storedRaw: `[{"type":"s3","id":"bucket","private_key":"x"}]`,
			wantField: "symbol_sources[0].private_key",
			wantMsg:   "has no private_key",
		},
		{
			name:      "filled list is still validated: duplicate ids",
			newRaw:    `[` + strings.Replace(httpOK, `"hunter2"`, `{"hidden-secret":true}`, 1) + `,` + httpOK + `]`,
			storedRaw: stored,
			wantField: "symbol_sources[1].id",
			wantMsg:   "duplicate source id",
		},
		{
			name:      "filled list is still validated: sentry id",
			newRaw:    `[{"type":"http","id":"sentry:x","url":"https://h/","layout":{"type":"native"}}]`,
			storedRaw: stored,
			wantField: "symbol_sources[0].id",
			wantMsg:   "must not start with",
		},
		{
			name:      "filled list is still validated: unknown field",
			newRaw:    `[{"type":"http","id":"web","url":"https://symbols.example.com/x/","password":{"hidden-secret":true},"layout":{"type":"native"},"extra":true}]`,
			storedRaw: stored,
			wantField: "symbol_sources[0].extra",
			wantMsg:   "unknown field",
		},
		{
			name:      "placeholder in a field that is not a secret",
			newRaw:    `[{"type":"http","id":"web","url":"https://h/","username":{"hidden-secret":true},"layout":{"type":"native"}}]`,
			storedRaw: stored,
			wantField: "symbol_sources[0].username",
			wantMsg:   "hidden secret placeholder",
		},
		{
			// Sentry's write schema has no appStoreConnect kind.
			name:      "appStoreConnect refused on write",
			newRaw:    "[" + gcsOK + "," + ascOK + "]",
			storedRaw: stored,
			wantField: "symbol_sources[1].type",
			wantMsg:   `"appStoreConnect" sources are no longer supported`,
		},
		{
			name:      "appStoreConnect with a hidden key refused, not backfilled",
			newRaw:    "[" + strings.Replace(ascOK, `"pk-secret"`, `{"hidden-secret":true}`, 1) + "]",
			storedRaw: stored,
			wantField: "symbol_sources[0].type",
			wantMsg:   "no longer supported: remove this entry",
		},
		{
			name:      "malformed appStoreConnect refused by its type",
			newRaw:    `[{"type":"appStoreConnect"}]`,
			storedRaw: "",
			wantField: "symbol_sources[0].type",
			wantMsg:   "no longer supported",
		},
		{
			name:      "current schema accepted on write",
			newRaw:    `[{"type":"s3","id":"b","bucket":"","region":"","access_key":"a","secret_key":"s","layout":{"type":"native"},"is_public":true,"has_index":true,"platforms":["native"],"filters":{"filetypes":["dartsymbolmap"]}}]`,
			storedRaw: stored,
			want:      `[{"type":"s3","id":"b","bucket":"","region":"","access_key":"a","secret_key":"s","layout":{"type":"native"},"is_public":true,"has_index":true,"platforms":["native"],"filters":{"filetypes":["dartsymbolmap"]}}]`,
		},
		{name: "invalid JSON", newRaw: `[`, storedRaw: stored, wantField: "symbol_sources", wantMsg: "invalid JSON"},
		{name: "not an array", newRaw: `{}`, storedRaw: stored, wantField: "symbol_sources", wantMsg: "must be a JSON array"},
		{name: "entry not an object", newRaw: `[true]`, storedRaw: stored, wantField: "symbol_sources[0]", wantMsg: "must be a JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := BackfillCustom(tt.newRaw, tt.storedRaw)
			if tt.wantField == "" {
				if err != nil {
					t.Fatalf("BackfillCustom: %v", err)
				}
				if tt.want == "" {
					if got != "" {
						t.Errorf("got %q, want empty", got)
					}
					return
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
			for _, s := range secretsInFixtures {
				if strings.Contains(err.Error(), s) {
					t.Errorf("error %q leaks %q", err, s)
				}
			}
		})
	}
}
