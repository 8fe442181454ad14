package stack_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/symflow/symflow/local/asl"
	"github.com/symflow/symflow/local/chaos"
	"github.com/symflow/symflow/local/serve"
	"github.com/symflow/symflow/local/stack"
	"github.com/symflow/symflow/shared/api"
	"github.com/symflow/symflow/shared/project"
	"github.com/symflow/symflow/shared/task"
)

// Distinctive secrets, one per secret-bearing field, URL credentials
// included: a custom source's URL, the webhook URLs, the Sentry URL prefix
// (a token as user name) and a URL in a component schema.
const (
	secretHTTPPassword = "SFSECRET-http-password-7f3a9c"
	secretS3Key        = "SFSECRET-s3-secret-key-91c2d4"
	secretGCSKey       = "SFSECRET-gcs-private-key-5d0e17"
	secretScraping     = "SFSECRET-scraping-token-33ab82"
	secretSystem       = "SFSECRET-system-token-c4d1e6"
	secretClient       = "SFSECRET-client-secret-e8f9a0"
	secretClient2      = "SFSECRET-client-secret-2-b7c6d5"
	secretURLPassword  = "SFSECRET-url-password-4e8b1d"
	secretWebhookPass  = "SFSECRET-webhook-password-a2c7f3"
	secretPrefixToken  = "SFSECRET-prefix-token-6d1f90"
	secretSchemaToken  = "SFSECRET-schema-token-0b5e2a"
)

// URL credentials' user names, and the userinfo they make.
const (
	urlUser     = "urlci"
	webhookUser = "hook"
)

// urlCredentialSecrets are the URL credentials and the values derived
// from them that would reveal them (the Basic authorization headers they
// become), with their distinctive parts.
var urlCredentialSecrets = []string{
	secretURLPassword, secretWebhookPass, secretPrefixToken, secretSchemaToken,
	base64.StdEncoding.EncodeToString([]byte(urlUser + ":" + secretURLPassword)),
	base64.StdEncoding.EncodeToString([]byte(webhookUser + ":" + secretWebhookPass)),
	"4e8b1d", "a2c7f3", "6d1f90", "0b5e2a",
}

// seededSecrets lists the secrets and the values derived from them that
// would reveal them (the Basic authorization header of the http source).
var seededSecrets = append([]string{
	secretHTTPPassword, secretS3Key, secretGCSKey, secretScraping, secretSystem, secretClient, secretClient2,
	base64.StdEncoding.EncodeToString([]byte("ci:" + secretHTTPPassword)),
	// The secrets' distinctive parts, in case something cuts or re-encodes them.
	"7f3a9c", "91c2d4", "5d0e17", "33ab82", "c4d1e6", "e8f9a0", "b7c6d5",
}, urlCredentialSecrets...)

// withUserinfo is rawURL with userinfo inserted after its scheme.
func withUserinfo(rawURL, userinfo string) string {
	return strings.Replace(rawURL, "://", "://"+userinfo+"@", 1)
}

// upstream is a loopback server standing in for the places secrets are
// meant for: the http symbol source, Sentry's debug-files API (the
// internal source) and the sentry-app webhook. It records what it got.
type upstream struct {
	mu    sync.Mutex
	auth  map[string]bool // authorization headers seen by sources
	signs int             // signed webhook requests
}

func (u *upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	u.mu.Lock()
	if a := r.Header.Get("Authorization"); a != "" {
		u.auth[a] = true
	}
	if r.Header.Get("Sentry-App-Signature") != "" {
		u.signs++
	}
	u.mu.Unlock()
	switch {
	case strings.HasPrefix(r.URL.Path, "/options"):
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `[{"label":"Crash triage","value":"crash"}]`)
	case strings.HasPrefix(r.URL.Path, "/fail"):
		// An app that echoes what it got, as its JSON message: its answer
		// must not carry a secret into the component's error.
		var b strings.Builder
		r.Header.Write(&b)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		json.NewEncoder(w).Encode(map[string]string{"message": "upstream failure; request headers were: " + b.String()})
	case strings.Contains(r.URL.Path, "/files/dsyms/"):
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `[]`)
	default:
		http.NotFound(w, r)
	}
}

func (u *upstream) saw(auth string) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.auth[auth]
}

// secretProject is the sample project with a secret in every
// secret-bearing field: an http source with a password, an http source
// with credentials in its URL, an s3 source with a secret key (it holds
// the debug file, so executions succeed), a gcs source with a private key,
// the scraping token, and two installations with client secrets and
// credentials in their webhook URLs, whose components ask the app for
// options, link to it, and hold a URL with credentials in their schema.
func secretProject(t *testing.T, upstreamURL string) project.Project {
	t.Helper()
	webhook := withUserinfo(upstreamURL, webhookUser+":"+secretWebhookPass) + "/"
	sources := []map[string]any{
		{"id": "acme-http", "type": "http", "url": upstreamURL + "/symbols/", "username": "ci", "password": secretHTTPPassword,
			"layout": map[string]any{"type": "native"}},
		{"id": "acme-url", "type": "http", "url": withUserinfo(upstreamURL, urlUser+":"+secretURLPassword) + "/urlsymbols/",
			"layout": map[string]any{"type": "native"}},
		{"id": "acme-s3", "type": "s3", "bucket": stack.DebugFilesBucket, "prefix": "42/", "region": "us-east-1",
			"access_key": "AKIASYMFLOWTEST", "secret_key": secretS3Key, "layout": map[string]any{"type": "unified"}},
		{"id": "acme-gcs", "type": "gcs", "bucket": "acme-gcs-symbols", "client_email": "ci@acme.example",
			"private_key": secretGCSKey, "layout": map[string]any{"type": "native"}},
	}
	raw, _ := json.Marshal(sources)
	scrape := true
	selectFrom := func(uri string) json.RawMessage {
		return json.RawMessage(fmt.Sprintf(`{"link":{"uri":"/link","help":%q,"required_fields":[{"type":"select","name":"board","label":"Board","uri":%q}]}}`,
			"https://docs:"+secretSchemaToken+"@docs.example/boards", uri))
	}
	return project.Project{
		ID:           "42",
		Slug:         "crashy-app",
		Organization: project.Organization{Slug: "acme", Features: []string{"custom-symbol-sources"}},
		Options: project.Options{
			SymbolSources:    string(raw),
			ScrapeJavaScript: &scrape,
			Token:            secretScraping,
		},
		AllowedOrigins: []string{"https://crashy.example"},
		Installations: []project.Installation{
			{UUID: "c0ffee00-0000-4000-8000-000000000042", AppSlug: "acme-tracker", WebhookURL: webhook, ClientSecret: secretClient,
				Components: []project.Component{
					{UUID: "1551e000-0000-4000-8000-000000000001", Type: "issue-link", Schema: selectFrom("/options")},
					{UUID: "1551e000-0000-4000-8000-000000000002", Type: "stacktrace-link", Schema: json.RawMessage(`{"uri":"/open"}`)},
				}},
			{UUID: "c0ffee00-0000-4000-8000-000000000043", AppSlug: "acme-echo", WebhookURL: webhook, ClientSecret: secretClient2,
				Components: []project.Component{{UUID: "1551e000-0000-4000-8000-000000000003", Type: "issue-link", Schema: selectFrom("/fail")}}},
		},
	}
}

// TestSecretsNeverLeak seeds a distinctive secret into every
// secret-bearing field, runs executions that succeed and fail in every
// named way (directly and through the API), and scans every state input
// and output of every history, every log line (steps, API, embedded
// Symbolicator), every error and cause, the stored results and every API
// response: the secrets occur nowhere. The sources and the app did get
// them, so the scan is not vacuous.
func TestSecretsNeverLeak(t *testing.T) {
	ctx := context.Background()
	up := &upstream{auth: map[string]bool{}}
	upSrv := httptest.NewServer(up)
	t.Cleanup(upSrv.Close)
	p := secretProject(t, upSrv.URL)

	logs := &syncBuffer{}
	env, err := chaos.StartEnv(ctx, chaos.EnvConfig{
		Root:     root,
		Proxy:    chaos.Config{Seed: 1, SlowDelay: time.Minute},
		Config:   task.Config{PollTimeout: testConfig.PollTimeout, NetworkRetryWaits: testConfig.NetworkRetryWaits, ResubmitBudget: 2},
		Clock:    asl.NewFakeClock(time.Now()),
		Log:      logs,
		Project:  &p,
		Settings: &project.Settings{SystemToken: secretSystem, InternalURLPrefix: withUserinfo(upSrv.URL, secretPrefixToken)},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(env.Close)

	runs := []struct {
		name      string
		script    []chaos.Fault
		mutate    func(*task.State)
		errorName string
	}{
		{name: "recovers", script: []chaos.Fault{chaos.Lost, chaos.None, chaos.Pending, chaos.Unavailable}},
		{name: "symbolication-failed", script: []chaos.Fault{chaos.Failed}, errorName: "SymbolicationFailed"},
		{name: "server-error", script: []chaos.Fault{chaos.ServerError}, errorName: "SymbolicationFailed"},
		{name: "malformed", script: []chaos.Fault{chaos.NonJSON, chaos.NonJSON, chaos.NonJSON, chaos.NonJSON}, errorName: "MalformedResponse"},
		{name: "budget", script: []chaos.Fault{chaos.Unavailable, chaos.Unavailable, chaos.Unavailable}, errorName: "ResubmitBudgetExhausted"},
		{name: "unreachable", script: []chaos.Fault{chaos.Reset, chaos.Reset, chaos.Reset, chaos.Reset}, errorName: "SymbolicatorUnreachable"},
		{name: "unknown-project", mutate: func(s *task.State) { s.ProjectID = "7" }, errorName: "ProjectNotFound"},
		{name: "bad-input", mutate: func(s *task.State) { s.Kind = task.KindMinidump; s.Payload = nil }, errorName: "InvalidInput"},
	}
	var errs []string
	for _, r := range runs {
		env.Proxy.AppendScript(r.script...)
		o := env.Execute(ctx, "secrets-"+r.name, r.mutate)
		if o.Err != nil {
			t.Fatalf("%s: %v", r.name, o.Err)
		}
		want := asl.StatusSucceeded
		if r.errorName != "" {
			want = asl.StatusFailed
		}
		if o.Exec.Status != want || o.Exec.Error != r.errorName {
			t.Errorf("%s: %s %s (%s), want %s %s", r.name, o.Exec.Status, o.Exec.Error, o.Exec.Cause, want, r.errorName)
		}
		errs = append(errs, o.Exec.Error+": "+o.Exec.Cause)
		if o.Exec.Status == asl.StatusSucceeded {
			checkFrames(t, run{result: o.Result})
			var comps task.Components
			json.Unmarshal(o.Output.Components, &comps)
			if comps.Prepared != 2 || comps.Failed != 1 {
				t.Errorf("components %+v: want two prepared, one failed (the echoing app)", comps)
			}
		}
	}

	// The API over the same stack: read and write the configuration,
	// submit, read the execution, and be refused with bad input.
	apiLog := slog.New(slog.NewJSONHandler(logs, nil))
	svc := serve.New(env.Stack, serve.Options{Log: apiLog})
	t.Cleanup(svc.Close)
	var responses []string
	call := func(method, path string, body []byte) api.Response {
		t.Helper()
		resp := svc.API.Handle(ctx, api.Request{Method: method, Path: path, Body: body, BaseURL: "http://127.0.0.1",
			Header: map[string]string{"content-type": "application/json"}, RequestID: "secrets-test"})
		h, _ := json.Marshal(resp.Header)
		responses = append(responses, fmt.Sprintf("%s %s -> %d %s %s", method, path, resp.Status, h, resp.Body))
		return resp
	}
	got := call(http.MethodGet, "/v1/projects/42/config", nil)
	if got.Status != http.StatusOK {
		t.Fatalf("GET config: %d %s", got.Status, got.Body)
	}
	if !strings.Contains(string(got.Body), "%5Bhidden-secret%5D@127.0.0.1") {
		t.Errorf("GET config shows no hidden URL credentials: %s", got.Body)
	}
	// What GET returns can be written back: placeholders keep the secrets.
	if resp := call(http.MethodPut, "/v1/projects/42/config", got.Body); resp.Status != http.StatusOK {
		t.Errorf("PUT config read back: %d %s", resp.Status, resp.Body)
	}
	if kept, err := env.Stack.Store.GetProject(ctx, "42"); err != nil {
		t.Error(err)
	} else if !strings.Contains(kept.Options.SymbolSources, urlUser+":"+secretURLPassword+"@") ||
		!strings.Contains(kept.Installations[0].WebhookURL, webhookUser+":"+secretWebhookPass+"@") ||
		!strings.Contains(string(kept.Installations[0].Components[0].Schema), secretSchemaToken) {
		t.Error("PUT of the configuration as read lost URL credentials")
	}
	// Hidden credentials sent back with another host are refused, and the
	// refusal quotes neither.
	moved := strings.Replace(string(got.Body), "%5Bhidden-secret%5D@127.0.0.1", "%5Bhidden-secret%5D@192.0.2.1", -1)
	if resp := call(http.MethodPut, "/v1/projects/42/config", []byte(moved)); resp.Status != http.StatusBadRequest {
		t.Errorf("PUT config with hidden URL credentials moved to another host: %d %s, want 400", resp.Status, resp.Body)
	}
	inst, _ := json.Marshal(p.Installations[0])
	call(http.MethodPut, "/v1/projects/42/installations/"+p.Installations[0].UUID, inst)
	// A bad source next to a secret: the refusal must not echo it.
	badSource, _ := json.Marshal(map[string]any{"id": "42", "slug": "crashy-app", "organization": p.Organization,
		"options": map[string]any{"symbol_sources": `[{"id":"x","type":"http","url":"not a url","password":"` + secretHTTPPassword + `","layout":{"type":"native"}}]`}})
	if resp := call(http.MethodPut, "/v1/projects/42/config", badSource); resp.Status != http.StatusBadRequest {
		t.Errorf("PUT config with a bad source: %d %s, want 400", resp.Status, resp.Body)
	}
	// A bad URL with credentials in it: the refusal must not echo them.
	badURL, _ := json.Marshal(map[string]any{"id": "42", "slug": "crashy-app", "organization": p.Organization,
		"options":       map[string]any{"symbol_sources": `[{"id":"x","type":"http","url":"ftp://` + urlUser + `:` + secretURLPassword + `@h/","layout":{"type":"` + withUserinfo("https://h/", urlUser+":"+secretURLPassword) + `"}}]`},
		"installations": []map[string]any{{"uuid": "c0ffee00-0000-4000-8000-0000000000ff", "app_slug": "x", "webhook_url": "ftp://" + webhookUser + ":" + secretWebhookPass + "@h/"}}})
	if resp := call(http.MethodPut, "/v1/projects/42/config", badURL); resp.Status != http.StatusBadRequest {
		t.Errorf("PUT config with a bad URL: %d %s, want 400", resp.Status, resp.Body)
	}
	payload := samplePayload(t)
	eventID := "5ec2e7000000400080000000000000aa"
	sub := call(http.MethodPost, "/v1/projects/42/events/"+eventID+"/symbolicate", payload)
	if sub.Status != http.StatusAccepted && sub.Status != http.StatusOK && sub.Status != http.StatusCreated {
		t.Fatalf("submit: %d %s", sub.Status, sub.Body)
	}
	var submitted api.Submitted
	json.Unmarshal(sub.Body, &submitted)
	svc.Executor.Wait()
	if resp := call(http.MethodGet, "/v1/executions/"+submitted.ExecutionID, nil); resp.Status != http.StatusOK || !strings.Contains(string(resp.Body), "SUCCEEDED") {
		t.Errorf("GET execution: %d %s", resp.Status, resp.Body)
	}
	call(http.MethodGet, "/v1/executions/42_00000000000000000000000000000000", nil)

	// The secrets did reach the services that need them.
	if !up.saw("Basic " + base64.StdEncoding.EncodeToString([]byte("ci:"+secretHTTPPassword))) {
		t.Error("the http source never got its credentials: the scan proves nothing")
	}
	if !up.saw("Bearer " + secretSystem) {
		t.Error("the internal source never got the system token: the scan proves nothing")
	}
	if up.signs == 0 {
		t.Error("the app never got a signed request")
	}
	if !up.saw("Basic " + base64.StdEncoding.EncodeToString([]byte(urlUser+":"+secretURLPassword))) {
		t.Error("the source with URL credentials never got them: the scan proves nothing")
	}
	if !up.saw("Basic " + base64.StdEncoding.EncodeToString([]byte(webhookUser+":"+secretWebhookPass))) {
		t.Error("the app never got its webhook URL's credentials: the scan proves nothing")
	}

	// Scan everything.
	places := map[string]string{
		"log":           logs.String(),
		"errors":        strings.Join(errs, "\n"),
		"API responses": strings.Join(responses, "\n"),
	}
	execs, err := stack.ListExecutions(env.Stack.StateDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(execs) < len(runs)+1 {
		t.Errorf("%d saved executions, want at least %d", len(execs), len(runs)+1)
	}
	for _, e := range execs {
		raw, _ := json.Marshal(e)
		places["execution "+e.Name] = string(raw)
		if e.Status != asl.StatusSucceeded {
			continue
		}
		var out task.Output
		json.Unmarshal(e.Output, &out)
		var stored json.RawMessage
		if err := env.Stack.Blobs.GetJSON(ctx, out.Result.Result, &stored); err != nil {
			t.Errorf("result of %s: %v", e.Name, err)
		}
		places["result of "+e.Name] = string(stored)
	}
	// Every object stored (responses, results, components, offloaded
	// payloads), except the debug files themselves.
	s3root := filepath.Join(env.Stack.StateDir, "s3")
	objects := 0
	err = filepath.WalkDir(s3root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(s3root, path)
		if strings.HasPrefix(rel, stack.DebugFilesBucket) {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		objects++
		places["object "+rel] = string(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if objects < 3 {
		t.Errorf("only %d stored objects under %s: the scan missed them", objects, s3root)
	}
	occurrences, scannedBytes := 0, 0
	for where, text := range places {
		scannedBytes += len(text)
		for _, s := range seededSecrets {
			if n := strings.Count(text, s); n > 0 {
				occurrences += n
				i := strings.Index(text, s)
				t.Errorf("%s holds secret %q %d times: …%s…", where, s, n, text[max(0, i-200):min(len(text), i+len(s)+50)])
			}
		}
	}
	t.Logf("secrets scan: %d places (%d executions' histories, %d stored objects, %d API responses, the log of %d lines, %d errors), %d bytes, %d secret spellings (%d of them URL credentials): %d occurrences",
		len(places), len(execs), objects, len(responses), strings.Count(places["log"], "\n"), len(errs), scannedBytes,
		len(seededSecrets), len(urlCredentialSecrets), occurrences)
}

// samplePayload is the sample execution's payload, as the API takes it.
func samplePayload(t *testing.T) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(root, "events/execution/native-crash.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s task.State
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatal(err)
	}
	return s.Payload
}
