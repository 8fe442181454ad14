package component

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/symflow/symflow/shared/project"
)

const (
	hookUser = "app-user"
	hookPass = "hook-s3cret-pw"
)

// hookSecrets are every spelling of the webhook URL's credentials.
var hookSecrets = []string{hookPass, hookUser + ":" + hookPass, base64.StdEncoding.EncodeToString([]byte(hookUser + ":" + hookPass))}

func assertNoHookSecret(t *testing.T, where, text string) {
	t.Helper()
	for _, s := range append(hookSecrets, hookUser+"@") {
		if strings.Contains(text, s) {
			t.Errorf("%s holds %q: %s", where, s, text)
		}
	}
}

// credApp answers select options and records the Authorization headers
// it got; /echo answers 500 with them in its JSON message.
type credApp struct {
	mu   sync.Mutex
	auth []string
}

func (a *credApp) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	a.auth = append(a.auth, r.Header.Get("Authorization"))
	a.mu.Unlock()
	switch r.URL.Path {
	case "/echo":
		writeJSON(w, http.StatusInternalServerError, map[string]string{"message": "denied; you sent " + r.Header.Get("Authorization") + " for " + hookUser + ":" + hookPass})
	case "/redirect":
		http.Redirect(w, r, r.URL.Query().Get("to"), http.StatusFound)
	default:
		writeJSON(w, http.StatusOK, []map[string]any{{"value": "v", "label": "L"}})
	}
}

func (a *credApp) seen() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.auth...)
}

// withCreds is rawURL with the test credentials as its userinfo.
func withCreds(rawURL string) string {
	return strings.Replace(rawURL, "://", "://"+hookUser+":"+hookPass+"@", 1)
}

// TestRequesterSendsURLCredentialsAsBasicAuth: the app gets the webhook
// URL's credentials, as Sentry's client sends them.
func TestRequesterSendsURLCredentialsAsBasicAuth(t *testing.T) {
	app := &credApp{}
	srv := httptest.NewServer(app)
	t.Cleanup(srv.Close)
	inst := newInstallationWithURL(withCreds(srv.URL) + "/hook")
	got, err := localRequester(t, 10*time.Second).Request(context.Background(), SelectRequest{Installation: inst, URI: "/options"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Choices) != 1 {
		t.Errorf("choices %+v", got)
	}
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte(hookUser+":"+hookPass))
	if seen := app.seen(); len(seen) != 1 || seen[0] != want {
		t.Errorf("app got Authorization %q, want %q", seen, want)
	}
}

// TestRequesterErrorsHideURLCredentials: whatever fails, the error (and
// the log line) names the app and the URI, never the credentials.
func TestRequesterErrorsHideURLCredentials(t *testing.T) {
	app := &credApp{}
	srv := httptest.NewServer(app)
	t.Cleanup(srv.Close)
	closed := closedAddr(t)
	other := httptest.NewServer(app) // another host name for the same app
	t.Cleanup(other.Close)
	otherURL := strings.Replace(other.URL, "127.0.0.1", "localhost", 1)

	tests := []struct {
		name    string
		webhook string
		uri     string
		client  Doer
		want    string // part of the error
	}{
		{name: "connection refused", webhook: withCreds("http://" + closed + "/hook"), uri: "/options", want: "connection refused"},
		{name: "refused address", webhook: withCreds(srv.URL), uri: "/options", client: SafeClient(ClientOptions{}), want: "loopback address"},
		{name: "app echoes the credentials", webhook: withCreds(srv.URL), uri: "/echo", want: "status 500"},
		{name: "client error quoting the URL", webhook: withCreds(srv.URL), uri: "/options", client: urlErrorDoer{}, want: "unexpected EOF"},
		{name: "invalid URL", webhook: "http://" + hookUser + ":" + hookPass + "@exa mple.com/%zz", uri: "/options", want: "not a valid URL"},
		{name: "too many redirects", webhook: withCreds(srv.URL), uri: "/redirect",
			client: SafeClient(ClientOptions{Policy: AddressPolicy{AllowLoopback: true}, MaxRedirects: -1}), want: "redirect"},
		{name: "redirect to another host drops them", webhook: withCreds(srv.URL), uri: "/redirect?to=" + url.QueryEscape(otherURL+"/echo"), want: "status 500"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs strings.Builder
			logger := slog.New(slog.NewJSONHandler(&syncWriter{w: &logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
			client := tt.client
			if client == nil {
				client = SafeClient(ClientOptions{Policy: AddressPolicy{AllowLoopback: true}, Timeout: 10 * time.Second})
			}
			uri, query, _ := strings.Cut(tt.uri, "?")
			r := NewSelectRequester(client, logger)
			if query != "" {
				r.Client = queryDoer{next: client, query: query}
			}
			_, err := r.Request(context.Background(), SelectRequest{Installation: newInstallationWithURL(tt.webhook), URI: uri})
			var reqErr *RequestError
			if !errors.As(err, &reqErr) {
				t.Fatalf("error %v (%T), want a *RequestError", err, err)
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), `"acme-tracker"`) {
				t.Errorf("error %q does not name the app and say %q", err, tt.want)
			}
			assertNoHookSecret(t, "error", err.Error())
			assertNoHookSecret(t, "log", logs.String())
		})
	}
	// The redirect went to another host name without the credentials.
	for _, a := range app.seen() {
		if a == "" {
			return
		}
	}
	t.Error("no request arrived without credentials: the redirect case proves nothing")
}

// queryDoer adds a raw query to every first request (the requester sets
// its own query, and a redirect target travels in one).
type queryDoer struct {
	next  Doer
	query string
}

func (d queryDoer) Do(req *http.Request) (*http.Response, error) {
	req.URL.RawQuery = d.query + "&" + req.URL.RawQuery
	return d.next.Do(req)
}

// urlErrorDoer fails as a client that put the credentials back into the
// URL of its error would.
type urlErrorDoer struct{}

func (urlErrorDoer) Do(req *http.Request) (*http.Response, error) {
	u := *req.URL
	if user, pass, ok := req.BasicAuth(); ok {
		u.User = url.UserPassword(user, pass)
	}
	return nil, &url.Error{Op: "Get", URL: u.String(), Err: io.ErrUnexpectedEOF}
}

// closedAddr is a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestPrepareAllHidesURLCredentials: stacktrace links, stored schemas and
// errors in Results carry no URL credentials; the app still got them.
func TestPrepareAllHidesURLCredentials(t *testing.T) {
	app := &credApp{}
	srv := httptest.NewServer(app)
	t.Cleanup(srv.Close)
	inst := newInstallationWithURL(withCreds(srv.URL) + "/hook")
	inst.Components = []project.Component{
		{UUID: "link", Type: TypeStacktraceLink, Schema: json.RawMessage(`{"uri":"/open"}`)},
		{UUID: "ok", Type: TypeIssueLink, Schema: json.RawMessage(fmt.Sprintf(
			`{"link":{"help":%q,"required_fields":[{"name":"a","uri":"/options"}]}}`, withCreds("https://docs.example/x")))},
		{UUID: "fails", Type: TypeAlertRuleAction, Schema: json.RawMessage(`{"settings":{"required_fields":[{"name":"a","uri":"/echo"}]}}`)},
		{UUID: "other", Type: "custom", Schema: json.RawMessage(fmt.Sprintf(`{"href":%q}`, withCreds("https://docs.example/y")))},
	}
	var logs strings.Builder
	logger := slog.New(slog.NewJSONHandler(&syncWriter{w: &logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	results := NewPreparer(localRequester(t, 10*time.Second), logger).PrepareAll(context.Background(), []project.Installation{inst}, testProject, 2)
	b, err := json.Marshal(results)
	if err != nil {
		t.Fatal(err)
	}
	assertNoHookSecret(t, "results", string(b))
	assertNoHookSecret(t, "log", logs.String())
	var link struct {
		URL string `json:"url"`
	}
	json.Unmarshal(results[0].Schema, &link)
	if want := srv.URL + "/open?installationId=" + testInstallation + "&projectSlug=" + testProject; link.URL != want {
		t.Errorf("stacktrace link %s, want %s", link.URL, want)
	}
	if results[1].Error != "" || !strings.Contains(string(results[1].Schema), "https://%5Bhidden-secret%5D@docs.example/x") {
		t.Errorf("issue link: %s %s", results[1].Error, results[1].Schema)
	}
	if results[2].Error == "" || !strings.Contains(results[2].Error, "status 500") {
		t.Errorf("failing component: %q", results[2].Error)
	}
	if !strings.Contains(string(results[3].Schema), "https://%5Bhidden-secret%5D@docs.example/y") {
		t.Errorf("untouched component: %s", results[3].Schema)
	}
	if n := len(app.seen()); n != 2 {
		t.Errorf("app got %d requests, want 2", n)
	}
}
