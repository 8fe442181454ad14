package sources

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"flag"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/symflow/symflow/shared/project"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func testCatalog(t *testing.T) json.RawMessage {
	t.Helper()
	raw, err := os.ReadFile("testdata/catalog.json")
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func baseProject() project.Project {
	return project.Project{
		ID:           "42",
		Slug:         "app",
		Organization: project.Organization{Slug: "acme"},
	}
}

func TestInternalSource(t *testing.T) {
	dsyms := "/api/0/projects/acme/app/files/dsyms/"
	tests := []struct {
		name     string
		settings project.Settings
		mutate   func(*project.Project)
		want     string // JSON; "" means no internal source
	}{
		{
			name:     "internal prefix as is",
			settings: project.Settings{InternalURLPrefix: "http://localhost:9000", PublicURLPrefix: "https://sentry.example.com", SystemToken: "sys"},
			want:     `{"type":"sentry","id":"sentry:project","url":"http://localhost:9000` + dsyms + `","token":"sys"}`,
		},
		{
			name:     "internal prefix trailing slashes removed",
			settings: project.Settings{InternalURLPrefix: "http://sentry-web:9000//", SystemToken: "sys"},
			want:     `{"type":"sentry","id":"sentry:project","url":"http://sentry-web:9000` + dsyms + `","token":"sys"}`,
		},
		{
			name:     "public prefix localhost rewritten",
			settings: project.Settings{PublicURLPrefix: "http://localhost:9000/", SystemToken: "sys"},
			want:     `{"type":"sentry","id":"sentry:project","url":"http://host.docker.internal:9000` + dsyms + `","token":"sys"}`,
		},
		{
			name:     "public prefix 127.0.0.1 rewritten",
			settings: project.Settings{PublicURLPrefix: "http://127.0.0.1:8000", SystemToken: "sys"},
			want:     `{"type":"sentry","id":"sentry:project","url":"http://host.docker.internal:8000` + dsyms + `","token":"sys"}`,
		},
		{
			name:     "public prefix elsewhere untouched",
			settings: project.Settings{PublicURLPrefix: "https://sentry.example.com/sub/", SystemToken: "sys"},
			want:     `{"type":"sentry","id":"sentry:project","url":"https://sentry.example.com/sub` + dsyms + `","token":"sys"}`,
		},
		{
			name:     "internal prefix is not rewritten",
			settings: project.Settings{InternalURLPrefix: "http://127.0.0.1:9000", SystemToken: "sys"},
			want:     `{"type":"sentry","id":"sentry:project","url":"http://127.0.0.1:9000` + dsyms + `","token":"sys"}`,
		},
		{
			name:     "upload an hour ago busts the cache",
			settings: project.Settings{InternalURLPrefix: "http://s", SystemToken: "sys"},
			mutate:   func(p *project.Project) { p.LastDebugFileUpload = now.Add(-time.Hour) },
			want:     `{"type":"sentry","id":"sentry:project","url":"http://s` + dsyms + `?_last_upload=1772362800000","token":"sys"}`,
		},
		{
			name:     "upload just under 24 h ago busts the cache",
			settings: project.Settings{InternalURLPrefix: "http://s", SystemToken: "sys"},
			mutate:   func(p *project.Project) { p.LastDebugFileUpload = now.Add(-24*time.Hour + time.Millisecond) },
			want:     `{"type":"sentry","id":"sentry:project","url":"http://s` + dsyms + `?_last_upload=1772280000001","token":"sys"}`,
		},
		{
			name:     "upload 24 h ago does not",
			settings: project.Settings{InternalURLPrefix: "http://s", SystemToken: "sys"},
			mutate:   func(p *project.Project) { p.LastDebugFileUpload = now.Add(-24 * time.Hour) },
			want:     `{"type":"sentry","id":"sentry:project","url":"http://s` + dsyms + `","token":"sys"}`,
		},
		{
			name:     "upload time in the future (clock skew) busts the cache",
			settings: project.Settings{InternalURLPrefix: "http://s", SystemToken: "sys"},
			mutate:   func(p *project.Project) { p.LastDebugFileUpload = now.Add(time.Minute) },
			want:     `{"type":"sentry","id":"sentry:project","url":"http://s` + dsyms + `?_last_upload=1772366460000","token":"sys"}`,
		},
		{
			name:     "slugs are path-escaped",
			settings: project.Settings{InternalURLPrefix: "http://s", SystemToken: "sys"},
			mutate:   func(p *project.Project) { p.Slug = "a/b c"; p.Organization.Slug = "x?y" },
			want:     `{"type":"sentry","id":"sentry:project","url":"http://s/api/0/projects/x%3Fy/a%2Fb%20c/files/dsyms/","token":"sys"}`,
		},
		{
			name:     "symflow bucket when no prefix",
			settings: project.Settings{DebugFilesBucket: "symflow-debug-files", DebugFilesRegion: "eu-central-1", SystemToken: "unused"},
			want:     `{"type":"s3","id":"sentry:project","bucket":"symflow-debug-files","prefix":"42/","region":"eu-central-1","aws_credentials_provider":"container","layout":{"type":"unified"}}`,
		},
		{
			name:     "symflow bucket default region",
			settings: project.Settings{DebugFilesBucket: "b"},
			want:     `{"type":"s3","id":"sentry:project","bucket":"b","prefix":"42/","region":"us-east-1","aws_credentials_provider":"container","layout":{"type":"unified"}}`,
		},
		{
			name:     "prefix wins over bucket",
			settings: project.Settings{PublicURLPrefix: "https://s", DebugFilesBucket: "b", SystemToken: "t"},
			want:     `{"type":"sentry","id":"sentry:project","url":"https://s` + dsyms + `","token":"t"}`,
		},
		{
			name:     "nothing configured",
			settings: project.Settings{},
		},
		{
			name:     "only slashes is no prefix",
			settings: project.Settings{InternalURLPrefix: "///"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := baseProject()
			if tt.mutate != nil {
				tt.mutate(&p)
			}
			got, ok := InternalSource(p, tt.settings, now)
			if tt.want == "" {
				if ok {
					t.Fatalf("InternalSource = %v, want none", got)
				}
				return
			}
			if !ok {
				t.Fatal("no internal source")
			}
			if !jsonEqual(t, got, tt.want) {
				b, _ := json.Marshal(got)
				t.Errorf("got  %s\nwant %s", b, tt.want)
			}
		})
	}
}

func basicAuth(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

func TestForProjectCustomSources(t *testing.T) {
	settings := project.Settings{InternalURLPrefix: "http://sentry", SystemToken: "sys-token"}
	httpSrc := func(extra string) string {
		return `{"type":"http","id":"h","name":"H","url":"https://h.example/","layout":{"type":"native"}` + extra + `}`
	}
	tests := []struct {
		name      string
		features  []string
		projectID string
		eventID   string
		raw       string
		wantIDs   []string
		wantByID  map[string]string // id → expected JSON of that source
		wantLog   string            // substring of the log; "" means no warning
	}{
		{
			name:      "feature off: custom sources ignored",
			projectID: "42",
			raw:       "[" + httpSrc(`,"username":"u","password":"p"`) + "]",
			wantIDs:   []string{"sentry:project"},
		},
		{
			name:      "username and password become basic auth",
			features:  []string{project.FeatureCustomSymbolSources},
			projectID: "42", eventID: "ev",
			raw:     "[" + httpSrc(`,"username":"u","password":"p:w"`) + "]",
			wantIDs: []string{"sentry:project", "h"},
			wantByID: map[string]string{"h": `{"type":"http","id":"h","name":"H","url":"https://h.example/","layout":{"type":"native"},
				"headers":{"authorization":"` + basicAuth("u", "p:w") + `","x-sentry-project-id":"42","x-sentry-event-id":"ev"}}`},
		},
		{
			name:      "username only",
			features:  []string{project.FeatureCustomSymbolSources},
			projectID: "42",
			raw:       "[" + httpSrc(`,"username":"u"`) + "]",
			wantIDs:   []string{"sentry:project", "h"},
			wantByID: map[string]string{"h": `{"type":"http","id":"h","name":"H","url":"https://h.example/","layout":{"type":"native"},
				"headers":{"authorization":"` + basicAuth("u", "") + `","x-sentry-project-id":"42"}}`},
		},
		{
			name:     "password only",
			features: []string{project.FeatureCustomSymbolSources},
			eventID:  "ev",
			raw:      "[" + httpSrc(`,"password":"p"`) + "]",
			wantIDs:  []string{"sentry:project", "h"},
			wantByID: map[string]string{"h": `{"type":"http","id":"h","name":"H","url":"https://h.example/","layout":{"type":"native"},
				"headers":{"authorization":"` + basicAuth("", "p") + `","x-sentry-event-id":"ev"}}`},
		},
		{
			name:     "empty credentials: no authorization, no headers",
			features: []string{project.FeatureCustomSymbolSources},
			raw:      "[" + httpSrc(`,"username":"","password":""`) + "]",
			wantIDs:  []string{"sentry:project", "h"},
			wantByID: map[string]string{"h": httpSrc("")},
		},
		{
			name:      "no credentials: only the ids",
			features:  []string{project.FeatureCustomSymbolSources},
			projectID: "7", eventID: "abc",
			raw:     "[" + httpSrc("") + "]",
			wantIDs: []string{"sentry:project", "h"},
			wantByID: map[string]string{"h": `{"type":"http","id":"h","name":"H","url":"https://h.example/","layout":{"type":"native"},
				"headers":{"x-sentry-project-id":"7","x-sentry-event-id":"abc"}}`},
		},
		{
			name:      "s3 and gcs pass unchanged",
			features:  []string{project.FeatureCustomSymbolSources},
			projectID: "42", eventID: "ev",
			raw:      "[" + s3OK + "," + gcsOK + "]",
			wantIDs:  []string{"sentry:project", "bucket", "gcs"},
			wantByID: map[string]string{"bucket": s3OK, "gcs": gcsOK},
		},
		{
			name:     "appStoreConnect dropped",
			features: []string{project.FeatureCustomSymbolSources},
			raw:      "[" + ascOK + "," + s3OK + "]",
			wantIDs:  []string{"sentry:project", "bucket"},
		},
		{
			// A stored legacy entry Sentry would not validate must not make
			// every custom source of the project disappear.
			name:     "malformed appStoreConnect entry does not hide the others",
			features: []string{project.FeatureCustomSymbolSources},
			raw:      `[{"type":"appStoreConnect","id":"sentry:old","extra":1},` + s3OK + `,{"type":"appStoreConnect"}]`,
			wantIDs:  []string{"sentry:project", "bucket"},
		},
		{
			name:     "invalid JSON skipped and logged",
			features: []string{project.FeatureCustomSymbolSources},
			raw:      `[{"type":"http","password":"hunter2"`,
			wantIDs:  []string{"sentry:project", "sentry:zeta"},
			wantLog:  "symbol_sources: invalid JSON",
		},
		{
			name:     "one bad entry skips the list, not the other sources",
			features: []string{project.FeatureCustomSymbolSources},
			raw:      "[" + httpOK + "," + s3OK + `,{"type":"http","id":"x","url":"https://h/","password":"hunter2","layout":{"type":"foo"}}]`,
			wantIDs:  []string{"sentry:project", "sentry:zeta"},
			wantLog:  `symbol_sources[2].layout.type: unknown layout type \"foo\"`,
		},
		{
			name:     "wrong type skipped",
			features: []string{project.FeatureCustomSymbolSources},
			raw:      `{"sources":[]}`,
			wantIDs:  []string{"sentry:project", "sentry:zeta"},
			wantLog:  "must be a JSON array, got object",
		},
		{
			name:     "unknown source type skipped",
			features: []string{project.FeatureCustomSymbolSources},
			raw:      `[{"type":"ftp","id":"f","password":"hunter2"}]`,
			wantIDs:  []string{"sentry:project", "sentry:zeta"},
			wantLog:  `unknown source type \"ftp\"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := baseProject()
			p.ID = tt.projectID
			p.Organization.Features = tt.features
			p.Options.SymbolSources = tt.raw
			s := settings
			if tt.wantLog != "" {
				// A broken list must not take the builtin sources with it.
				p.Options.BuiltinSymbolSources = []string{"zeta"}
				s.BuiltinCatalog = testCatalog(t)
			}
			var logs bytes.Buffer
			log := slog.New(slog.NewJSONHandler(&logs, nil))
			got, _ := ForProject(p, s, tt.eventID, now, log)
			if ids := got.IDs(); !reflect.DeepEqual(ids, tt.wantIDs) {
				t.Errorf("ids = %q, want %q", ids, tt.wantIDs)
			}
			for _, src := range got {
				if want, ok := tt.wantByID[src.ID()]; ok && !jsonEqual(t, src, want) {
					b, _ := json.Marshal(src)
					t.Errorf("source %s:\n got %s\nwant %s", src.ID(), b, want)
				}
			}
			if tt.wantLog == "" {
				if logs.Len() != 0 {
					t.Errorf("unexpected log: %s", logs.String())
				}
				return
			}
			if !strings.Contains(logs.String(), tt.wantLog) {
				t.Errorf("log %s does not contain %q", logs.String(), tt.wantLog)
			}
			if !strings.Contains(logs.String(), `"level":"WARN"`) {
				t.Errorf("log is not a warning: %s", logs.String())
			}
			for _, secret := range append(secretsInFixtures, "sys-token") {
				if strings.Contains(logs.String(), secret) {
					t.Errorf("log leaks %q: %s", secret, logs.String())
				}
			}
		})
	}
}

func TestForProjectCustomSourcesNotShared(t *testing.T) {
	// Normalizing must not change what ParseCustom returned or a later call.
	p := baseProject()
	p.Organization.Features = []string{project.FeatureCustomSymbolSources}
	p.Options.SymbolSources = "[" + httpOK + "]"
	s := project.Settings{InternalURLPrefix: "http://s"}
	first, _ := ForProject(p, s, "e1", now, nil)
	second, _ := ForProject(p, s, "e2", now, nil)
	h1 := first[1]["headers"].(map[string]any)
	h2 := second[1]["headers"].(map[string]any)
	if h1["x-sentry-event-id"] != "e1" || h2["x-sentry-event-id"] != "e2" {
		t.Errorf("event ids %v, %v; want e1, e2", h1["x-sentry-event-id"], h2["x-sentry-event-id"])
	}
}

func TestForProjectBuiltinSources(t *testing.T) {
	tests := []struct {
		name     string
		catalog  bool // use testdata/catalog.json instead of the embedded one
		enabled  []string
		ignored  []string
		noPrefix bool
		wantIDs  []string
	}{
		{
			name:    "embedded catalog in catalog order, not option order",
			enabled: []string{"ubuntu", "electron", "microsoft"},
			wantIDs: []string{"sentry:project", "sentry:microsoft", "sentry:electron", "sentry:ubuntu"},
		},
		{
			name:    "unknown keys skipped",
			enabled: []string{"nope", "nvidia", ""},
			wantIDs: []string{"sentry:project", "sentry:nvidia"},
		},
		{
			name:    "embedded ios alias names entries a deployment supplies",
			enabled: []string{"ios"},
			wantIDs: []string{"sentry:project"},
		},
		{
			name:    "none enabled",
			wantIDs: []string{"sentry:project"},
		},
		{
			name:    "alias expands in order, unknown member skipped",
			catalog: true,
			enabled: []string{"ios"},
			wantIDs: []string{"sentry:project", "sentry:ios-source", "sentry:tvos-source"},
		},
		{
			name:    "nested alias expands recursively",
			catalog: true,
			enabled: []string{"apple"},
			wantIDs: []string{"sentry:project", "sentry:ios-source", "sentry:tvos-source", "sentry:macos-source"},
		},
		{
			name:    "source enabled directly and through an alias is sent once, at its first place",
			catalog: true,
			enabled: []string{"apple", "ios-source", "zeta"},
			wantIDs: []string{"sentry:project", "sentry:zeta", "sentry:ios-source", "sentry:tvos-source", "sentry:macos-source"},
		},
		{
			name:    "alias cycle is cut",
			catalog: true,
			enabled: []string{"loop-a"},
			wantIDs: []string{"sentry:project", "sentry:alpha", "sentry:zeta"},
		},
		{
			name:    "both ends of a cycle enabled",
			catalog: true,
			enabled: []string{"loop-b", "loop-a"},
			wantIDs: []string{"sentry:project", "sentry:alpha", "sentry:zeta"},
		},
		{
			name:    "ignored by own id",
			enabled: []string{"microsoft", "nuget", "ubuntu"},
			ignored: []string{"sentry:nuget"},
			wantIDs: []string{"sentry:project", "sentry:microsoft", "sentry:ubuntu"},
		},
		{
			name:    "ignored by own id when produced by an alias",
			catalog: true,
			enabled: []string{"ios"},
			ignored: []string{"sentry:tvos-source"},
			wantIDs: []string{"sentry:project", "sentry:ios-source"},
		},
		{
			name:    "ignored by the alias that produced it",
			catalog: true,
			enabled: []string{"ios", "zeta"},
			ignored: []string{"sentry:ios"},
			wantIDs: []string{"sentry:project", "sentry:zeta"},
		},
		{
			name:    "ignored by an outer alias",
			catalog: true,
			enabled: []string{"apple"},
			ignored: []string{"sentry:apple"},
			wantIDs: []string{"sentry:project"},
		},
		{
			name:    "ignored by an inner alias of a nested one",
			catalog: true,
			enabled: []string{"apple"},
			ignored: []string{"sentry:ios"},
			wantIDs: []string{"sentry:project", "sentry:macos-source"},
		},
		{
			name:    "ignored by alias even when enabled directly",
			catalog: true,
			enabled: []string{"tvos-source", "macos-source"},
			ignored: []string{"sentry:ios"},
			wantIDs: []string{"sentry:project", "sentry:macos-source"},
		},
		{
			name:    "ignore list by key does nothing",
			enabled: []string{"microsoft"},
			ignored: []string{"microsoft"},
			wantIDs: []string{"sentry:project", "sentry:microsoft"},
		},
		{
			name:    "internal source can be ignored",
			enabled: []string{"microsoft"},
			ignored: []string{"sentry:project"},
			wantIDs: []string{"sentry:microsoft"},
		},
		{
			name:     "no internal source configured",
			enabled:  []string{"microsoft"},
			noPrefix: true,
			wantIDs:  []string{"sentry:microsoft"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := baseProject()
			p.Options.BuiltinSymbolSources = tt.enabled
			s := project.Settings{InternalURLPrefix: "http://s", IgnoredSourceIDs: tt.ignored}
			if tt.noPrefix {
				s.InternalURLPrefix = ""
			}
			if tt.catalog {
				s.BuiltinCatalog = testCatalog(t)
			}
			got, _ := ForProject(p, s, "", now, nil)
			if ids := got.IDs(); !reflect.DeepEqual(ids, tt.wantIDs) {
				t.Errorf("ids = %q, want %q", ids, tt.wantIDs)
			}
		})
	}
}

func TestForProjectBrokenCatalog(t *testing.T) {
	tests := []struct {
		name    string
		catalog string
		wantIDs []string
		wantLog string
	}{
		{"invalid JSON", `{"a":`, []string{"sentry:project", "h"}, "builtin catalog"},
		{"entry without id", `{"microsoft":{"type":"http"}}`, []string{"sentry:project", "h"}, `entry \"microsoft\": id must be`},
		{"null means the embedded catalog", `null`, []string{"sentry:project", "h", "sentry:microsoft"}, ""},
		{"blank means the embedded catalog", ` `, []string{"sentry:project", "h", "sentry:microsoft"}, ""},
		{"empty catalog", `{}`, []string{"sentry:project", "h"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := baseProject()
			p.Organization.Features = []string{project.FeatureCustomSymbolSources}
			p.Options.SymbolSources = `[{"type":"http","id":"h","url":"https://h/","layout":{"type":"native"}}]`
			p.Options.BuiltinSymbolSources = []string{"microsoft"}
			s := project.Settings{InternalURLPrefix: "http://s", BuiltinCatalog: json.RawMessage(tt.catalog)}
			var logs bytes.Buffer
			got, _ := ForProject(p, s, "", now, slog.New(slog.NewTextHandler(&logs, nil)))
			if ids := got.IDs(); !reflect.DeepEqual(ids, tt.wantIDs) {
				t.Errorf("ids = %q, want %q", ids, tt.wantIDs)
			}
			if tt.wantLog == "" && logs.Len() > 0 {
				t.Errorf("unexpected log %s", logs.String())
			}
			if !strings.Contains(logs.String(), tt.wantLog) {
				t.Errorf("log %q does not contain %q", logs.String(), tt.wantLog)
			}
		})
	}
}

func TestForProjectResponseContext(t *testing.T) {
	p := baseProject()
	p.Organization.Features = []string{project.FeatureCustomSymbolSources}
	p.Options.SymbolSources = `[{"type":"http","id":"named","name":"Named","url":"https://h/","layout":{"type":"native"}},` +
		`{"type":"http","id":"anon","url":"https://h/","layout":{"type":"native"}}]`
	p.Options.BuiltinSymbolSources = []string{"apple", "loop-b", "zeta"}
	s := project.Settings{InternalURLPrefix: "http://s", BuiltinCatalog: testCatalog(t), IgnoredSourceIDs: []string{"sentry:zeta"}}
	_, rc := ForProject(p, s, "", now, nil)
	want := ResponseContext{
		ReverseAliases: map[string]string{
			"sentry:ios-source":   "sentry:ios",
			"sentry:tvos-source":  "sentry:ios",
			"sentry:ios":          "sentry:apple",
			"sentry:macos-source": "sentry:apple",
			"sentry:loop-b":       "sentry:loop-a",
			"sentry:zeta":         "sentry:loop-a",
			"sentry:loop-a":       "sentry:loop-b",
			"sentry:alpha":        "sentry:loop-b",
		},
		SourceNames: map[string]string{
			"sentry:project":      "Sentry",
			"named":               "Named",
			"anon":                "unknown",
			"sentry:ios-source":   "iOS",
			"sentry:tvos-source":  "tvOS",
			"sentry:macos-source": "macOS",
			"sentry:alpha":        "Alpha",
			"sentry:zeta":         "Zeta", // ignored sources keep their name
			"sentry:ios":          "Apple (iOS)",
			"sentry:apple":        "Apple",
			"sentry:loop-a":       "Loop A",
			"sentry:loop-b":       "unknown",
		},
	}
	if !reflect.DeepEqual(rc, want) {
		t.Errorf("ResponseContext:\n got %+v\nwant %+v", rc, want)
	}
	// It travels in state: snake_case JSON that decodes back to the same.
	b, err := json.Marshal(rc)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"reverse_aliases":{`) || !strings.Contains(string(b), `"source_names":{`) {
		t.Errorf("JSON %s lacks snake_case keys", b)
	}
	var back ResponseContext
	if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back, want) {
		t.Errorf("round trip = %+v, %v", back, err)
	}
}

func TestForProjectEmptyContextIsJSONObjects(t *testing.T) {
	p := baseProject()
	_, rc := ForProject(p, project.Settings{BuiltinCatalog: json.RawMessage(`{}`)}, "", now, nil)
	b, _ := json.Marshal(rc)
	if string(b) != `{"reverse_aliases":{},"source_names":{"sentry:project":"Sentry"}}` {
		t.Errorf("got %s", b)
	}
}

// TestForProjectGolden pins the whole list for a project using every kind
// of source, hidden as it goes into state.
func TestForProjectGolden(t *testing.T) {
	p := baseProject()
	p.Organization.Features = []string{project.FeatureCustomSymbolSources}
	p.Options.SymbolSources = "[" + httpOK + "," + s3OK + "," + gcsOK + "," + ascOK + "]"
	p.Options.BuiltinSymbolSources = []string{"microsoft", "nuget", "citrix", "intel", "amd", "nvidia", "chromium",
		"unity", "mozilla", "autodesk", "electron", "ubuntu", "ios"}
	p.LastDebugFileUpload = now.Add(-time.Minute)
	s := project.Settings{PublicURLPrefix: "http://localhost:9000/", SystemToken: "sys-token", IgnoredSourceIDs: []string{"sentry:citrix"}}
	list, rc := ForProject(p, s, "0123456789abcdef0123456789abcdef", now, nil)
	got, err := json.MarshalIndent(map[string]any{"sources": Hide(list), "context": rc}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "forproject.golden.json", got)
	for _, secret := range append(secretsInFixtures, "sys-token", basicAuth("alice", "hunter2")) {
		if strings.Contains(string(got), secret) {
			t.Errorf("hidden list leaks %q", secret)
		}
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	got = append(bytes.TrimSpace(got), '\n')
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (run go test -update if the change is intended):\n got %s\nwant %s", path, got, want)
	}
}

func BenchmarkForProject(b *testing.B) {
	p := baseProject()
	p.Organization.Features = []string{project.FeatureCustomSymbolSources}
	p.Options.SymbolSources = "[" + httpOK + "," + s3OK + "," + gcsOK + "]"
	p.Options.BuiltinSymbolSources = DefaultCatalog().Keys()
	s := project.Settings{InternalURLPrefix: "http://s", SystemToken: "t", IgnoredSourceIDs: []string{"sentry:nuget"}}
	for b.Loop() {
		list, _ := ForProject(p, s, "ev", now, nil)
		_ = Hide(list)
	}
}
