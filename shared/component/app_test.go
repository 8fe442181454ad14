package component

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/symflow/symflow/shared/project"
)

const (
	testSecret       = "s3cr3t-client-secret-do-not-leak"
	testInstallation = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
	testProject      = "backend"
)

var requestIDPattern = regexp.MustCompile(`^[0-9a-f]{32}$`)

// testApp is a sentry app served on 127.0.0.1: it checks each request the
// way an app does (signature, installation) and what the test expects of
// the query, then answers by path.
type testApp struct {
	t      testing.TB
	server *httptest.Server

	mu       sync.Mutex
	requests []*http.Request
	// wantProject and wantDependent are what the query must carry; "" for
	// dependentData means it must be absent.
	wantProject   string
	wantDependent map[string]string // path → dependentData
}

func newTestApp(t testing.TB) *testApp {
	t.Helper()
	a := &testApp{t: t, wantProject: testProject, wantDependent: map[string]string{}}
	a.server = httptest.NewServer(http.HandlerFunc(a.serve))
	t.Cleanup(a.server.Close)
	return a
}

func (a *testApp) installation() project.Installation {
	return project.Installation{
		UUID:         testInstallation,
		AppSlug:      "acme-tracker",
		WebhookURL:   a.server.URL + "/webhook?ignored=1",
		ClientSecret: testSecret,
	}
}

func (a *testApp) count(path string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for _, r := range a.requests {
		if r.URL.Path == path {
			n++
		}
	}
	return n
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

func (a *testApp) serve(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	a.requests = append(a.requests, r)
	wantDependent, dependentSet := a.wantDependent[r.URL.Path]
	a.mu.Unlock()

	// What every app checks.
	if r.Method != http.MethodGet {
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"message": "method " + r.Method})
		return
	}
	if got, want := r.Header.Get(SignatureHeader), Sign(testSecret, nil); got != want {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"message": "bad signature " + got})
		return
	}
	if got := r.Header.Get("Content-Type"); got != "application/json" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": "content type " + got})
		return
	}
	if got := r.Header.Get(RequestIDHeader); !requestIDPattern.MatchString(got) {
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": "request id " + got})
		return
	}
	q := r.URL.Query()
	if got := q.Get("installationId"); got != testInstallation {
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "unknown installation " + got})
		return
	}
	if got := q.Get("projectSlug"); got != a.wantProject {
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": "projectSlug " + got})
		return
	}
	if got := q.Get("dependentData"); dependentSet && got != wantDependent || !dependentSet && q.Has("dependentData") {
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": "dependentData " + got})
		return
	}

	switch r.URL.Path {
	case "/options/good":
		writeJSON(w, http.StatusOK, []map[string]any{
			{"value": "p1", "label": "Project One"},
			{"value": 2, "label": "Project <Two> & more", "extra": []int{1}},
		})
	case "/options/default":
		writeJSON(w, http.StatusOK, []map[string]any{
			{"value": "low", "label": "Low", "default": false},
			{"value": "high", "label": "High", "default": true},
			{"value": "mid", "label": "Mid", "default": ""},
		})
	case "/options/empty":
		writeJSON(w, http.StatusOK, []any{})
	case "/options/dependent":
		var dep map[string]any
		if err := json.Unmarshal([]byte(q.Get("dependentData")), &dep); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"message": "dependentData is not JSON"})
			return
		}
		writeJSON(w, http.StatusOK, []map[string]any{
			{"value": fmt.Sprintf("%v/%v", dep["project"], dep["board"]), "label": "Column for board", "default": 1},
		})
	case "/options/missing-label":
		writeJSON(w, http.StatusOK, []map[string]any{
			{"value": "a", "label": "A"},
			{"value": "b"},
		})
	case "/options/missing-value":
		writeJSON(w, http.StatusOK, []map[string]any{{"label": "A"}})
	case "/options/not-object-item":
		writeJSON(w, http.StatusOK, []any{"a"})
	case "/options/not-array":
		writeJSON(w, http.StatusOK, map[string]any{"value": "a", "label": "A"})
	case "/options/not-json":
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte("<html>oops</html>"))
	case "/options/bad-request":
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": "Jira project not linked"})
	case "/options/server-error":
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte("internal error"))
	case "/options/slow":
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
		writeJSON(w, http.StatusOK, []any{})
	case "/options/huge":
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte("["))
		item := `{"value":"` + strings.Repeat("x", 1000) + `","label":"x"},`
		for range 2000 {
			if _, err := w.Write([]byte(item)); err != nil {
				return
			}
		}
		_, _ = w.Write([]byte(`{"value":"end","label":"end"}]`))
	default:
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "no route " + r.URL.Path})
	}
}
