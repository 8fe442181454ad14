package component_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"

	"github.com/symflow/symflow/shared/component"
	"github.com/symflow/symflow/shared/project"
)

func ExamplePreparer_Prepare() {
	// An app on this machine answering the options of its "assignee" field.
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(component.SignatureHeader) != component.Sign("app-secret", nil) {
			http.Error(w, `{"message":"bad signature"}`, http.StatusUnauthorized)
			return
		}
		fmt.Fprint(w, `[{"value":"u1","label":"Ada"},{"value":"u2","label":"Grace","default":true}]`)
	}))
	defer app.Close()

	// Local mode: the app is on loopback, which production refuses.
	client := component.SafeClient(component.ClientOptions{
		Policy: component.AddressPolicy{AllowLoopback: true},
	})
	p := component.NewPreparer(component.NewSelectRequester(client, slog.New(slog.DiscardHandler)), nil)

	inst := project.Installation{
		UUID: "inst-1", AppSlug: "tracker", WebhookURL: app.URL + "/hook", ClientSecret: "app-secret",
	}
	c := project.Component{
		UUID: "comp-1",
		Type: component.TypeIssueLink,
		Schema: json.RawMessage(`{"create":{"required_fields":[
			{"type":"select","name":"assignee","uri":"/assignees"},
			{"type":"select","name":"team","depends_on":["org"],"uri":"/teams"}]}}`),
	}
	prepared, err := p.Prepare(context.Background(), inst, c, "backend", nil)
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	fmt.Println(string(prepared.Schema))
	// Output:
	// {"create":{"required_fields":[{"type":"select","name":"assignee","uri":"/assignees","choices":[["u1","Ada"],["u2","Grace"]],"defaultValue":"u2"},{"type":"select","name":"team","depends_on":["org"],"uri":"/teams","choices":[]}]}}
}
