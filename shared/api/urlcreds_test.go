package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/symflow/symflow/shared/api"
	"github.com/symflow/symflow/shared/dynamo"
	"github.com/symflow/symflow/shared/project"
)

// memProjects is a project store in memory, enough for the config routes.
type memProjects struct {
	mu sync.Mutex
	p  map[string]project.Project
}

func (m *memProjects) GetProject(_ context.Context, id string) (project.Project, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.p[id]
	if !ok {
		return project.Project{}, dynamo.ErrNotFound
	}
	b, _ := json.Marshal(p) // a copy, as a store reads it
	var out project.Project
	json.Unmarshal(b, &out)
	return out, nil
}

func (m *memProjects) PutProject(_ context.Context, p project.Project) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.p[p.ID] = p
	return nil
}

func (m *memProjects) PutInstallation(_ context.Context, id string, inst project.Installation) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.p[id]
	if !ok {
		return dynamo.ErrNotFound
	}
	for i, old := range p.Installations {
		if old.UUID == inst.UUID {
			p.Installations[i] = inst
			m.p[id] = p
			return nil
		}
	}
	p.Installations = append(p.Installations, inst)
	m.p[id] = p
	return nil
}

// URL credentials of the stored project below, each distinctive.
var urlCredSecrets = []string{
	"ci:mirror-s3cret", "mirror-s3cret", "hook-s3cret", "docs-t0ken", "sample-pw-s3cret", "client-s3cret", "scrape-t0ken",
}

const (
	mirrorURL  = "https://ci:mirror-s3cret@mirror.example/syms/"
	webhookURL = "https://app:hook-s3cret@tracker.example/hook"
	instUUID   = "c0ffee00-0000-4000-8000-000000000042"
	compUUID   = "1551e000-0000-4000-8000-000000000001"
)

func urlCredProject() project.Project {
	sources, _ := json.Marshal([]map[string]any{
		{"id": "mirror", "type": "http", "url": mirrorURL, "layout": map[string]any{"type": "native"}},
		{"id": "acme", "type": "http", "url": "https://symbols.example/x/", "username": "ci", "password": "sample-pw-s3cret", "layout": map[string]any{"type": "native"}},
	})
	return project.Project{
		ID: "42", Slug: "crashy-app",
		Organization:   project.Organization{Slug: "acme", Features: []string{project.FeatureCustomSymbolSources}},
		Options:        project.Options{SymbolSources: string(sources), Token: "scrape-t0ken"},
		AllowedOrigins: []string{"https://crashy.example"},
		Installations: []project.Installation{{
			UUID: instUUID, AppSlug: "acme-tracker", WebhookURL: webhookURL, ClientSecret: "client-s3cret",
			Components: []project.Component{{UUID: compUUID, Type: "issue-link",
				Schema: json.RawMessage(`{"link":{"uri":"/link","help":"https://reader:docs-t0ken@docs.example/x","required_fields":[]}}`)}},
		}},
	}
}

// urlCredServer is the API over a memory store holding urlCredProject.
func urlCredServer() (*api.Server, *memProjects, *bytes.Buffer) {
	store := &memProjects{p: map[string]project.Project{"42": urlCredProject()}}
	logs := &bytes.Buffer{}
	return &api.Server{Projects: store, Log: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}, store, logs
}

func call(s *api.Server, method, path string, body []byte) api.Response {
	return s.Handle(context.Background(), api.Request{Method: method, Path: path, Body: body, BaseURL: "http://127.0.0.1",
		Header: map[string]string{"content-type": "application/json"}, RequestID: "urlcreds"})
}

func assertNoURLCreds(t *testing.T, where string, text []byte) {
	t.Helper()
	for _, s := range urlCredSecrets {
		if bytes.Contains(text, []byte(s)) {
			t.Errorf("%s shows %q: %s", where, s, text)
		}
	}
}

// TestConfigURLCredentialsHidden: GET shows no URL credentials, every URL
// keeps its server, and what GET returns, written back, keeps them all.
func TestConfigURLCredentialsHidden(t *testing.T) {
	s, store, logs := urlCredServer()
	got := call(s, http.MethodGet, "/v1/projects/42/config", nil)
	if got.Status != http.StatusOK {
		t.Fatalf("GET: %d %s", got.Status, got.Body)
	}
	assertNoURLCreds(t, "GET config", got.Body)
	for _, want := range []string{
		"https://%5Bhidden-secret%5D@mirror.example/syms/", "https://%5Bhidden-secret%5D@tracker.example/hook",
		"https://%5Bhidden-secret%5D@docs.example/x",
	} {
		if !bytes.Contains(got.Body, []byte(want)) {
			t.Errorf("GET config lacks %s: %s", want, got.Body)
		}
	}
	put := call(s, http.MethodPut, "/v1/projects/42/config", got.Body)
	if put.Status != http.StatusOK {
		t.Fatalf("PUT as read: %d %s", put.Status, put.Body)
	}
	assertNoURLCreds(t, "PUT answer", put.Body)
	after, _ := store.GetProject(context.Background(), "42")
	want := urlCredProject()
	if !jsonSame(t, after.Options.SymbolSources, want.Options.SymbolSources) {
		t.Errorf("sources after PUT as read:\n got %s\nwant %s", after.Options.SymbolSources, want.Options.SymbolSources)
	}
	inst := after.Installations[0]
	if inst.WebhookURL != webhookURL || inst.ClientSecret != "client-s3cret" || after.Options.Token != "scrape-t0ken" {
		t.Errorf("installation after PUT as read: %+v, token %q", inst, after.Options.Token)
	}
	if !jsonSame(t, string(inst.Components[0].Schema), string(want.Installations[0].Components[0].Schema)) {
		t.Errorf("schema after PUT as read: %s", inst.Components[0].Schema)
	}
	assertNoURLCreds(t, "log", logs.Bytes())
}

func jsonSame(t *testing.T, a, b string) bool {
	t.Helper()
	var va, vb any
	if err := json.Unmarshal([]byte(a), &va); err != nil {
		t.Fatalf("%s: %v", a, err)
	}
	json.Unmarshal([]byte(b), &vb)
	ja, _ := json.Marshal(va)
	jb, _ := json.Marshal(vb)
	return bytes.Equal(ja, jb)
}

// TestConfigURLCredentialsWrite edits what GET returned and writes it
// back: a new password replaces the stored one, a new path keeps it, and
// a new host with a hidden secret is refused, whichever secret it is, so
// that a writer who can read the configuration but not its secrets cannot
// have them sent to a host of its own.
func TestConfigURLCredentialsWrite(t *testing.T) {
	tests := []struct {
		name      string
		edit      func(string) string
		wantField string // "" for success
		check     func(t *testing.T, p project.Project)
	}{
		{
			name: "new password in the source url replaces",
			edit: func(b string) string {
				return strings.Replace(b, "%5Bhidden-secret%5D@mirror.example", "ci:rotated@mirror.example", 1)
			},
			check: func(t *testing.T, p project.Project) {
				if !strings.Contains(p.Options.SymbolSources, "https://ci:rotated@mirror.example/syms/") || strings.Contains(p.Options.SymbolSources, "mirror-s3cret") {
					t.Errorf("sources %s", p.Options.SymbolSources)
				}
			},
		},
		{
			name: "new path on the same source server keeps the credentials",
			edit: func(b string) string { return strings.Replace(b, "mirror.example/syms/", "mirror.example/v2/", 1) },
			check: func(t *testing.T, p project.Project) {
				if !strings.Contains(p.Options.SymbolSources, "https://ci:mirror-s3cret@mirror.example/v2/") {
					t.Errorf("sources %s", p.Options.SymbolSources)
				}
			},
		},
		{
			name: "source url credentials removed",
			edit: func(b string) string {
				return strings.Replace(b, "%5Bhidden-secret%5D@mirror.example", "mirror.example", 1)
			},
			check: func(t *testing.T, p project.Project) {
				if strings.Contains(p.Options.SymbolSources, "mirror-s3cret") {
					t.Errorf("sources %s", p.Options.SymbolSources)
				}
			},
		},
		{
			name:      "hidden source url credentials to another host",
			edit:      func(b string) string { return strings.Replace(b, "mirror.example", "evil.example", 1) },
			wantField: "options.symbol_sources[0].url",
		},
		{
			name:      "hidden source password to another host",
			edit:      func(b string) string { return strings.Replace(b, "symbols.example", "evil.example", 1) },
			wantField: "options.symbol_sources[1].password",
		},
		{
			name: "new webhook path keeps credentials and client secret",
			edit: func(b string) string { return strings.Replace(b, "tracker.example/hook", "tracker.example/v2/hook", 1) },
			check: func(t *testing.T, p project.Project) {
				inst := p.Installations[0]
				if inst.WebhookURL != "https://app:hook-s3cret@tracker.example/v2/hook" || inst.ClientSecret != "client-s3cret" {
					t.Errorf("installation %+v", inst)
				}
			},
		},
		{
			name:      "hidden webhook credentials to another host",
			edit:      func(b string) string { return strings.Replace(b, "tracker.example", "evil.example", 1) },
			wantField: "installations[0].webhook_url",
		},
		{
			name: "hidden client secret to another host",
			edit: func(b string) string {
				return strings.Replace(b, "https://%5Bhidden-secret%5D@tracker.example/hook", "https://evil.example/hook", 1)
			},
			wantField: "installations[0].client_secret",
		},
		{
			name: "new webhook host with its own credentials and secret",
			edit: func(b string) string {
				b = strings.Replace(b, "https://%5Bhidden-secret%5D@tracker.example/hook", "https://new:cred@other.example/hook", 1)
				return strings.Replace(b, `"client_secret":"[hidden-secret]"`, `"client_secret":"fresh"`, 1)
			},
			check: func(t *testing.T, p project.Project) {
				if inst := p.Installations[0]; inst.WebhookURL != "https://new:cred@other.example/hook" || inst.ClientSecret != "fresh" {
					t.Errorf("installation %+v", inst)
				}
			},
		},
		{
			name: "hidden token to an added origin",
			edit: func(b string) string {
				return strings.Replace(b, `"https://crashy.example"`, `"https://crashy.example","https://evil.example"`, 1)
			},
			wantField: "options.token",
		},
		{
			name: "hidden token with an origin removed",
			edit: func(b string) string { return strings.Replace(b, `"https://crashy.example"`, ``, 1) },
			check: func(t *testing.T, p project.Project) {
				if p.Options.Token != "scrape-t0ken" {
					t.Errorf("token %q", p.Options.Token)
				}
			},
		},
		{
			name: "credentials in an origin",
			edit: func(b string) string {
				return strings.Replace(b, `"https://crashy.example"`, `"https://u:origin-pw@crashy.example"`, 1)
			},
			wantField: "allowed_origins[0]",
		},
		{
			name:      "schema with hidden credentials, changed elsewhere",
			edit:      func(b string) string { return strings.Replace(b, `"uri":"/link"`, `"uri":"/other"`, 1) },
			wantField: "installations[0].components[0].schema",
		},
		{
			name: "schema with its credentials replaced",
			edit: func(b string) string {
				return strings.Replace(b, "https://%5Bhidden-secret%5D@docs.example/x", "https://docs.example/x", 1)
			},
			check: func(t *testing.T, p project.Project) {
				if s := string(p.Installations[0].Components[0].Schema); strings.Contains(s, "docs-t0ken") || !strings.Contains(s, "https://docs.example/x") {
					t.Errorf("schema %s", s)
				}
			},
		},
		{
			name: "invalid webhook url with credentials is refused without quoting it",
			edit: func(b string) string {
				return strings.Replace(b, "https://%5Bhidden-secret%5D@tracker.example/hook", "ftp://x:hook-s3cret@h/", 1)
			},
			wantField: "installations[0].webhook_url",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, store, logs := urlCredServer()
			got := call(s, http.MethodGet, "/v1/projects/42/config", nil)
			body := tt.edit(string(got.Body))
			if body == string(got.Body) {
				t.Fatal("the edit changed nothing")
			}
			put := call(s, http.MethodPut, "/v1/projects/42/config", []byte(body))
			assertNoURLCreds(t, "PUT answer", put.Body)
			assertNoURLCreds(t, "log", logs.Bytes())
			if bytes.Contains(put.Body, []byte("evil.example")) || bytes.Contains(put.Body, []byte("origin-pw")) {
				t.Errorf("PUT answer quotes the edited value: %s", put.Body)
			}
			after, _ := store.GetProject(context.Background(), "42")
			if tt.wantField != "" {
				var e struct{ Error api.Error }
				json.Unmarshal(put.Body, &e)
				if put.Status != http.StatusBadRequest || e.Error.Field != tt.wantField {
					t.Fatalf("PUT: %d %s, want 400 naming %s", put.Status, put.Body, tt.wantField)
				}
				b1, _ := json.Marshal(after)
				b2, _ := json.Marshal(urlCredProject())
				if !bytes.Equal(b1, b2) {
					t.Errorf("a refused write changed the store: %s", b1)
				}
				return
			}
			if put.Status != http.StatusOK {
				t.Fatalf("PUT: %d %s", put.Status, put.Body)
			}
			tt.check(t, after)
		})
	}
}

// TestInstallationURLCredentials: the installation route hides the
// webhook URL's credentials in its answer and backfills them.
func TestInstallationURLCredentials(t *testing.T) {
	s, store, _ := urlCredServer()
	path := "/v1/projects/42/installations/" + instUUID
	body := `{"app_slug":"acme-tracker","webhook_url":"https://%5Bhidden-secret%5D@tracker.example/hook2","client_secret":"[hidden-secret]",
	  "components":[{"uuid":"` + compUUID + `","type":"issue-link","schema":{"link":{"uri":"/link","help":"https://%5Bhidden-secret%5D@docs.example/x","required_fields":[]}}}]}`
	resp := call(s, http.MethodPut, path, []byte(body))
	if resp.Status != http.StatusOK {
		t.Fatalf("PUT installation: %d %s", resp.Status, resp.Body)
	}
	assertNoURLCreds(t, "PUT installation answer", resp.Body)
	if !bytes.Contains(resp.Body, []byte("https://%5Bhidden-secret%5D@tracker.example/hook2")) {
		t.Errorf("answer %s", resp.Body)
	}
	p, _ := store.GetProject(context.Background(), "42")
	inst := p.Installations[0]
	if inst.WebhookURL != "https://app:hook-s3cret@tracker.example/hook2" || inst.ClientSecret != "client-s3cret" ||
		!strings.Contains(string(inst.Components[0].Schema), "https://reader:docs-t0ken@docs.example/x") {
		t.Errorf("stored installation %+v %s", inst, inst.Components[0].Schema)
	}
	// A new installation cannot name hidden credentials it never had.
	resp = call(s, http.MethodPut, "/v1/projects/42/installations/c0ffee00-0000-4000-8000-0000000000ff",
		[]byte(`{"app_slug":"x","webhook_url":"https://%5Bhidden-secret%5D@tracker.example/hook"}`))
	var e struct{ Error api.Error }
	json.Unmarshal(resp.Body, &e)
	if resp.Status != http.StatusBadRequest || e.Error.Field != "webhook_url" {
		t.Errorf("new installation with hidden credentials: %d %s", resp.Status, resp.Body)
	}
}

// FuzzConfigURLCredentials writes any configuration over the project
// holding URL credentials: no answer shows a stored credential, and
// whenever the saved configuration keeps one that the body did not spell
// out, it is still in a URL naming the server it was stored for.
func FuzzConfigURLCredentials(f *testing.F) {
	s, _, _ := urlCredServer()
	read := call(s, http.MethodGet, "/v1/projects/42/config", nil).Body
	f.Add(read)
	f.Add(bytes.Replace(read, []byte("tracker.example"), []byte("evil.example"), 1))
	f.Add(bytes.Replace(read, []byte("mirror.example"), []byte("evil.example@mirror.example"), 1))
	f.Add(bytes.Replace(read, []byte("symbols.example"), []byte("evil.example"), 1))
	f.Fuzz(func(t *testing.T, body []byte) {
		s, store, logs := urlCredServer()
		put := call(s, http.MethodPut, "/v1/projects/42/config", body)
		if bytes.Contains(body, []byte("s3cret")) || bytes.Contains(body, []byte("t0ken")) {
			return // the body spells a secret out: it may be echoed or kept
		}
		assertNoURLCreds(t, "PUT answer", put.Body)
		assertNoURLCreds(t, "log", logs.Bytes())
		get := call(s, http.MethodGet, "/v1/projects/42/config", nil)
		assertNoURLCreds(t, "GET after PUT", get.Body)
		p, _ := store.GetProject(context.Background(), "42")
		for _, inst := range p.Installations {
			if strings.Contains(inst.WebhookURL, "hook-s3cret") && !project.SameOrigin(inst.WebhookURL, webhookURL) {
				t.Fatalf("webhook credentials kept for %q", inst.WebhookURL)
			}
			if inst.ClientSecret == "client-s3cret" && !project.SameOrigin(inst.WebhookURL, webhookURL) {
				t.Fatalf("client secret kept for %q", inst.WebhookURL)
			}
		}
		custom, err := sourcesOf(p.Options.SymbolSources)
		if err != nil {
			return
		}
		for _, src := range custom {
			u, _ := src["url"].(string)
			if strings.Contains(u, "mirror-s3cret") && !project.SameOrigin(u, mirrorURL) {
				t.Fatalf("source url credentials kept for %q", u)
			}
			if src["password"] == "sample-pw-s3cret" && !project.SameOrigin(u, "https://symbols.example/x/") {
				t.Fatalf("source password kept for %q", u)
			}
		}
	})
}

func sourcesOf(raw string) ([]map[string]any, error) {
	var out []map[string]any
	if raw == "" {
		return nil, nil
	}
	err := json.Unmarshal([]byte(raw), &out)
	return out, err
}
