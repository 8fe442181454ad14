package api_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/symflow/symflow/shared/api"
)

// TestBadInput sends malformed, mistyped, incomplete, oversized and
// misrouted requests: each is answered with its status, error code, the
// field it names and a message saying what is wrong, and writes nothing.
func TestBadInput(t *testing.T) {
	e := newEnv(t, func(s *api.Server) { s.MaxPayloadBytes = 64 << 10 })
	const (
		evt    = "0123456789abcdef0123456789abcdef"
		submit = "/v1/projects/42/events/" + evt + "/symbolicate"
		frame  = `{"instruction_addr":"0x1000"}`
		thread = `{"frames":[` + frame + `]}`
		module = `{"type":"elf","image_addr":"0x1000","image_size":4096}`
		config = "/v1/projects/42/config"
		inst   = "/v1/projects/42/installations/0badc0de-0000-4000-8000-000000000001"
	)
	ok := `{"stacktraces":[` + thread + `],"modules":[` + module + `]}`
	cfg := func(opts string) string {
		return `{"slug":"crashy-app","organization":{"slug":"acme"},"options":{` + opts + `}}`
	}
	big := `{"stacktraces":[` + thread + `],"modules":[` + module + `],"pad":"` + strings.Repeat("x", 70<<10) + `"}`

	cases := []struct {
		name, method, path, body string
		status                   int
		code, field, message     string
	}{
		// Malformed JSON.
		{"empty body", "POST", submit, "", 400, api.CodeMalformedJSON, "", "request body is empty"},
		{"truncated JSON", "POST", submit, `{"stacktraces":[`, 400, api.CodeMalformedJSON, "", "ends before the value"},
		{"syntax error", "POST", submit, `{"stacktraces" [] }`, 400, api.CodeMalformedJSON, "", "malformed JSON at byte"},
		{"trailing data", "POST", submit, ok + ` {}`, 400, api.CodeMalformedJSON, "", "unexpected data after"},
		{"body is an array", "POST", submit, `[1,2]`, 400, api.CodeMalformedJSON, "", "must be a JSON object, got array"},
		{"config body is a string", "PUT", config, `"hello"`, 400, api.CodeMalformedJSON, "", "must be a JSON object"},
		// Wrong types.
		{"stacktraces not an array", "POST", submit, `{"stacktraces":{}}`, 400, api.CodeInvalidField, "stacktraces", "must be an array"},
		{"signal a string", "POST", submit, `{"stacktraces":[` + thread + `],"signal":"11"}`, 400, api.CodeInvalidField, "signal", "must be a number, got string"},
		{"signal fractional", "POST", submit, `{"stacktraces":[` + thread + `],"signal":11.5}`, 400, api.CodeInvalidField, "signal", "must be a number"},
		{"apply_source_context a number", "POST", submit, `{"stacktraces":[` + thread + `],"apply_source_context":1}`, 400, api.CodeInvalidField, "apply_source_context", "must be true or false"},
		{"frame not an object", "POST", submit, `{"stacktraces":[{"frames":[42]}]}`, 400, api.CodeInvalidField, "stacktraces[0].frames[0]", "must be an object, got a number"},
		{"instruction_addr a number", "POST", submit, `{"stacktraces":[{"frames":[{"instruction_addr":4096}]}]}`, 400, api.CodeInvalidField, "stacktraces[0].frames[0].instruction_addr", "must be a hex string"},
		{"instruction_addr not hex", "POST", submit, `{"stacktraces":[{"frames":[{"instruction_addr":"0xZZ"}]}]}`, 400, api.CodeInvalidField, "stacktraces[0].frames[0].instruction_addr", "is not a hex address"},
		{"module image_size negative", "POST", submit, `{"stacktraces":[` + thread + `],"modules":[{"type":"elf","image_addr":"0x1","image_size":-1}]}`, 400, api.CodeInvalidField, "modules[0].image_size", "non-negative whole number"},
		{"builtin sources not an array", "PUT", config, cfg(`"builtin_symbol_sources":"microsoft"`), 400, api.CodeInvalidField, "options.builtin_symbol_sources", "must be an array, got string"},
		{"symbol_sources a number", "PUT", config, cfg(`"symbol_sources":5`), 400, api.CodeInvalidField, "options.symbol_sources", "must be a JSON array"},
		// Missing or invalid fields.
		{"stacktraces missing", "POST", submit, `{"modules":[]}`, 400, api.CodeInvalidField, "stacktraces", "is required"},
		{"stacktraces empty", "POST", submit, `{"stacktraces":[]}`, 400, api.CodeInvalidField, "stacktraces", "at least one stack trace"},
		{"frames missing", "POST", submit, `{"stacktraces":[{"thread_id":1}]}`, 400, api.CodeInvalidField, "stacktraces[0].frames", "is required"},
		{"instruction_addr missing", "POST", submit, `{"stacktraces":[{"frames":[{"function":"main"}]}]}`, 400, api.CodeInvalidField, "stacktraces[0].frames[0].instruction_addr", "is required"},
		{"module type missing", "POST", submit, `{"stacktraces":[` + thread + `],"modules":[{"image_addr":"0x1000"}]}`, 400, api.CodeInvalidField, "modules[0].type", "is required"},
		{"signal out of range", "POST", submit, `{"stacktraces":[` + thread + `],"signal":99}`, 400, api.CodeInvalidField, "signal", "is not a signal number"},
		{"platform with spaces", "POST", submit, `{"platform":"Not Native","stacktraces":[` + thread + `]}`, 400, api.CodeInvalidField, "platform", "is not a platform name"},
		{"unknown payload field", "POST", submit, `{"stacktraces":[` + thread + `],"stacktrace":[]}`, 400, api.CodeUnknownField, "stacktrace", "unknown field"},
		{"config slug missing", "PUT", config, `{"organization":{"slug":"acme"}}`, 400, api.CodeInvalidField, "slug", "is required"},
		{"config organization slug missing", "PUT", config, `{"slug":"crashy-app","organization":{}}`, 400, api.CodeInvalidField, "organization.slug", "is required"},
		{"config id differs from path", "PUT", config, `{"id":"43","slug":"crashy-app","organization":{"slug":"acme"}}`, 400, api.CodeInvalidField, "id", "differs from the project id"},
		{"config unknown builtin source", "PUT", config, cfg(`"builtin_symbol_sources":["microsoft","nope"]`), 400, api.CodeInvalidField, "options.builtin_symbol_sources[1]", `unknown builtin source "nope"`},
		{"config custom source bad layout", "PUT", config, cfg(`"symbol_sources":[{"id":"s","type":"http","url":"https://x.example/","layout":{"type":"flat"}}]`), 400, api.CodeInvalidField, "options.symbol_sources[0].layout.type", "flat"},
		{"config hidden secret without stored value", "PUT", config, cfg(`"symbol_sources":[{"id":"new","type":"http","url":"https://x.example/","password":{"hidden-secret":true},"layout":{"type":"native"}}]`), 400, api.CodeInvalidField, "options.symbol_sources[0].password", "hidden secret has no stored value"},
		{"config hidden token without stored value", "PUT", config, cfg(`"token":"[hidden-secret]"`), 400, api.CodeInvalidField, "options.token", "hidden secret has no stored value"},
		{"config unknown option", "PUT", config, cfg(`"scrape_js":true`), 400, api.CodeUnknownField, "options.scrape_js", "unknown field"},
		{"installation app_slug missing", "PUT", inst, `{"webhook_url":"https://x.example/"}`, 400, api.CodeInvalidField, "app_slug", "is required"},
		{"installation webhook not a URL", "PUT", inst, `{"app_slug":"a","webhook_url":"ftp:/x"}`, 400, api.CodeInvalidField, "webhook_url", "not an absolute http(s) URL"},
		{"installation uuid differs", "PUT", inst, `{"uuid":"0badc0de-0000-4000-8000-000000000002","app_slug":"a"}`, 400, api.CodeInvalidField, "uuid", "differs from the installation uuid"},
		{"installation component schema not object", "PUT", inst, `{"app_slug":"a","components":[{"uuid":"0badc0de-0000-4000-8000-0000000000c1","type":"issue-link","schema":[]}]}`, 400, api.CodeInvalidField, "components[0].schema", "must be an object, got an array"},
		// Bad ids.
		{"bad project id", "POST", "/v1/projects/4%232/events/" + evt + "/symbolicate", ok, 400, api.CodeInvalidField, "project_id", "is not a project id"},
		{"project id too long", "GET", "/v1/projects/" + strings.Repeat("p", 65) + "/config", "", 400, api.CodeInvalidField, "project_id", "is not a project id"},
		{"event id uppercase", "POST", "/v1/projects/42/events/" + strings.ToUpper(evt) + "/symbolicate", ok, 400, api.CodeInvalidField, "event_id", "32 lowercase hex"},
		{"event id short", "POST", "/v1/projects/42/events/abc/symbolicate", ok, 400, api.CodeInvalidField, "event_id", "32 lowercase hex"},
		{"execution id with dots", "GET", "/v1/executions/a.b", "", 400, api.CodeInvalidField, "execution_id", "is not an execution id"},
		{"installation uuid malformed", "PUT", "/v1/projects/42/installations/not-a-uuid", `{"app_slug":"a"}`, 400, api.CodeInvalidField, "uuid", "is not a UUID"},
		// Unknown things.
		{"unknown project", "POST", "/v1/projects/77/events/" + evt + "/symbolicate", ok, 404, api.CodeProjectNotFound, "", "project 77 is not configured"},
		{"unknown project config", "GET", "/v1/projects/77/config", "", 404, api.CodeProjectNotFound, "", "project 77 is not configured"},
		{"installation of unknown project", "PUT", "/v1/projects/77/installations/0badc0de-0000-4000-8000-000000000001", `{"app_slug":"a"}`, 404, api.CodeProjectNotFound, "", "project 77"},
		{"unknown execution", "GET", "/v1/executions/42_" + evt, "", 404, api.CodeExecutionNotFound, "", "no execution 42_" + evt},
		// Oversized bodies.
		{"payload over the limit", "POST", submit, big, 413, api.CodeBodyTooLarge, "", "the payload is larger than 65536 bytes"},
		{"config over the limit", "PUT", config, cfg(`"token":"` + strings.Repeat("t", 300<<10) + `"`), 413, api.CodeBodyTooLarge, "", "the configuration is larger than"},
		// Unknown routes and wrong methods.
		{"unknown route", "GET", "/v1/nothing", "", 404, api.CodeNotFound, "", "no route GET /v1/nothing"},
		{"unknown version", "POST", "/v2/projects/42/events/" + evt + "/symbolicate", ok, 404, api.CodeNotFound, "", "no route"},
		{"trailing segment", "GET", "/v1/projects/42/config/extra", "", 404, api.CodeNotFound, "", "no route"},
		{"GET on symbolicate", "GET", submit, "", 405, api.CodeMethodNotAllowed, "", "GET is not allowed on " + submit + "; use POST"},
		{"DELETE config", "DELETE", config, "", 405, api.CodeMethodNotAllowed, "", "use GET or PUT"},
		{"POST execution", "POST", "/v1/executions/42_" + evt, "{}", 405, api.CodeMethodNotAllowed, "", "use GET"},
	}
	before := e.snapshot()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := e.do(tc.method, tc.path, tc.body)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, resp.Body)
			}
			b := decode[errorBody](t, resp)
			if b.Error.Code != tc.code || b.Error.Field != tc.field || !strings.Contains(b.Error.Message, tc.message) {
				t.Errorf("error %+v, want code %s, field %q, message containing %q", b.Error, tc.code, tc.field, tc.message)
			}
			if tc.status == 405 && resp.Headers["allow"] == "" {
				t.Errorf("405 without an Allow header")
			}
		})
	}
	if len(cases) < 25 {
		t.Errorf("only %d cases", len(cases))
	}
	after := e.snapshot()
	if !slices.Equal(before.objects, after.objects) {
		t.Errorf("bad requests wrote objects:\nbefore %v\nafter  %v", before.objects, after.objects)
	}
	if before.project != after.project {
		t.Errorf("bad requests changed the project:\nbefore %s\nafter  %s", before.project, after.project)
	}
	if !slices.Equal(before.executions, after.executions) {
		t.Errorf("bad requests started executions: %v", after.executions)
	}
	// No claim was written for the event the bad submissions named.
	if _, claimed, err := e.st.Store.ClaimExecution(context.Background(), "42", evt, "probe"); err != nil || !claimed {
		t.Errorf("event %s was claimed by a rejected request (claimed=%v, err=%v)", evt, claimed, err)
	}
}

// TestInternalErrorsDoNotLeak: a store failure is answered 500 with the
// request id only.
func TestInternalErrorsDoNotLeak(t *testing.T) {
	e := newEnv(t)
	e.svc.API.Projects = failingProjects{}
	resp := e.do(http.MethodGet, "/v1/projects/42/config", "")
	if resp.StatusCode != http.StatusInternalServerError {
		t.Fatalf("status %d: %s", resp.StatusCode, resp.Body)
	}
	b := decode[errorBody](t, resp)
	if b.Error.Code != api.CodeInternal || !strings.Contains(b.Error.Message, "c6af9ac6-7b61-11e6-9a41-93e8deadbeef") {
		t.Errorf("error %+v, want internal with the request id", b.Error)
	}
	if strings.Contains(resp.Body, "dynamodb") || strings.Contains(resp.Body, "10.1.2.3") {
		t.Errorf("internal detail leaked: %s", resp.Body)
	}
}
