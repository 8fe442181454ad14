package api_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/symflow/symflow/shared/api"
)

// TestUnknownFieldNamesItsPath: an unknown field is named by its full path
// in the body, through objects and arrays, whatever came before it, and the
// request writes nothing.
func TestUnknownFieldNamesItsPath(t *testing.T) {
	e := newEnv(t)
	const (
		config = "/v1/projects/42/config"
		inst   = "/v1/projects/42/installations/0badc0de-0000-4000-8000-000000000001"
		app    = `{"uuid":"0badc0de-0000-4000-8000-0000000000a1","app_slug":"a","components":[{"uuid":"c1","type":"issue-link","schema":{"evil":{"deep":[1,{"evil":2}]}}}]}`
	)
	cfg := func(rest string) string {
		return `{"slug":"crashy-app","organization":{"slug":"acme"}` + rest + `}`
	}
	cases := []struct {
		name, method, path, body, field string
	}{
		{"top level", "PUT", config, cfg(`,"evil":1`), "evil"},
		{"in an object", "PUT", config, `{"slug":"crashy-app","organization":{"slug":"acme","evil":{"x":1}}}`, "organization.evil"},
		{"key spelled in another case", "PUT", config, `{"slug":"crashy-app","Organization":{"Slug":"acme","evil":true}}`, "Organization.evil"},
		{"after a raw value holding the same name", "PUT", config,
			cfg(`,"options":{"symbol_sources":[{"id":"s","evil":1,"scrape_js":2}],"scrape_js":true}`), "options.scrape_js"},
		{"in an array element", "PUT", config, cfg(`,"installations":[` + app + `,{"uuid":"0badc0de-0000-4000-8000-0000000000a2","app_slug":"b","evil":"x"}]`), "installations[1].evil"},
		{"in a nested array", "PUT", config,
			cfg(`,"installations":[{"uuid":"0badc0de-0000-4000-8000-0000000000a1","app_slug":"a","components":[{"uuid":"c1","type":"t","schema":{}},{"uuid":"c2","type":"t","schema":{},"evil":null}]}]`),
			"installations[0].components[1].evil"},
		{"installation component", "PUT", inst, `{"app_slug":"a","components":[{"uuid":"c1","type":"t","schema":{}},{"uuid":"c2","type":"t","evil":[]}]}`, "components[1].evil"},
		{"beside an embedded struct's fields", "POST", "/v1/projects/42/debug-files/uploads",
			`{"format":"elf","debug_id":"0badc0de-0000-4000-8000-000000000001","file_type":"both","evil":1}`, "evil"},
		{"payload", "POST", "/v1/projects/42/events/0123456789abcdef0123456789abcdef/symbolicate",
			`{"stacktraces":[{"frames":[{"instruction_addr":"0x1000","evil":1}]}],"signal":11,"evil":true}`, "evil"},
	}
	before := e.snapshot()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := e.do(tc.method, tc.path, tc.body)
			if resp.StatusCode != 400 {
				t.Fatalf("status %d, want 400: %s", resp.StatusCode, resp.Body)
			}
			b := decode[errorBody](t, resp)
			if b.Error.Code != api.CodeUnknownField || b.Error.Field != tc.field || !strings.HasPrefix(b.Error.Message, tc.field+": unknown field") {
				t.Errorf("error %+v, want code %s, field %q and a message naming it", b.Error, api.CodeUnknownField, tc.field)
			}
		})
	}
	after := e.snapshot()
	if !slices.Equal(before.objects, after.objects) || before.project != after.project || !slices.Equal(before.executions, after.executions) {
		t.Errorf("requests with unknown fields wrote something:\nbefore %+v\nafter  %+v", before, after)
	}
}
