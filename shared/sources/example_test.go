package sources_test

import (
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/symflow/symflow/shared/project"
	"github.com/symflow/symflow/shared/sources"
)

// A project of an organization with custom sources: its own debug files
// first, then its symbol server (credentials turned into an authorization
// header), then the builtin sources it enabled, in catalog order. The list
// is hidden before it goes into workflow state.
func ExampleForProject() {
	p := project.Project{
		ID:   "42",
		Slug: "game",
		Organization: project.Organization{
			Slug:     "acme",
			Features: []string{project.FeatureCustomSymbolSources},
		},
		Options: project.Options{
			SymbolSources: `[{"type":"http","id":"acme-symbols","name":"Acme",` +
				`"url":"https://symbols.acme.example/","username":"ci","password":"s3cret",` +
				`"layout":{"type":"symstore"}}]`,
			BuiltinSymbolSources: []string{"ubuntu", "microsoft"},
		},
	}
	settings := project.Settings{
		InternalURLPrefix: "https://sentry.acme.example/",
		SystemToken:       "system-token",
	}
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

	list, rc := sources.ForProject(p, settings, "a1b2c3d4e5f60718293a4b5c6d7e8f90", now, nil)
	fmt.Println(list.IDs())

	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(sources.Hide(list)[:2]); err != nil {
		fmt.Println(err)
	}
	fmt.Println(rc.SourceNames["acme-symbols"], rc.SourceNames["sentry:project"])
	// Output:
	// [sentry:project acme-symbols sentry:microsoft sentry:ubuntu]
	// [
	//   {
	//     "id": "sentry:project",
	//     "token": {
	//       "hidden-secret": true
	//     },
	//     "type": "sentry",
	//     "url": "https://sentry.acme.example/api/0/projects/acme/game/files/dsyms/"
	//   },
	//   {
	//     "headers": {
	//       "authorization": {
	//         "hidden-secret": true
	//       },
	//       "x-sentry-event-id": "a1b2c3d4e5f60718293a4b5c6d7e8f90",
	//       "x-sentry-project-id": "42"
	//     },
	//     "id": "acme-symbols",
	//     "layout": {
	//       "type": "symstore"
	//     },
	//     "name": "Acme",
	//     "type": "http",
	//     "url": "https://symbols.acme.example/"
	//   }
	// ]
	// Acme Sentry
}

// Post-processing a Symbolicator answer with the context ForProject gave:
// internal candidates lose their location and their surplus notfound
// entries.
func ExampleProcessResponse() {
	rc := sources.ResponseContext{
		ReverseAliases: map[string]string{},
		SourceNames:    map[string]string{"sentry:project": "Sentry", "sentry:microsoft": "Microsoft"},
	}
	var resp map[string]any
	_ = json.Unmarshal([]byte(`{"modules":[{"candidates":[
		{"source":"sentry:microsoft","location":"https://msdl.microsoft.com/x.pdb","download":{"status":"notfound"}},
		{"source":"sentry:microsoft","location":"https://msdl.microsoft.com/y.pdb","download":{"status":"notfound"}},
		{"source":"sentry:project","location":"sentry://project_debug_file/7","download":{"status":"ok"}}]}]}`), &resp)
	out, _ := json.Marshal(sources.ProcessResponse(resp, rc)["modules"])
	fmt.Println(string(out))
	// Output:
	// [{"candidates":[{"download":{"status":"notfound"},"source":"sentry:microsoft","source_name":"Microsoft"},{"download":{"status":"ok"},"location":"sentry://project_debug_file/7","source":"sentry:project","source_name":"Sentry"}]}]
}
