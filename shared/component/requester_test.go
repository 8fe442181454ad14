package component

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/symflow/symflow/shared/project"
)

// localRequester sends through a SafeClient that may reach the test app.
func localRequester(t testing.TB, timeout time.Duration) *SelectRequester {
	t.Helper()
	return NewSelectRequester(SafeClient(ClientOptions{
		Policy:           AddressPolicy{AllowLoopback: true},
		Timeout:          timeout,
		MaxResponseBytes: 64 << 10,
	}), slog.New(slog.DiscardHandler))
}

func choicesJSON(t *testing.T, c Choices) string {
	t.Helper()
	b, err := marshalValue(c)
	if err != nil {
		t.Fatalf("marshal choices: %v", err)
	}
	return string(b)
}

func TestSelectRequester(t *testing.T) {
	app := newTestApp(t)
	app.wantDependent["/options/dependent"] = `{"project":"p1","board":7}`
	r := localRequester(t, 5*time.Second)

	tests := []struct {
		name      string
		uri       string
		dependent string
		want      string // Choices as JSON
		// On failure: the error's type and what its text must name.
		wantReqErr    bool
		wantStatus    int
		wantInvalid   bool
		wantIndex     int
		wantKey       string
		wantErrSubstr []string
	}{
		{name: "good list", uri: "/options/good",
			want: `{"choices":[["p1","Project One"],[2,"Project <Two> & more"]]}`},
		{name: "default", uri: "/options/default",
			want: `{"choices":[["low","Low"],["high","High"],["mid","Mid"]],"defaultValue":"high"}`},
		{name: "empty list", uri: "/options/empty", want: `{"choices":[]}`},
		{name: "dependent data", uri: "/options/dependent", dependent: `{"project":"p1","board":7}`,
			want: `{"choices":[["p1/7","Column for board"]],"defaultValue":"p1/7"}`},
		{name: "item missing label", uri: "/options/missing-label", wantInvalid: true, wantIndex: 1, wantKey: "label",
			wantErrSubstr: []string{`"acme-tracker"`, `"/options/missing-label"`, "option 1", `missing "label"`}},
		{name: "item missing value", uri: "/options/missing-value", wantInvalid: true, wantIndex: 0, wantKey: "value",
			wantErrSubstr: []string{"option 0", `missing "value"`}},
		{name: "item not an object", uri: "/options/not-object-item", wantInvalid: true, wantIndex: 0,
			wantErrSubstr: []string{"option 0", "not a JSON object but string"}},
		{name: "not an array", uri: "/options/not-array", wantInvalid: true, wantIndex: -1,
			wantErrSubstr: []string{"response", "not a JSON array but object"}},
		{name: "not JSON", uri: "/options/not-json", wantInvalid: true, wantIndex: -1,
			wantErrSubstr: []string{"not valid JSON"}},
		{name: "4xx with message", uri: "/options/bad-request", wantReqErr: true, wantStatus: 400,
			wantErrSubstr: []string{`"acme-tracker"`, `"/options/bad-request"`, "status 400", "Jira project not linked"}},
		{name: "5xx", uri: "/options/server-error", wantReqErr: true, wantStatus: 500,
			wantErrSubstr: []string{`"acme-tracker"`, "status 500"}},
		{name: "unknown uri", uri: "/options/nope", wantReqErr: true, wantStatus: 404,
			wantErrSubstr: []string{"status 404", "no route /options/nope"}},
		{name: "huge answer", uri: "/options/huge", wantReqErr: true, wantStatus: 200,
			wantErrSubstr: []string{`"/options/huge"`, "exceeds 65536 bytes"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := SelectRequest{Installation: app.installation(), ProjectSlug: testProject, URI: tt.uri, DependentData: tt.dependent}
			got, err := r.Request(context.Background(), req)
			failing := tt.wantReqErr || tt.wantInvalid
			if !failing {
				if err != nil {
					t.Fatalf("Request: %v", err)
				}
				if s := choicesJSON(t, got); s != tt.want {
					t.Errorf("choices = %s\nwant      %s", s, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("Request = %s, want an error", choicesJSON(t, got))
			}
			for _, s := range tt.wantErrSubstr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not name %q", err, s)
				}
			}
			if strings.Contains(err.Error(), testSecret) {
				t.Errorf("error %q contains the client secret", err)
			}
			var reqErr *RequestError
			var invErr *InvalidResponseError
			switch {
			case tt.wantReqErr:
				if !errors.As(err, &reqErr) {
					t.Fatalf("error %T %v is no *RequestError", err, err)
				}
				if reqErr.StatusCode != tt.wantStatus || reqErr.App != "acme-tracker" || reqErr.URI != tt.uri {
					t.Errorf("RequestError = %+v, want status %d app acme-tracker uri %s", reqErr, tt.wantStatus, tt.uri)
				}
			case tt.wantInvalid:
				if !errors.As(err, &invErr) {
					t.Fatalf("error %T %v is no *InvalidResponseError", err, err)
				}
				if invErr.Index != tt.wantIndex || invErr.Key != tt.wantKey {
					t.Errorf("InvalidResponseError index %d key %q, want %d %q", invErr.Index, invErr.Key, tt.wantIndex, tt.wantKey)
				}
			}
		})
	}
	if n := app.count("/options/good"); n != 1 {
		t.Errorf("app got %d requests for /options/good, want 1", n)
	}
}

func TestSelectRequesterHugeAnswerIsTooLarge(t *testing.T) {
	app := newTestApp(t)
	_, err := localRequester(t, 5*time.Second).Request(context.Background(),
		SelectRequest{Installation: app.installation(), ProjectSlug: testProject, URI: "/options/huge"})
	var tooLarge *ResponseTooLargeError
	if !errors.As(err, &tooLarge) || tooLarge.Limit != 64<<10 {
		t.Fatalf("error = %v, want *ResponseTooLargeError with limit %d", err, 64<<10)
	}
}

func TestSelectRequesterOwnLimitWithPlainClient(t *testing.T) {
	// A requester given another client still bounds what it reads.
	app := newTestApp(t)
	r := &SelectRequester{Client: app.server.Client(), MaxResponseBytes: 1000, Logger: slog.New(slog.DiscardHandler)}
	_, err := r.Request(context.Background(),
		SelectRequest{Installation: app.installation(), ProjectSlug: testProject, URI: "/options/huge"})
	var tooLarge *ResponseTooLargeError
	if !errors.As(err, &tooLarge) || tooLarge.Limit != 1000 {
		t.Fatalf("error = %v, want *ResponseTooLargeError with limit 1000", err)
	}
}

func TestSelectRequesterSlowAnswerTimesOut(t *testing.T) {
	app := newTestApp(t)
	_, err := localRequester(t, 200*time.Millisecond).Request(context.Background(),
		SelectRequest{Installation: app.installation(), ProjectSlug: testProject, URI: "/options/slow"})
	var reqErr *RequestError
	if !errors.As(err, &reqErr) {
		t.Fatalf("error = %v, want *RequestError", err)
	}
	if reqErr.StatusCode != 0 || !strings.Contains(err.Error(), `"/options/slow"`) {
		t.Errorf("error = %v, want no status and the uri named", err)
	}
	var timeout interface{ Timeout() bool }
	if !errors.As(err, &timeout) || !timeout.Timeout() {
		t.Errorf("error = %v, want a timeout", err)
	}
}

func TestSelectRequesterCancelled(t *testing.T) {
	app := newTestApp(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := localRequester(t, 5*time.Second).Request(ctx,
		SelectRequest{Installation: app.installation(), ProjectSlug: testProject, URI: "/options/good"})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error = %v, want context.Canceled", err)
	}
}

func TestSelectRequesterWrongSecret(t *testing.T) {
	app := newTestApp(t)
	inst := app.installation()
	inst.ClientSecret = "another-secret"
	_, err := localRequester(t, 5*time.Second).Request(context.Background(),
		SelectRequest{Installation: inst, ProjectSlug: testProject, URI: "/options/good"})
	var reqErr *RequestError
	if !errors.As(err, &reqErr) || reqErr.StatusCode != 401 {
		t.Fatalf("error = %v, want the app's 401", err)
	}
	if strings.Contains(err.Error(), "another-secret") {
		t.Errorf("error %q contains the client secret", err)
	}
}

func TestSelectRequesterBadWebhookURL(t *testing.T) {
	tests := []struct {
		name, url, want string
		wantNoWebhook   bool
	}{
		{name: "missing", url: "", want: "no webhook url", wantNoWebhook: true},
		{name: "not a URL", url: "http://user:hunter2@exa mple.com/%zz", want: "not a valid URL"},
		{name: "scheme", url: "ftp://example.com/hook", want: `scheme "ftp"`},
		{name: "no host", url: "http:///hook", want: "no host"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// No request may leave: a client that refuses everything.
			r := NewSelectRequester(SafeClient(ClientOptions{}), nil)
			inst := newInstallationWithURL(tt.url)
			_, err := r.Request(context.Background(), SelectRequest{Installation: inst, URI: "/x"})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want it to say %q", err, tt.want)
			}
			if errors.Is(err, ErrNoWebhookURL) != tt.wantNoWebhook {
				t.Errorf("errors.Is(ErrNoWebhookURL) = %v, want %v", !tt.wantNoWebhook, tt.wantNoWebhook)
			}
			if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), testSecret) {
				t.Errorf("error %q leaks a secret", err)
			}
			if !strings.Contains(err.Error(), `"acme-tracker"`) {
				t.Errorf("error %q does not name the app", err)
			}
		})
	}
}

func TestSelectRequesterQueryOrder(t *testing.T) {
	// The reference sends installationId, projectSlug, query, dependentData
	// in that order; some apps sign or log the raw query.
	app := newTestApp(t)
	app.wantDependent["/options/empty"] = `{"a":"b c"}`
	_, err := localRequester(t, 5*time.Second).Request(context.Background(), SelectRequest{
		Installation: app.installation(), ProjectSlug: testProject, URI: "/options/empty",
		Query: "needle", DependentData: `{"a":"b c"}`,
	})
	if err != nil {
		t.Fatalf("Request: %v", err)
	}
	app.mu.Lock()
	raw := app.requests[len(app.requests)-1].URL.RawQuery
	app.mu.Unlock()
	want := "installationId=" + testInstallation + "&projectSlug=backend&query=needle&dependentData=%7B%22a%22%3A%22b+c%22%7D"
	if raw != want {
		t.Errorf("query = %s\nwant    %s", raw, want)
	}
}

// TestSelectRequesterWebhookURLParts checks that the request goes where
// Sentry's SelectRequester sends it: the webhook URL with its path replaced
// by uri, keeping the last segment's ";params" (urlparse keeps them apart
// from the path). The fragment never reaches the app.
func TestSelectRequesterWebhookURLParts(t *testing.T) {
	tests := []struct {
		name, webhookPath, uri, wantRequestURI string
	}{
		{"plain", "/webhook?ignored=1#frag", "/options/empty", "/options/empty?installationId=" + testInstallation},
		{"params of the last segment", "/a;x/hook;v=2?ignored=1#frag", "/options/empty", "/options/empty;v=2?installationId=" + testInstallation},
		{"escaped semicolon is no params", "/hook%3Bv=2", "/options/empty", "/options/empty?installationId=" + testInstallation},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app := newTestApp(t)
			app.wantProject = ""
			inst := app.installation()
			inst.WebhookURL = app.server.URL + tt.webhookPath
			_, _ = localRequester(t, 5*time.Second).Request(context.Background(), SelectRequest{Installation: inst, URI: tt.uri})
			app.mu.Lock()
			defer app.mu.Unlock()
			if len(app.requests) != 1 {
				t.Fatalf("app got %d requests, want 1", len(app.requests))
			}
			if got := app.requests[0].RequestURI; got != tt.wantRequestURI {
				t.Errorf("request URI = %s\nwant          %s", got, tt.wantRequestURI)
			}
		})
	}
}

func TestSign(t *testing.T) {
	// HMAC-SHA256 of the empty message under key "key" (RFC 4231 style check).
	if got, want := Sign("key", nil), "5d5d139563c95b5967b9bd9a8c9b233a9dedb45072794cd232dc1b74832607d0"; got != want {
		t.Errorf("Sign = %s, want %s", got, want)
	}
}

func TestTruthy(t *testing.T) {
	for raw, want := range map[string]bool{
		`true`: true, `false`: false, `null`: false, `0`: false, `0.0`: false, `1`: true,
		`""`: false, `"x"`: true, `[]`: false, `[0]`: true, `{}`: false, `{"a":1}`: true, `bogus`: false,
	} {
		if got := truthy(json.RawMessage(raw)); got != want {
			t.Errorf("truthy(%s) = %v, want %v", raw, got, want)
		}
	}
}

func newInstallationWithURL(webhookURL string) project.Installation {
	return project.Installation{
		UUID:         testInstallation,
		AppSlug:      "acme-tracker",
		WebhookURL:   webhookURL,
		ClientSecret: testSecret,
	}
}

func TestLogsCarryNoSecret(t *testing.T) {
	app := newTestApp(t)
	var logs strings.Builder
	logger := slog.New(slog.NewJSONHandler(&syncWriter{w: &logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	r := NewSelectRequester(SafeClient(ClientOptions{Policy: AddressPolicy{AllowLoopback: true}, Timeout: 5 * time.Second}), logger)
	inst := app.installation()
	inst.Components = []project.Component{
		{UUID: "ok", Type: TypeIssueLink, Schema: json.RawMessage(`{"link":{"required_fields":[{"name":"a","uri":"/options/good"}]}}`)},
		{UUID: "fails", Type: TypeIssueLink, Schema: json.RawMessage(`{"link":{"required_fields":[{"name":"a","uri":"/options/bad-request"}]}}`)},
	}
	NewPreparer(r, logger).PrepareAll(context.Background(), []project.Installation{inst}, testProject, 1)
	out := logs.String()
	if strings.Contains(out, testSecret) || strings.Contains(out, Sign(testSecret, nil)) {
		t.Errorf("logs carry the client secret or its signature:\n%s", out)
	}
	for _, want := range []string{`"request_id":"`, `"msg":"select options requested"`, `"msg":"prepare component failed"`, `"component":"fails"`} {
		if !strings.Contains(out, want) {
			t.Errorf("logs lack %s:\n%s", want, out)
		}
	}
}

// syncWriter serializes writes from concurrent requests.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func TestSelectRequesterDefaultClientRefusesLoopbackApp(t *testing.T) {
	// Without local mode, an app whose webhook resolves to this machine is
	// refused before any request reaches it.
	app := newTestApp(t)
	_, err := (&SelectRequester{Logger: slog.New(slog.DiscardHandler)}).Request(context.Background(),
		SelectRequest{Installation: app.installation(), ProjectSlug: testProject, URI: "/options/good"})
	var blocked *BlockedAddressError
	var reqErr *RequestError
	if !errors.As(err, &blocked) || !errors.As(err, &reqErr) {
		t.Fatalf("error = %v, want a *RequestError wrapping *BlockedAddressError", err)
	}
	for _, want := range []string{`"acme-tracker"`, `"/options/good"`, "loopback address (allowed only in local mode)"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if n := app.count("/options/good"); n != 0 {
		t.Errorf("app got %d requests, want 0", n)
	}
}
