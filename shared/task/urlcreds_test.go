package task_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/symflow/symflow/shared/project"
	"github.com/symflow/symflow/shared/task"
)

// URL credentials seeded below, each distinctive.
var urlSecrets = []string{"mirror-s3cret", "prefix-t0ken", "sym-s3cret"}

func assertNoURLSecret(t *testing.T, what string, v any) {
	t.Helper()
	raw, ok := v.([]byte)
	if !ok {
		raw, _ = json.Marshal(v)
	}
	for _, s := range urlSecrets {
		if strings.Contains(string(raw), s) {
			t.Errorf("%s holds %q: %s", what, s, raw)
		}
	}
}

// withURLCredentials stores the sample project with a custom source whose
// URL has credentials, and a Sentry URL prefix with a token as user name.
func withURLCredentials(t *testing.T, e *env) {
	t.Helper()
	ctx := context.Background()
	p, err := e.store.GetProject(ctx, "42")
	if err != nil {
		t.Fatal(err)
	}
	src, _ := json.Marshal([]map[string]any{{"id": "mirror", "type": "http", "url": "https://ci:mirror-s3cret@mirror.example/syms/", "layout": map[string]any{"type": "native"}}})
	p.Options.SymbolSources = string(src)
	if err := e.store.PutProject(ctx, p); err != nil {
		t.Fatal(err)
	}
	e.steps.Settings.PublicURLPrefix = "https://prefix-t0ken@sentry.example"
}

// TestURLCredentialsOnlyInTheRequest: LookupSources' output and every
// later state hold no URL credentials; Symbolicator's request has them
// all; what Symbolicator answers with them (a location, a message) is
// stored and passed on without them.
func TestURLCredentialsOnlyInTheRequest(t *testing.T) {
	answerWithCreds := `{"status":"completed","stacktraces":[{"frames":[{"status":"missing","original_index":0}]}],
	 "modules":[{"debug_status":"found","candidates":[{"source":"mirror","location":"https://ci:mirror-s3cret@mirror.example/syms/ab/cd","download":{"status":"ok"}},
	  {"source":"mirror","location":"https://mirror.example/syms/x","download":{"status":"error","details":"Get \"https://ci:mirror-s3cret@mirror.example/syms/x\": EOF"}}]}]}`
	sym := newFakeSymbolicator(t, answer{200, answerWithCreds})
	e := newEnv(t, sym.URL+"/")
	withURLCredentials(t, e)
	ctx := context.Background()
	in := sampleInput(t)
	lookup, err := e.steps.LookupSources(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	assertNoURLSecret(t, "LookupSources output", lookup)
	for _, want := range []string{"https://%5Bhidden-secret%5D@mirror.example/syms/", "https://%5Bhidden-secret%5D@sentry.example/api/0/"} {
		if !strings.Contains(string(lookup.Sources), want) {
			t.Errorf("state sources lack %s: %s", want, lookup.Sources)
		}
	}
	in.State.Lookup = lookup
	p, err := e.steps.SubmitTask(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	assertNoURLSecret(t, "SubmitTask output", p)
	body := string(sym.last().body)
	for _, want := range []string{"https://ci:mirror-s3cret@mirror.example/syms/", "https://prefix-t0ken@sentry.example/api/0/"} {
		if !strings.Contains(body, want) {
			t.Errorf("Symbolicator's request lacks %s: %s", want, body)
		}
	}
	var raw json.RawMessage
	if err := e.blobs.GetJSON(ctx, *p.Response, &raw); err != nil {
		t.Fatal(err)
	}
	assertNoURLSecret(t, "stored Symbolicator answer", []byte(raw))
	in.State.Task = p
	res, err := e.steps.ProcessResponse(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	assertNoURLSecret(t, "ProcessResponse output", res)
	var result json.RawMessage
	if err := e.blobs.GetJSON(ctx, res.Result, &result); err != nil {
		t.Fatal(err)
	}
	assertNoURLSecret(t, "stored result", []byte(result))
	if !strings.Contains(string(result), "https://%5Bhidden-secret%5D@mirror.example/syms/ab/cd") {
		t.Errorf("the candidate's location is gone rather than hidden: %s", result)
	}
}

// TestEditedStateDoesNotRedirectURLCredentials: a state whose hidden
// source URL names another host gets no credentials filled in.
func TestEditedStateDoesNotRedirectURLCredentials(t *testing.T) {
	sym := newFakeSymbolicator(t, answer{200, completed})
	e := newEnv(t, sym.URL+"/")
	withURLCredentials(t, e)
	ctx := context.Background()
	in := sampleInput(t)
	lookup, err := e.steps.LookupSources(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	lookup.Sources = json.RawMessage(strings.Replace(string(lookup.Sources), "mirror.example", "evil.example", 1))
	in.State.Lookup = lookup
	_, err = e.steps.SubmitTask(ctx, in)
	bad, ok := err.(*task.InvalidInput)
	if !ok || bad.Field != "lookup.sources" || !strings.Contains(err.Error(), "mirror") {
		t.Fatalf("SubmitTask = %v (%T), want *task.InvalidInput naming the source", err, err)
	}
	assertNoURLSecret(t, "error", []byte(err.Error()))
	if n := sym.hits.Load(); n != 0 {
		t.Errorf("Symbolicator got %d requests", n)
	}
}

// TestSymbolicatorMessagesHideURLCredentials: a failed task's message and
// errors naming a Symbolicator URL with credentials hide them.
func TestSymbolicatorMessagesHideURLCredentials(t *testing.T) {
	sym := newFakeSymbolicator(t, answer{200, `{"status":"failed","message":"fetching https://ci:mirror-s3cret@mirror.example/syms/x failed"}`})
	e := newEnv(t, sym.URL+"/")
	ctx := context.Background()
	in := sampleInput(t)
	in.State.Lookup, _ = e.steps.LookupSources(ctx, in)
	p, err := e.steps.SubmitTask(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if p.Status != "failed" || !strings.Contains(p.Message, "https://%5Bhidden-secret%5D@mirror.example/syms/x") {
		t.Errorf("progress %+v, want the message with the credentials hidden", p)
	}
	assertNoURLSecret(t, "progress", p)

	closed := newFakeSymbolicator(t, answer{200, completed})
	u := strings.Replace(closed.URL, "://", "://user:sym-s3cret@", 1)
	closed.Close()
	e = newEnv(t, u+"/")
	in.State.Lookup, _ = e.steps.LookupSources(ctx, in)
	_, err = e.steps.SubmitTask(ctx, in)
	if _, ok := err.(*task.SymbolicatorUnreachable); !ok {
		t.Fatalf("got %T %v, want *task.SymbolicatorUnreachable", err, err)
	}
	assertNoURLSecret(t, "unreachable error", []byte(err.Error()))
	if !strings.Contains(err.Error(), project.RedactURLs(u)) {
		t.Errorf("error %q does not name the URL", err)
	}
}
