package component

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/symflow/symflow/shared/project"
)

// BenchmarkPrepareIssueLink prepares the golden issue-link schema, its
// fields fetched from an app on 127.0.0.1.
func BenchmarkPrepareIssueLink(b *testing.B) {
	app := newTestApp(b)
	app.wantDependent["/options/dependent"] = `{"project":"p1","board":"b2"}`
	schema, err := os.ReadFile(filepath.Join("testdata", "issue-link.json"))
	if err != nil {
		b.Fatal(err)
	}
	p := NewPreparer(localRequester(b, 5*time.Second), slog.New(slog.DiscardHandler))
	c := project.Component{UUID: "c", Type: TypeIssueLink, Schema: schema}
	values := []FieldValue{{Name: "project", Value: "p1"}, {Name: "board", Value: "b2"}}
	for b.Loop() {
		if _, err := p.Prepare(context.Background(), app.installation(), c, testProject, values); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPrepareOptionsOnly measures the schema handling alone: every
// field has static options, so nothing is fetched.
func BenchmarkPrepareOptionsOnly(b *testing.B) {
	var fields []json.RawMessage
	for range 50 {
		fields = append(fields, json.RawMessage(`{"type":"select","name":"f","label":"F","options":[["a","A"],["b","B"],["c","C"]],"x":{"y":[1,2,3]}}`))
	}
	schema := `{"link":{"required_fields":` + string(encodeArray(fields)) + `},"create":{"optional_fields":` + string(encodeArray(fields)) + `}}`
	p := &Preparer{}
	c := project.Component{UUID: "c", Type: TypeIssueLink, Schema: json.RawMessage(schema)}
	b.SetBytes(int64(len(schema)))
	for b.Loop() {
		if _, err := p.Prepare(context.Background(), project.Installation{}, c, "", nil); err != nil {
			b.Fatal(err)
		}
	}
}
