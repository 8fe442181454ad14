package component

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/symflow/symflow/shared/project"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func testPreparer(t *testing.T) *Preparer {
	t.Helper()
	return NewPreparer(localRequester(t, 5*time.Second), slog.New(slog.DiscardHandler))
}

func TestPrepare(t *testing.T) {
	app := newTestApp(t)
	app.wantDependent["/options/dependent"] = `{"project":"p1","board":7}`
	base := app.server.URL
	p := testPreparer(t)

	dependsValues := []FieldValue{
		{Name: "project", Value: "p1"},
		{Name: "unrelated", Value: "x"},
		{Name: "board", Value: json.RawMessage("7")},
	}

	tests := []struct {
		name        string
		typ         string
		schema      string
		projectSlug string // testProject when empty
		noProject   bool
		values      []FieldValue
		noWebhook   bool
		want        string // compact JSON; {{BASE}} is the app's URL
		// On failure: what the error must say, and its type.
		wantErr         []string
		wantSchemaPath  string
		wantRequestErr  bool
		wantNoWebhook   bool
		wantInvalidResp bool
	}{
		// stacktrace-link
		{name: "stacktrace link", typ: TypeStacktraceLink,
			schema: `{"uri": "/stacktrace/redirect", "extra": {"k": [1, 2]}, "url": "stale"}`,
			want:   `{"uri":"/stacktrace/redirect","extra":{"k":[1,2]},"url":"{{BASE}}/stacktrace/redirect?installationId=` + testInstallation + `&projectSlug=backend"}`},
		{name: "stacktrace link without project", typ: TypeStacktraceLink, noProject: true,
			schema: `{"uri":"/st"}`,
			want:   `{"uri":"/st","url":"{{BASE}}/st?installationId=` + testInstallation + `"}`},
		{name: "stacktrace link escapes", typ: TypeStacktraceLink, projectSlug: "a&b c",
			schema: `{"uri":"/st"}`,
			want:   `{"uri":"/st","url":"{{BASE}}/st?installationId=` + testInstallation + `&projectSlug=a%26b+c"}`},
		{name: "stacktrace link missing uri", typ: TypeStacktraceLink, schema: `{"url":"x"}`,
			wantSchemaPath: "uri", wantErr: []string{"schema.uri: missing"}},
		{name: "stacktrace link uri not a string", typ: TypeStacktraceLink, schema: `{"uri":5}`,
			wantSchemaPath: "uri", wantErr: []string{"schema.uri: not a string but number"}},
		{name: "stacktrace link without webhook", typ: TypeStacktraceLink, schema: `{"uri":"/st"}`, noWebhook: true,
			wantNoWebhook: true, wantErr: []string{`"acme-tracker"`, "no webhook url"}},

		// issue-link
		{name: "issue link", typ: TypeIssueLink,
			schema: `{"link":{"uri":"/link","required_fields":[{"type":"select","name":"project","uri":"/options/good","async":true}],
				"optional_fields":[{"type":"select","name":"priority","options":[["p0","Urgent"],["p1","High"]]}]},
				"create":{"uri":"/create","required_fields":[{"type":"text","name":"title","default":"issue.title"}],
				"optional_fields":[{"type":"select","name":"column","depends_on":["project","board"],"uri":"/options/dependent"}]},
				"x-unknown":{"nested":[null,true]}}`,
			want: `{"link":{"uri":"/link","required_fields":[{"type":"select","name":"project","uri":"/options/good","async":true,"choices":[["p1","Project One"],[2,"Project <Two> & more"]]}],` +
				`"optional_fields":[{"type":"select","name":"priority","options":[["p0","Urgent"],["p1","High"]],"choices":[["p0","Urgent"],["p1","High"]]}]},` +
				`"create":{"uri":"/create","required_fields":[{"type":"text","name":"title","default":"issue.title"}],` +
				`"optional_fields":[{"type":"select","name":"column","depends_on":["project","board"],"uri":"/options/dependent","choices":[]}]},` +
				`"x-unknown":{"nested":[null,true]}}`},
		{name: "issue link depends_on satisfied", typ: TypeIssueLink, values: dependsValues,
			schema: `{"create":{"required_fields":[{"name":"column","depends_on":["project","board"],"uri":"/options/dependent"}]}}`,
			want:   `{"create":{"required_fields":[{"name":"column","depends_on":["project","board"],"uri":"/options/dependent","choices":[["p1/7","Column for board"]],"defaultValue":"p1/7"}]}}`},
		{name: "issue link depends_on partly satisfied", typ: TypeIssueLink, values: dependsValues[:2],
			schema: `{"create":{"required_fields":[{"name":"column","depends_on":["project","board"],"uri":"/options/dependent"}]}}`,
			want:   `{"create":{"required_fields":[{"name":"column","depends_on":["project","board"],"uri":"/options/dependent","choices":[]}]}}`},
		{name: "issue link depends_on with options", typ: TypeIssueLink, values: dependsValues,
			schema: `{"link":{"required_fields":[{"name":"c","depends_on":["project"],"options":[["a","A"]],"uri":"/options/never"}]}}`,
			want:   `{"link":{"required_fields":[{"name":"c","depends_on":["project"],"options":[["a","A"]],"uri":"/options/never","choices":[["a","A"]]}]}}`},
		{name: "issue link options win over uri", typ: TypeIssueLink,
			schema: `{"link":{"required_fields":[{"name":"c","options":[],"uri":"/options/never"}]}}`,
			want:   `{"link":{"required_fields":[{"name":"c","options":[],"uri":"/options/never","choices":[]}]}}`},
		{name: "issue link skip_load_on_open", typ: TypeIssueLink,
			schema: `{"link":{"required_fields":[{"name":"c","uri":"/options/never","skip_load_on_open":true}]}}`,
			want:   `{"link":{"required_fields":[{"name":"c","uri":"/options/never","skip_load_on_open":true}]}}`},
		{name: "issue link skip_load_on_open false", typ: TypeIssueLink,
			schema: `{"link":{"required_fields":[{"name":"c","uri":"/options/default","skip_load_on_open":false}]}}`,
			want:   `{"link":{"required_fields":[{"name":"c","uri":"/options/default","skip_load_on_open":false,"choices":[["low","Low"],["high","High"],["mid","Mid"]],"defaultValue":"high"}]}}`},
		{name: "issue link replaces stale choices", typ: TypeIssueLink,
			schema: `{"link":{"required_fields":[{"choices":[["old","Old"]],"defaultValue":"old","name":"c","uri":"/options/empty"}]}}`,
			want:   `{"link":{"required_fields":[{"choices":[],"defaultValue":"old","name":"c","uri":"/options/empty"}]}}`},
		{name: "issue link no sections", typ: TypeIssueLink, schema: `{"x":1}`, want: `{"x":1}`},
		{name: "issue link app error", typ: TypeIssueLink,
			schema:         `{"link":{"required_fields":[{"name":"a","options":[]}],"optional_fields":[{"name":"b","uri":"/options/bad-request"}]}}`,
			wantRequestErr: true, wantErr: []string{"link.optional_fields[0]", `"acme-tracker"`, "status 400", "Jira project not linked"}},
		{name: "issue link bad options", typ: TypeIssueLink,
			schema:          `{"link":{"required_fields":[{"name":"a","uri":"/options/missing-label"}]}}`,
			wantInvalidResp: true, wantErr: []string{"link.required_fields[0]", "option 1", `missing "label"`}},
		{name: "issue link field uri not a string", typ: TypeIssueLink,
			schema:         `{"create":{"optional_fields":[{"name":"a"},{"name":"b","uri":["/x"]}]}}`,
			wantSchemaPath: "create.optional_fields[1].uri", wantErr: []string{"schema.create.optional_fields[1].uri: not a string but array"}},
		{name: "issue link depends_on not an array", typ: TypeIssueLink,
			schema:         `{"link":{"required_fields":[{"name":"a","depends_on":"project"}]}}`,
			wantSchemaPath: "link.required_fields[0].depends_on", wantErr: []string{"not an array of field names"}},
		{name: "issue link depends_on null", typ: TypeIssueLink,
			schema:         `{"link":{"required_fields":[{"name":"a","depends_on":null}]}}`,
			wantSchemaPath: "link.required_fields[0].depends_on", wantErr: []string{"not an array of field names"}},
		{name: "issue link fields not an array", typ: TypeIssueLink,
			schema:         `{"link":{"required_fields":{"name":"a"}}}`,
			wantSchemaPath: "link.required_fields", wantErr: []string{"not a JSON array but object"}},
		{name: "issue link field not an object", typ: TypeIssueLink,
			schema:         `{"create":{"required_fields":[{"name":"a"},"b"]}}`,
			wantSchemaPath: "create.required_fields[1]", wantErr: []string{"not a JSON object but string"}},
		{name: "issue link section not an object", typ: TypeIssueLink, schema: `{"link":[]}`,
			wantSchemaPath: "link", wantErr: []string{"schema.link: not a JSON object but array"}},
		{name: "issue link schema not an object", typ: TypeIssueLink, schema: `[]`,
			wantSchemaPath: "", wantErr: []string{"schema: not a JSON object but array"}},
		{name: "issue link schema empty", typ: TypeIssueLink, schema: ``,
			wantSchemaPath: "", wantErr: []string{"schema: invalid JSON"}},
		{name: "issue link schema truncated", typ: TypeIssueLink, schema: `{"link":{"required_fields":[`,
			wantSchemaPath: "", wantErr: []string{"schema: invalid JSON"}},
		{name: "issue link trailing data", typ: TypeIssueLink, schema: `{} {}`,
			wantSchemaPath: "", wantErr: []string{"data after the object"}},
		{name: "issue link without webhook", typ: TypeIssueLink, noWebhook: true,
			schema:        `{"link":{"required_fields":[{"name":"a","uri":"/options/good"}]}}`,
			wantNoWebhook: true, wantErr: []string{"link.required_fields[0]", "no webhook url"}},
		{name: "issue link without webhook needs none", typ: TypeIssueLink, noWebhook: true,
			schema: `{"link":{"required_fields":[{"name":"a","options":[["x","X"]]}]}}`,
			want:   `{"link":{"required_fields":[{"name":"a","options":[["x","X"]],"choices":[["x","X"]]}]}}`},

		// alert-rule-action
		{name: "alert rule action", typ: TypeAlertRuleAction,
			schema: `{"title":"Create task","uri":"/alert","settings":{"type":"alert-rule-settings","uri":"/alert","required_fields":[{"type":"select","name":"team","uri":"/options/good"}],"optional_fields":[{"type":"select","name":"tags","options":[["t","T"]]},{"type":"select","name":"assignee","depends_on":["team"],"uri":"/options/never"}]}}`,
			want:   `{"title":"Create task","uri":"/alert","settings":{"type":"alert-rule-settings","uri":"/alert","required_fields":[{"type":"select","name":"team","uri":"/options/good","choices":[["p1","Project One"],[2,"Project <Two> & more"]]}],"optional_fields":[{"type":"select","name":"tags","options":[["t","T"]],"choices":[["t","T"]]},{"type":"select","name":"assignee","depends_on":["team"],"uri":"/options/never","choices":[]}]}}`},
		{name: "alert rule action ignores link", typ: TypeAlertRuleAction,
			schema: `{"link":{"required_fields":[{"name":"a","uri":"/options/never"}]}}`,
			want:   `{"link":{"required_fields":[{"name":"a","uri":"/options/never"}]}}`},
		{name: "alert rule action bad settings", typ: TypeAlertRuleAction, schema: `{"settings":"x"}`,
			wantSchemaPath: "settings", wantErr: []string{"schema.settings: not a JSON object but string"}},

		// other types
		{name: "unknown type untouched", typ: "issue-media",
			schema: "{ \"uri\" : \"/options/never\",\n \"options\": [1] }",
			want:   "{ \"uri\" : \"/options/never\",\n \"options\": [1] }"},
		{name: "unknown type not an object", typ: "future", schema: `[1,2]`, want: `[1,2]`},
		{name: "unknown type invalid JSON", typ: "future", schema: `{`,
			wantSchemaPath: "", wantErr: []string{"schema: invalid JSON"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inst := app.installation()
			if tt.noWebhook {
				inst.WebhookURL = ""
			}
			slug := tt.projectSlug
			if slug == "" && !tt.noProject {
				slug = testProject
			}
			app.mu.Lock()
			app.wantProject = slug
			app.mu.Unlock()
			c := project.Component{UUID: "comp-" + strings.ReplaceAll(tt.name, " ", "-"), Type: tt.typ, Schema: json.RawMessage(tt.schema)}
			got, err := p.Prepare(context.Background(), inst, c, slug, tt.values)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Prepare: %v", err)
				}
				want := strings.ReplaceAll(tt.want, "{{BASE}}", base)
				if string(got.Schema) != want {
					t.Errorf("schema = %s\nwant     %s", got.Schema, want)
				}
				if got.UUID != c.UUID || got.Type != c.Type {
					t.Errorf("prepared %s %s, want %s %s", got.UUID, got.Type, c.UUID, c.Type)
				}
				return
			}
			if err == nil {
				t.Fatalf("Prepare = %s, want an error", got.Schema)
			}
			for _, s := range append(tt.wantErr, c.UUID) {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not name %q", err, s)
				}
			}
			if strings.Contains(err.Error(), testSecret) {
				t.Errorf("error %q contains the client secret", err)
			}
			var schemaErr *SchemaError
			var reqErr *RequestError
			var invErr *InvalidResponseError
			switch {
			case tt.wantRequestErr:
				if !errors.As(err, &reqErr) {
					t.Errorf("error %T is no *RequestError", err)
				}
			case tt.wantInvalidResp:
				if !errors.As(err, &invErr) {
					t.Errorf("error %T is no *InvalidResponseError", err)
				}
			case tt.wantNoWebhook:
				if !errors.Is(err, ErrNoWebhookURL) {
					t.Errorf("error %v is no ErrNoWebhookURL", err)
				}
			default:
				if !errors.As(err, &schemaErr) {
					t.Fatalf("error %T is no *SchemaError", err)
				}
				if schemaErr.Path != tt.wantSchemaPath {
					t.Errorf("SchemaError.Path = %q, want %q", schemaErr.Path, tt.wantSchemaPath)
				}
			}
		})
	}
	if n := app.count("/options/never"); n != 0 {
		t.Errorf("app got %d requests for fields that must not load", n)
	}
}

// userinfoPattern matches a URL's scheme and userinfo.
var userinfoPattern = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9+.-]*://)[^/?#]*@`)

// TestPrepareStacktraceLinkURL checks stacktrace-link URLs against
// testdata/stacktrace-link-urls.json, written by Python's urllib.parse the
// way Sentry builds them: only the webhook URL's path and query are
// replaced, so its fragment and last-segment ";params" stay; its
// credentials are left out.
func TestPrepareStacktraceLinkURL(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "stacktrace-link-urls.json"))
	if err != nil {
		t.Fatal(err)
	}
	var fixture struct {
		Cases []struct {
			WebhookURL  string `json:"webhook_url"`
			URI         string `json:"uri"`
			ProjectSlug string `json:"project_slug"`
			URL         string `json:"url"`
		} `json:"cases"`
	}
	if err := json.Unmarshal(raw, &fixture); err != nil {
		t.Fatal(err)
	}
	if len(fixture.Cases) == 0 {
		t.Fatal("no cases in the fixture")
	}
	p := NewPreparer(nil, slog.New(slog.DiscardHandler)) // no request is made
	for _, tc := range fixture.Cases {
		t.Run(tc.WebhookURL+" "+tc.URI, func(t *testing.T) {
			inst := project.Installation{UUID: testInstallation, AppSlug: "acme-tracker", WebhookURL: tc.WebhookURL, ClientSecret: testSecret}
			schema, _ := json.Marshal(map[string]string{"uri": tc.URI})
			got, err := p.Prepare(context.Background(), inst,
				project.Component{UUID: "st", Type: TypeStacktraceLink, Schema: schema}, tc.ProjectSlug, nil)
			if err != nil {
				t.Fatalf("Prepare: %v", err)
			}
			var out struct {
				URL string `json:"url"`
			}
			if err := json.Unmarshal(got.Schema, &out); err != nil {
				t.Fatal(err)
			}
			// Sentry keeps the webhook URL's credentials in the link;
			// symflow drops them (the link is shown to users).
			want := userinfoPattern.ReplaceAllString(tc.URL, "$1")
			if out.URL != want {
				t.Errorf("url = %s\nwant  %s", out.URL, want)
			}
		})
	}
}

func TestPrepareIssueLinkGolden(t *testing.T) {
	app := newTestApp(t)
	app.wantDependent["/options/dependent"] = `{"project":"p1","board":"b2"}`
	schema, err := os.ReadFile(filepath.Join("testdata", "issue-link.json"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := testPreparer(t).Prepare(context.Background(), app.installation(),
		project.Component{UUID: "c0ffee00-0000-4000-8000-000000000001", Type: TypeIssueLink, Schema: schema},
		testProject, []FieldValue{{Name: "project", Value: "p1"}, {Name: "board", Value: "b2"}})
	if err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	var out strings.Builder
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(got); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "issue-link.golden.json")
	if *update {
		if err := os.WriteFile(golden, []byte(out.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if out.String() != string(want) {
		t.Errorf("prepared issue-link differs from %s (run go test -update after checking):\n%s", golden, out.String())
	}
}

// TestPrepareDependsOn checks Sentry's depends_on rule: the supplied values
// whose name is in depends_on are counted, each one, against the length of
// depends_on, each entry counted; only equal counts fetch, with
// dependentData the object of those values (keys in the order first
// supplied, the last value of a name winning, JSON types kept).
func TestPrepareDependsOn(t *testing.T) {
	bFirst := FieldValue{Name: "b", Value: "first"}
	aList := FieldValue{Name: "a", Value: []any{true, nil}}
	bObject := FieldValue{Name: "b", Value: json.RawMessage(`{"n":1.50}`)}
	cText := FieldValue{Name: "c", Value: "x<y"}
	tests := []struct {
		name      string
		dependsOn string
		values    []FieldValue
		want      string // dependentData sent; "" when no request is made
	}{
		{name: "every dependency once", dependsOn: `["a","b","c"]`, values: []FieldValue{aList, bObject, cText},
			want: `{"a":[true,null],"b":{"n":1.50},"c":"x<y"}`},
		{name: "unrelated values not counted", dependsOn: `["a","b"]`, values: []FieldValue{{Name: "z", Value: 1}, aList, {Name: "y", Value: 2}, bObject},
			want: `{"a":[true,null],"b":{"n":1.50}}`},
		{name: "one missing", dependsOn: `["a","b","c"]`, values: []FieldValue{aList, cText}},
		{name: "a value supplied twice counts twice", dependsOn: `["a","b","c"]`, values: []FieldValue{bFirst, aList, bObject, cText}},
		{name: "a value supplied twice stands in for a missing one", dependsOn: `["a","b","c"]`, values: []FieldValue{bFirst, aList, bObject},
			want: `{"b":{"n":1.50},"a":[true,null]}`},
		{name: "dependency named twice, one value", dependsOn: `["a","a"]`, values: []FieldValue{{Name: "a", Value: 1}}},
		{name: "dependency named twice, one value and an unrelated one", dependsOn: `["a","a"]`, values: []FieldValue{{Name: "a", Value: 1}, {Name: "b", Value: 2}}},
		{name: "dependency named twice, two values", dependsOn: `["a","a"]`, values: []FieldValue{{Name: "a", Value: 1}, {Name: "a", Value: 2}},
			want: `{"a":2}`},
		{name: "dependency named twice beside another, each once", dependsOn: `["a","b","a"]`, values: []FieldValue{{Name: "a", Value: 1}, {Name: "b", Value: 2}}},
		{name: "empty depends_on fetches with an empty object", dependsOn: `[]`, values: []FieldValue{{Name: "a", Value: 1}},
			want: `{}`},
		{name: "no values", dependsOn: `["a"]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app := newTestApp(t)
			app.wantDependent["/options/empty"] = tt.want
			schema := `{"link":{"required_fields":[{"name":"f","depends_on":` + tt.dependsOn + `,"uri":"/options/empty"}]}}`
			got, err := testPreparer(t).Prepare(context.Background(), app.installation(),
				project.Component{UUID: "c1", Type: TypeIssueLink, Schema: json.RawMessage(schema)}, testProject, tt.values)
			if err != nil {
				t.Fatalf("Prepare: %v", err)
			}
			if !strings.Contains(string(got.Schema), `"choices":[]`) {
				t.Errorf("schema = %s, want empty choices", got.Schema)
			}
			wantRequests := 0
			if tt.want != "" {
				wantRequests = 1
			}
			if n := app.count("/options/empty"); n != wantRequests {
				t.Errorf("app got %d requests, want %d", n, wantRequests)
			}
		})
	}
}

func TestPrepareDependentValueNotEncodable(t *testing.T) {
	app := newTestApp(t)
	schema := `{"link":{"required_fields":[{"name":"f","depends_on":["a","b"],"uri":"/options/empty"}]}}`
	_, err := testPreparer(t).Prepare(context.Background(), app.installation(),
		project.Component{UUID: "c1", Type: TypeIssueLink, Schema: json.RawMessage(schema)}, testProject,
		[]FieldValue{{Name: "b", Value: 1}, {Name: "a", Value: func() {}}})
	if err == nil || !strings.Contains(err.Error(), `value of "a"`) {
		t.Errorf("error = %v, want it to name the value of \"a\"", err)
	}
	if n := app.count("/options/empty"); n != 0 {
		t.Errorf("app got %d requests, want none", n)
	}
}

func TestPrepareAll(t *testing.T) {
	app := newTestApp(t)
	inst := app.installation()
	inst.Components = []project.Component{
		{UUID: "ok-1", Type: TypeIssueLink, Schema: json.RawMessage(`{"link":{"required_fields":[{"name":"a","uri":"/options/good"}]}}`)},
		{UUID: "fails-400", Type: TypeIssueLink, Schema: json.RawMessage(`{"link":{"required_fields":[{"name":"a","uri":"/options/bad-request"}]}}`)},
		{UUID: "ok-2", Type: TypeStacktraceLink, Schema: json.RawMessage(`{"uri":"/st"}`)},
		{UUID: "bad-schema", Type: TypeAlertRuleAction, Schema: json.RawMessage(`{"settings":{"required_fields":"x"}}`)},
		{UUID: "ok-3", Type: "other", Schema: json.RawMessage(`{"a":1}`)},
		{UUID: "fails-500", Type: TypeAlertRuleAction, Schema: json.RawMessage(`{"settings":{"required_fields":[{"name":"a","uri":"/options/server-error"}]}}`)},
	}
	noHook := project.Installation{
		UUID: "11111111-2222-3333-4444-555555555555", AppSlug: "no-hook", ClientSecret: "other-secret",
		Components: []project.Component{
			{UUID: "no-hook-1", Type: TypeStacktraceLink, Schema: json.RawMessage(`{"uri":"/st"}`)},
			{UUID: "no-hook-2", Type: TypeIssueLink, Schema: json.RawMessage(`{"link":{"required_fields":[{"name":"a","options":[]}]}}`)},
		},
	}
	results := testPreparer(t).PrepareAll(context.Background(), []project.Installation{inst, noHook}, testProject, 2)

	wantErr := map[string]string{
		"fails-400":  "Jira project not linked",
		"bad-schema": "schema.settings.required_fields: not a JSON array but string",
		"fails-500":  "status 500",
		"no-hook-1":  "no webhook url",
	}
	wantOrder := []string{"ok-1", "fails-400", "ok-2", "bad-schema", "ok-3", "fails-500", "no-hook-1", "no-hook-2"}
	if len(results) != len(wantOrder) {
		t.Fatalf("got %d results, want %d", len(results), len(wantOrder))
	}
	for i, r := range results {
		if r.ComponentUUID != wantOrder[i] {
			t.Errorf("result %d is %s, want %s", i, r.ComponentUUID, wantOrder[i])
		}
		if want, failed := wantErr[r.ComponentUUID]; failed {
			if r.Err == nil || !strings.Contains(r.Error, want) || r.Schema != nil {
				t.Errorf("%s: error %q, schema %s; want an error saying %q and no schema", r.ComponentUUID, r.Error, r.Schema, want)
			}
			continue
		}
		if r.Err != nil || r.Error != "" || !json.Valid(r.Schema) {
			t.Errorf("%s: error %q, schema %s; want a prepared schema", r.ComponentUUID, r.Error, r.Schema)
		}
	}
	var reqErr *RequestError
	if !errors.As(results[1].Err, &reqErr) || reqErr.StatusCode != 400 {
		t.Errorf("fails-400: Err = %v, want *RequestError with status 400", results[1].Err)
	}
	if results[0].Installation != testInstallation || results[0].AppSlug != "acme-tracker" || results[0].Type != TypeIssueLink {
		t.Errorf("result 0 = %+v, want installation, app and type filled in", results[0])
	}
	if string(results[4].Schema) != `{"a":1}` {
		t.Errorf("other type schema = %s, want it untouched", results[4].Schema)
	}

	b, err := json.Marshal(results)
	if err != nil {
		t.Fatalf("marshal results: %v", err)
	}
	for _, secret := range []string{testSecret, "other-secret"} {
		if strings.Contains(string(b), secret) {
			t.Errorf("results JSON contains a client secret: %s", b)
		}
	}
	var back []map[string]any
	if err := json.Unmarshal(b, &back); err != nil || len(back) != len(results) {
		t.Fatalf("results JSON does not read back: %v", err)
	}
	for _, key := range []string{"installation", "app_slug", "uuid", "type", "error"} {
		if _, ok := back[1][key]; !ok {
			t.Errorf("failed result JSON %v lacks %q", back[1], key)
		}
	}
	if _, ok := back[0]["schema"]; !ok {
		t.Errorf("prepared result JSON %v lacks schema", back[0])
	}
}

func TestPrepareAllCancelled(t *testing.T) {
	app := newTestApp(t)
	inst := app.installation()
	for range 5 {
		inst.Components = append(inst.Components, project.Component{UUID: "c", Type: TypeIssueLink,
			Schema: json.RawMessage(`{"link":{"required_fields":[{"name":"a","uri":"/options/good"}]}}`)})
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	results := testPreparer(t).PrepareAll(ctx, []project.Installation{inst}, testProject, 0)
	if len(results) != 5 {
		t.Fatalf("got %d results, want 5", len(results))
	}
	for i, r := range results {
		if !errors.Is(r.Err, context.Canceled) {
			t.Errorf("result %d: Err = %v, want context.Canceled", i, r.Err)
		}
	}
	if n := app.count("/options/good"); n != 0 {
		t.Errorf("app got %d requests after cancellation", n)
	}
}

func TestPrepareAllEmpty(t *testing.T) {
	if got := (&Preparer{}).PrepareAll(context.Background(), nil, "", 3); len(got) != 0 {
		t.Errorf("PrepareAll(nil) = %v, want none", got)
	}
}

// FuzzPrepare checks that no schema makes Prepare panic or return invalid
// JSON. The installation has no webhook URL, so nothing is sent anywhere.
func FuzzPrepare(f *testing.F) {
	for _, s := range []string{
		`{"link":{"required_fields":[{"name":"a","uri":"/x"}],"optional_fields":[{"options":[1]}]}}`,
		`{"create":{"optional_fields":[{"depends_on":["a"],"uri":"/y"}]}}`,
		`{"settings":{"required_fields":[{"depends_on":[],"options":null}]}}`,
		`{"uri":"/st","url":1}`, `[]`, `null`, `{"link":{"required_fields":[[]]}}`, `{"a":"\u00e9\ud800"}`,
	} {
		for _, typ := range []string{TypeIssueLink, TypeAlertRuleAction, TypeStacktraceLink} {
			f.Add(typ, s)
		}
	}
	p := &Preparer{Requester: NewSelectRequester(SafeClient(ClientOptions{}), slog.New(slog.DiscardHandler))}
	inst := project.Installation{UUID: "u", AppSlug: "app", ClientSecret: testSecret}
	values := []FieldValue{{Name: "a", Value: 1}}
	f.Fuzz(func(t *testing.T, typ, schema string) {
		got, err := p.Prepare(context.Background(), inst, project.Component{UUID: "c", Type: typ, Schema: json.RawMessage(schema)}, "proj", values)
		if err != nil {
			if strings.Contains(err.Error(), testSecret) {
				t.Fatalf("error leaks the secret: %v", err)
			}
			return
		}
		if len(got.Schema) > 0 && !json.Valid(got.Schema) {
			t.Fatalf("Prepare(%s, %q) = invalid JSON %q", typ, schema, got.Schema)
		}
	})
}
