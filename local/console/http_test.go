package console

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/symflow/symflow/shared/execution"
	"github.com/symflow/symflow/statemachine"
)

type fakeExecutions struct{ redriven []string }

func (f *fakeExecutions) Describe(ctx context.Context, name string) (execution.Execution, error) {
	return execution.Execution{}, execution.ErrNotFound
}

func (f *fakeExecutions) Redrive(ctx context.Context, name string) (execution.Execution, error) {
	f.redriven = append(f.redriven, name)
	return execution.Execution{}, execution.ErrNotFound
}

// TestRoutes: the pages answer, a missing execution is a 404 page, and a
// redrive posted from another site's page is refused before it reaches
// the executor.
func TestRoutes(t *testing.T) {
	ex := &fakeExecutions{}
	c, err := New(Config{StateDir: t.TempDir(), Definition: statemachine.Definition, Executions: ex})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		method, path, origin string
		code                 int
		body                 string
	}{
		{"GET", "/", "", 200, "no executions"},
		{"GET", "/?status=FAILED", "", 200, "with status FAILED"},
		{"GET", "/executions/42_x", "", 404, "No execution 42_x"},
		{"POST", "/executions/42_x/redrive", "http://evil.example", 403, "own pages"},
		{"POST", "/executions/42_x/redrive", "http://example.com", 303, ""},
		{"GET", "/v1/executions/42_x", "", 404, ""},
	} {
		r := httptest.NewRequest(tt.method, "http://example.com"+tt.path, nil)
		if tt.origin != "" {
			r.Header.Set("Origin", tt.origin)
		}
		w := httptest.NewRecorder()
		c.ServeHTTP(w, r)
		if w.Code != tt.code || !strings.Contains(w.Body.String(), tt.body) {
			t.Errorf("%s %s (origin %q): %d %.200s", tt.method, tt.path, tt.origin, w.Code, w.Body.String())
		}
		if tt.code == http.StatusSeeOther && !strings.Contains(w.Header().Get("Location"), "not+redriven") {
			t.Errorf("redrive of an unknown execution: to %s", w.Header().Get("Location"))
		}
	}
	if len(ex.redriven) != 1 {
		t.Errorf("redrives reaching the executor: %v, want the same-origin one only", ex.redriven)
	}
}
