package dynamo_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/symflow/symflow/internal/dynamolocal"
	"github.com/symflow/symflow/internal/netns"
	localdynamodb "github.com/symflow/symflow/local/dynamodb"
	"github.com/symflow/symflow/shared/dynamo"
	"github.com/symflow/symflow/shared/project"
)

// ddbLocal is the DynamoDB Local every test of this binary shares.
var ddbLocal dynamolocal.Shared

func TestMain(m *testing.M) {
	// DynamoDB Local runs in a network namespace, served by this binary
	// re-executed as the relay.
	netns.RelayMain()
	code := m.Run()
	ddbLocal.Stop()
	os.Exit(code)
}

// backend is a DynamoDB-compatible server the suite runs against.
type backend struct {
	name   string
	client func(t testing.TB) *dynamodb.Client
}

var backends = []backend{
	{"DynamoDBLocal", func(t testing.TB) *dynamodb.Client {
		srv := ddbLocal.Get(t)
		t.Logf("DynamoDB Local (official jar) at %s", srv.Endpoint())
		return srv.Client()
	}},
	{"Embedded", func(t testing.TB) *dynamodb.Client {
		url, stop, err := localdynamodb.New().Start("127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = stop() })
		t.Logf("embedded DynamoDB (local/dynamodb) at %s", url)
		return dynamolocal.NewClient(url)
	}},
}

var tableSeq atomic.Int64

// fixedNow is the clock of stores made by newStore: the real time when the
// tests started, as DynamoDB Local deletes items whose TTL has passed.
var fixedNow = time.Now().UTC().Truncate(time.Second)

// forEachBackend runs fn once per backend, each on a store with fresh tables.
func forEachBackend(t *testing.T, fn func(t *testing.T, s *dynamo.Store, e env)) {
	t.Helper()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			db := b.client(t)
			s, cfg := newStore(t, db, dynamo.Config{})
			fn(t, s, env{db: db, cfg: cfg})
		})
	}
}

// env is what a test may need besides the store: the raw client and the
// store's table names.
type env struct {
	db  *dynamodb.Client
	cfg dynamo.Config
}

func newStore(t testing.TB, db *dynamodb.Client, cfg dynamo.Config) (*dynamo.Store, dynamo.Config) {
	t.Helper()
	n := tableSeq.Add(1)
	cfg.ProjectsTable = fmt.Sprintf("projects-%d", n)
	cfg.TasksTable = fmt.Sprintf("tasks-%d", n)
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return fixedNow }
	}
	s, err := dynamo.New(db, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateTables(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s, cfg
}

func boolPtr(b bool) *bool { return &b }

func fullProject() project.Project {
	return project.Project{
		ID:   "42",
		Slug: "native-app",
		Organization: project.Organization{
			Slug:             "acme",
			Features:         []string{project.FeatureCustomSymbolSources},
			ScrapeJavaScript: boolPtr(false),
		},
		Options: project.Options{
			SymbolSources:        `[{"id":"s3-1","type":"s3","bucket":"syms","access_key":"AKIAEXAMPLE","secret_key":"s3cr3t-key"}]`,
			BuiltinSymbolSources: []string{"microsoft", "ubuntu"},
			VerifySSL:            boolPtr(true),
			Token:                "project-token-secret",
			TokenHeader:          "X-Custom-Token",
		},
		AllowedOrigins:      []string{"https://example.com", "*.example.org"},
		LastDebugFileUpload: time.Date(2026, 1, 2, 3, 4, 5, 6_000_000, time.UTC),
		Installations: []project.Installation{
			{
				UUID: "a0000000-0000-0000-0000-000000000001", AppSlug: "tracker",
				WebhookURL:   "https://tracker.example.com/hook",
				ClientSecret: "client-secret-1",
				Components: []project.Component{
					{UUID: "c1", Type: "issue-link", Schema: json.RawMessage(`{"create":{"uri":"/create","required_fields":[]}}`)},
					{UUID: "c2", Type: "stacktrace-link", Schema: json.RawMessage(`{"uri":"/link"}`)},
				},
			},
			{UUID: "b0000000-0000-0000-0000-000000000002", AppSlug: "pager", ClientSecret: "client-secret-2"},
		},
	}
}

func TestProjectRoundTrip(t *testing.T) {
	cases := []struct {
		name string
		p    project.Project
		want project.Project // zero: p with an empty installation list
	}{
		{name: "minimal", p: project.Project{ID: "1"}},
		{name: "full with secrets", p: fullProject()},
		{
			name: "upload time kept to the millisecond",
			p:    project.Project{ID: "7", Slug: "s", LastDebugFileUpload: time.Date(2026, 1, 1, 0, 0, 0, 123_456_789, time.FixedZone("x", 3600))},
			want: project.Project{ID: "7", Slug: "s", LastDebugFileUpload: time.Date(2025, 12, 31, 23, 0, 0, 123_000_000, time.UTC), Installations: []project.Installation{}},
		},
	}
	forEachBackend(t, func(t *testing.T, s *dynamo.Store, _ env) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				ctx := context.Background()
				if err := s.PutProject(ctx, tc.p); err != nil {
					t.Fatal(err)
				}
				got, err := s.GetProject(ctx, tc.p.ID)
				if err != nil {
					t.Fatal(err)
				}
				want := tc.want
				if want.ID == "" {
					want = tc.p
					if want.Installations == nil {
						want.Installations = []project.Installation{}
					}
				}
				assertJSONEqual(t, got, want)
				if tc.p.Options.Token != "" && got.Options.Token != tc.p.Options.Token {
					t.Errorf("token not kept")
				}
			})
		}
	})
}

// assertJSONEqual compares through JSON, which is how the store keeps
// projects (json.RawMessage compacted, times in RFC 3339).
func assertJSONEqual(t *testing.T, got, want any) {
	t.Helper()
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(want)
	if string(g) != string(w) {
		t.Errorf("got\n%s\nwant\n%s", g, w)
	}
}

func TestPutProjectReplacesConfigKeepsInstallations(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *dynamo.Store, _ env) {
		ctx := context.Background()
		if err := s.PutProject(ctx, fullProject()); err != nil {
			t.Fatal(err)
		}
		next := project.Project{ID: "42", Slug: "renamed", Options: project.Options{Token: "rotated"}}
		if err := s.PutProject(ctx, next); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetProject(ctx, "42")
		if err != nil {
			t.Fatal(err)
		}
		if got.Slug != "renamed" || got.Options.Token != "rotated" || got.Options.TokenHeader != "" || got.Organization.Slug != "" {
			t.Errorf("configuration not replaced: %+v", got)
		}
		if !got.LastDebugFileUpload.Equal(fullProject().LastDebugFileUpload) {
			t.Errorf("LastDebugFileUpload = %v, want the earlier upload kept", got.LastDebugFileUpload)
		}
		if len(got.Installations) != 2 {
			t.Errorf("installations = %d, want the 2 stored before", len(got.Installations))
		}
	})
}

func TestNotFound(t *testing.T) {
	cases := []struct {
		name string
		call func(s *dynamo.Store) error
	}{
		{"GetProject", func(s *dynamo.Store) error { _, err := s.GetProject(context.Background(), "404"); return err }},
		{"ListInstallations", func(s *dynamo.Store) error {
			_, err := s.ListInstallations(context.Background(), "404")
			return err
		}},
		{"PutInstallation", func(s *dynamo.Store) error {
			return s.PutInstallation(context.Background(), "404", project.Installation{UUID: "u", ClientSecret: "never-shown"})
		}},
		{"RecordDebugFileUpload", func(s *dynamo.Store) error {
			return s.RecordDebugFileUpload(context.Background(), "404", time.Now())
		}},
		{"GetTask", func(s *dynamo.Store) error { _, err := s.GetTask(context.Background(), "404", "e1"); return err }},
		{"UpdateTask", func(s *dynamo.Store) error {
			_, err := s.UpdateTask(context.Background(), "404", "e1", func(*dynamo.Task) error { return nil })
			return err
		}},
	}
	forEachBackend(t, func(t *testing.T, s *dynamo.Store, _ env) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				err := tc.call(s)
				if !errors.Is(err, dynamo.ErrNotFound) {
					t.Fatalf("err = %v, want ErrNotFound", err)
				}
				if !strings.Contains(err.Error(), "404") {
					t.Errorf("error %q does not name the project", err)
				}
				if strings.Contains(err.Error(), "never-shown") {
					t.Errorf("error %q shows a secret", err)
				}
			})
		}
	})
}

func TestInstallations(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *dynamo.Store, _ env) {
		ctx := context.Background()
		if err := s.PutProject(ctx, project.Project{ID: "9"}); err != nil {
			t.Fatal(err)
		}
		got, err := s.ListInstallations(ctx, "9")
		if err != nil {
			t.Fatal(err)
		}
		if got == nil || len(got) != 0 {
			t.Fatalf("ListInstallations of a project without any = %#v, want empty non-nil", got)
		}
		b := project.Installation{UUID: "bbb", AppSlug: "b", ClientSecret: "sb",
			Components: []project.Component{{UUID: "c", Type: "alert-rule-action", Schema: json.RawMessage(`{"title":"x"}`)}}}
		a := project.Installation{UUID: "aaa", AppSlug: "a", ClientSecret: "sa"}
		for _, inst := range []project.Installation{b, a} {
			if err := s.PutInstallation(ctx, "9", inst); err != nil {
				t.Fatal(err)
			}
		}
		a.ClientSecret = "rotated"
		if err := s.PutInstallation(ctx, "9", a); err != nil {
			t.Fatal(err)
		}
		got, err = s.ListInstallations(ctx, "9")
		if err != nil {
			t.Fatal(err)
		}
		assertJSONEqual(t, got, []project.Installation{a, b})
		p, err := s.GetProject(ctx, "9")
		if err != nil {
			t.Fatal(err)
		}
		assertJSONEqual(t, p.Installations, []project.Installation{a, b})
	})
}

func TestRecordDebugFileUploadOnlyMovesForward(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *dynamo.Store, _ env) {
		ctx := context.Background()
		if err := s.PutProject(ctx, project.Project{ID: "5"}); err != nil {
			t.Fatal(err)
		}
		t1 := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
		steps := []struct {
			at, want time.Time
		}{
			{t1, t1},
			{t1.Add(time.Hour), t1.Add(time.Hour)},
			{t1.Add(-time.Hour), t1.Add(time.Hour)}, // older: ignored
			{t1.Add(time.Hour), t1.Add(time.Hour)},  // same: no error
		}
		for i, st := range steps {
			if err := s.RecordDebugFileUpload(ctx, "5", st.at); err != nil {
				t.Fatalf("step %d: %v", i, err)
			}
			p, err := s.GetProject(ctx, "5")
			if err != nil {
				t.Fatal(err)
			}
			if !p.LastDebugFileUpload.Equal(st.want) {
				t.Errorf("step %d: LastDebugFileUpload = %v, want %v", i, p.LastDebugFileUpload, st.want)
			}
		}
		if err := s.RecordDebugFileUpload(ctx, "5", time.Time{}); err == nil || !strings.Contains(err.Error(), "zero") {
			t.Errorf("zero time: err = %v, want an error naming the zero time", err)
		}
	})
}

func TestTaskLifecycle(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *dynamo.Store, e env) {
		ctx := context.Background()
		created, err := s.CreateTask(ctx, dynamo.Task{
			ProjectID: "42", EventID: "0123456789abcdef0123456789abcdef",
			ExecutionID: "arn:exec:1", WorkerID: "w1", Status: "submitting", Attempts: 1,
		})
		if err != nil {
			t.Fatal(err)
		}
		want := dynamo.Task{
			ProjectID: "42", EventID: "0123456789abcdef0123456789abcdef",
			ExecutionID: "arn:exec:1", WorkerID: "w1", Status: "submitting", Attempts: 1,
			CreatedAt: fixedNow, UpdatedAt: fixedNow, ExpiresAt: fixedNow.Add(dynamo.DefaultTaskTTL), Version: 1,
		}
		if !reflect.DeepEqual(created, want) {
			t.Fatalf("CreateTask = %+v\nwant %+v", created, want)
		}
		got, err := s.GetTask(ctx, "42", want.EventID)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("GetTask = %+v\nwant %+v", got, want)
		}

		// The TTL attribute is what the template enables TTL on.
		raw, err := e.db.GetItem(ctx, &dynamodb.GetItemInput{
			TableName: aws.String(e.cfg.TasksTable),
			Key: map[string]types.AttributeValue{
				"pk": &types.AttributeValueMemberS{Value: "TASK#42#" + want.EventID},
				"sk": &types.AttributeValueMemberS{Value: "TASK"},
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		exp, ok := raw.Item[dynamo.TTLAttribute].(*types.AttributeValueMemberN)
		if !ok || exp.Value != fmt.Sprint(want.ExpiresAt.Unix()) {
			t.Errorf("item attribute %s = %#v, want N %d", dynamo.TTLAttribute, raw.Item[dynamo.TTLAttribute], want.ExpiresAt.Unix())
		}

		updated, err := s.UpdateTask(ctx, "42", want.EventID, func(tk *dynamo.Task) error {
			tk.RequestID = "req-1"
			tk.Status = "pending"
			tk.Polls++
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		want.RequestID, want.Status, want.Polls, want.Version = "req-1", "pending", 1, 2
		if !reflect.DeepEqual(updated, want) {
			t.Fatalf("UpdateTask = %+v\nwant %+v", updated, want)
		}
		if got, _ := s.GetTask(ctx, "42", want.EventID); !reflect.DeepEqual(got, want) {
			t.Fatalf("GetTask after update = %+v\nwant %+v", got, want)
		}

		if err := s.DeleteTask(ctx, "42", want.EventID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetTask(ctx, "42", want.EventID); !errors.Is(err, dynamo.ErrNotFound) {
			t.Fatalf("GetTask after delete: err = %v, want ErrNotFound", err)
		}
		if err := s.DeleteTask(ctx, "42", want.EventID); err != nil {
			t.Fatalf("second DeleteTask: %v, want nil", err)
		}
		// After a delete the event can have a task again.
		if _, err := s.CreateTask(ctx, dynamo.Task{ProjectID: "42", EventID: want.EventID}); err != nil {
			t.Fatalf("CreateTask after delete: %v", err)
		}
	})
}

func TestCreateTaskExists(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *dynamo.Store, _ env) {
		ctx := context.Background()
		if _, err := s.CreateTask(ctx, dynamo.Task{ProjectID: "1", EventID: "e", RequestID: "first"}); err != nil {
			t.Fatal(err)
		}
		_, err := s.CreateTask(ctx, dynamo.Task{ProjectID: "1", EventID: "e", RequestID: "second"})
		if !errors.Is(err, dynamo.ErrExists) {
			t.Fatalf("second CreateTask: err = %v, want ErrExists", err)
		}
		if !strings.Contains(err.Error(), "1/e") {
			t.Errorf("error %q does not name the task", err)
		}
		got, err := s.GetTask(ctx, "1", "e")
		if err != nil {
			t.Fatal(err)
		}
		if got.RequestID != "first" {
			t.Errorf("RequestID = %q, want the first task kept", got.RequestID)
		}
	})
}

func TestUpdateTaskRejects(t *testing.T) {
	errBudget := errors.New("budget spent")
	cases := []struct {
		name    string
		fn      func(*dynamo.Task) error
		wantIs  error
		wantMsg string
	}{
		{"fn error", func(tk *dynamo.Task) error { tk.Polls = 99; return errBudget }, errBudget, "budget spent"},
		{"key change", func(tk *dynamo.Task) error { tk.EventID = "other"; return nil }, nil, "key"},
		{"nil fn", nil, nil, "nil update function"},
	}
	forEachBackend(t, func(t *testing.T, s *dynamo.Store, _ env) {
		ctx := context.Background()
		if _, err := s.CreateTask(ctx, dynamo.Task{ProjectID: "1", EventID: "e"}); err != nil {
			t.Fatal(err)
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				_, err := s.UpdateTask(ctx, "1", "e", tc.fn)
				if err == nil {
					t.Fatal("UpdateTask succeeded")
				}
				if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
					t.Errorf("err = %v, want it to wrap %v", err, tc.wantIs)
				}
				if !strings.Contains(err.Error(), tc.wantMsg) {
					t.Errorf("err = %v, want it to say %q", err, tc.wantMsg)
				}
				got, err := s.GetTask(ctx, "1", "e")
				if err != nil {
					t.Fatal(err)
				}
				if got.Version != 1 || got.Polls != 0 {
					t.Errorf("task written by a rejected update: %+v", got)
				}
			})
		}
	})
}

// TestUpdateTaskConcurrent has n writers increment the same task's counters
// at once; optimistic concurrency must lose none of the increments.
func TestUpdateTaskConcurrent(t *testing.T) {
	const n = 16
	forEachBackend(t, func(t *testing.T, s *dynamo.Store, _ env) {
		ctx := context.Background()
		if _, err := s.CreateTask(ctx, dynamo.Task{ProjectID: "1", EventID: "hot"}); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := range n {
			wg.Go(func() {
				_, err := s.UpdateTask(ctx, "1", "hot", func(tk *dynamo.Task) error {
					tk.Polls++
					if i%2 == 0 {
						tk.Resubmits++
					} else {
						tk.Attempts++
					}
					return nil
				})
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Error(err)
			}
		}
		got, err := s.GetTask(ctx, "1", "hot")
		if err != nil {
			t.Fatal(err)
		}
		if got.Polls != n || got.Resubmits != n/2 || got.Attempts != n/2 || got.Version != n+1 {
			t.Errorf("after %d concurrent updates: polls=%d resubmits=%d attempts=%d version=%d; want %d, %d, %d, %d",
				n, got.Polls, got.Resubmits, got.Attempts, got.Version, n, n/2, n/2, n+1)
		}
	})
}

func TestClaimExecution(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *dynamo.Store, _ env) {
		ctx := context.Background()
		name, claimed, err := s.ClaimExecution(ctx, "42", "e1", "exec-first")
		if err != nil || !claimed || name != "exec-first" {
			t.Fatalf("first claim = %q, %v, %v; want exec-first, true, nil", name, claimed, err)
		}
		name, claimed, err = s.ClaimExecution(ctx, "42", "e1", "exec-second")
		if err != nil || claimed || name != "exec-first" {
			t.Fatalf("second claim = %q, %v, %v; want exec-first, false, nil", name, claimed, err)
		}
		name, claimed, err = s.ClaimExecution(ctx, "42", "e2", "exec-second")
		if err != nil || !claimed || name != "exec-second" {
			t.Fatalf("claim for another event = %q, %v, %v; want exec-second, true, nil", name, claimed, err)
		}
	})
}

// TestClaimExecutionConcurrent has n callers claim one event at once:
// exactly one wins and all agree on its name.
func TestClaimExecutionConcurrent(t *testing.T) {
	const n = 8
	forEachBackend(t, func(t *testing.T, s *dynamo.Store, _ env) {
		ctx := context.Background()
		type result struct {
			name    string
			claimed bool
			err     error
		}
		results := make([]result, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				name, claimed, err := s.ClaimExecution(ctx, "7", "race", fmt.Sprintf("exec-%d", i))
				results[i] = result{name, claimed, err}
			})
		}
		wg.Wait()
		winners := 0
		for i, r := range results {
			if r.err != nil {
				t.Fatalf("caller %d: %v", i, r.err)
			}
			if r.claimed {
				winners++
				if r.name != fmt.Sprintf("exec-%d", i) {
					t.Errorf("winner %d got name %q", i, r.name)
				}
			}
			if r.name != results[0].name {
				t.Errorf("caller %d sees %q, caller 0 sees %q", i, r.name, results[0].name)
			}
		}
		if winners != 1 {
			t.Errorf("%d callers claimed the execution, want 1", winners)
		}
	})
}

func TestBadInput(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name    string
		call    func(s *dynamo.Store) error
		wantMsg string
	}{
		{"empty project id", func(s *dynamo.Store) error { _, err := s.GetProject(ctx, ""); return err }, "project id is empty"},
		{"separator in project id", func(s *dynamo.Store) error {
			return s.PutProject(ctx, project.Project{ID: "1#2", Options: project.Options{Token: "tok-secret"}})
		}, `project id "1#2" contains '#'`},
		{"installation without uuid", func(s *dynamo.Store) error {
			return s.PutProject(ctx, project.Project{ID: "1", Installations: []project.Installation{{ClientSecret: "tok-secret"}}})
		}, "installations[0].uuid is empty"},
		{"PutInstallation without uuid", func(s *dynamo.Store) error {
			return s.PutInstallation(ctx, "1", project.Installation{ClientSecret: "tok-secret"})
		}, "uuid is empty"},
		{"empty event id", func(s *dynamo.Store) error { _, err := s.CreateTask(ctx, dynamo.Task{ProjectID: "1"}); return err }, "event id is empty"},
		{"separator in event id", func(s *dynamo.Store) error { _, err := s.GetTask(ctx, "1", "a#b"); return err }, `event id "a#b" contains '#'`},
		{"empty execution name", func(s *dynamo.Store) error { _, _, err := s.ClaimExecution(ctx, "1", "e", ""); return err }, "execution name is empty"},
	}
	forEachBackend(t, func(t *testing.T, s *dynamo.Store, _ env) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				err := tc.call(s)
				if err == nil {
					t.Fatal("succeeded")
				}
				if !strings.Contains(err.Error(), tc.wantMsg) {
					t.Errorf("err = %q, want it to say %q", err, tc.wantMsg)
				}
				if strings.Contains(err.Error(), "tok-secret") {
					t.Errorf("err = %q shows a secret", err)
				}
			})
		}
	})
}

func TestNewRejectsMissingTables(t *testing.T) {
	db := dynamolocal.NewClient("http://127.0.0.1:1")
	cases := []struct {
		cfg     dynamo.Config
		wantMsg string
	}{
		{dynamo.Config{TasksTable: "t"}, "ProjectsTable is empty"},
		{dynamo.Config{ProjectsTable: "p"}, "TasksTable is empty"},
	}
	for _, tc := range cases {
		t.Run(tc.wantMsg, func(t *testing.T) {
			_, err := dynamo.New(db, tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("err = %v, want %q", err, tc.wantMsg)
			}
		})
	}
	if _, err := dynamo.New(nil, dynamo.Config{ProjectsTable: "p", TasksTable: "t"}); err == nil {
		t.Error("New with a nil client succeeded")
	}
}

func TestCreateTablesTwiceAndTTL(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *dynamo.Store, e env) {
		ctx := context.Background()
		if err := s.CreateTables(ctx); err != nil {
			t.Fatalf("second CreateTables: %v", err)
		}
		out, err := e.db.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(e.cfg.TasksTable)})
		if err != nil {
			t.Fatal(err)
		}
		d := out.TimeToLiveDescription
		if d == nil || aws.ToString(d.AttributeName) != dynamo.TTLAttribute || d.TimeToLiveStatus != types.TimeToLiveStatusEnabled {
			t.Errorf("TTL description = %+v, want %s enabled", d, dynamo.TTLAttribute)
		}
	})
}

// TestUpdateTaskRetriesOnConflict makes the first attempt lose to a write
// made while fn runs: with one try the update fails with ErrConflict, with
// two it re-reads and keeps both writes.
func TestUpdateTaskRetriesOnConflict(t *testing.T) {
	cases := []struct {
		retries   int
		wantErr   error
		wantPolls int
	}{
		{retries: 1, wantErr: dynamo.ErrConflict, wantPolls: 1},
		{retries: 2, wantPolls: 2},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			db := b.client(t)
			for _, tc := range cases {
				t.Run(fmt.Sprintf("retries=%d", tc.retries), func(t *testing.T) {
					ctx := context.Background()
					s, _ := newStore(t, db, dynamo.Config{UpdateRetries: tc.retries})
					if _, err := s.CreateTask(ctx, dynamo.Task{ProjectID: "1", EventID: "e"}); err != nil {
						t.Fatal(err)
					}
					calls := 0
					_, err := s.UpdateTask(ctx, "1", "e", func(tk *dynamo.Task) error {
						calls++
						if calls == 1 {
							// A concurrent writer gets in between our read and write.
							if _, err := s.UpdateTask(ctx, "1", "e", func(o *dynamo.Task) error { o.Polls++; return nil }); err != nil {
								t.Fatal(err)
							}
						}
						tk.Polls++
						return nil
					})
					if !errors.Is(err, tc.wantErr) {
						t.Fatalf("err = %v, want %v", err, tc.wantErr)
					}
					got, err := s.GetTask(ctx, "1", "e")
					if err != nil {
						t.Fatal(err)
					}
					if got.Polls != tc.wantPolls {
						t.Errorf("polls = %d, want %d (no write lost, none doubled)", got.Polls, tc.wantPolls)
					}
				})
			}
		})
	}
}

func TestCreateTaskExpiry(t *testing.T) {
	explicit := fixedNow.Add(90 * time.Minute)
	cases := []struct {
		name string
		ttl  time.Duration
		exp  time.Time
		want time.Time
	}{
		{"default TTL", 0, time.Time{}, fixedNow.Add(dynamo.DefaultTaskTTL)},
		{"configured TTL", time.Hour, time.Time{}, fixedNow.Add(time.Hour)},
		{"explicit expiry kept to the second", time.Hour, explicit.Add(300 * time.Millisecond), explicit},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			db := b.client(t)
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					ctx := context.Background()
					s, _ := newStore(t, db, dynamo.Config{TaskTTL: tc.ttl})
					created, err := s.CreateTask(ctx, dynamo.Task{ProjectID: "1", EventID: "e", ExpiresAt: tc.exp})
					if err != nil {
						t.Fatal(err)
					}
					got, err := s.GetTask(ctx, "1", "e")
					if err != nil {
						t.Fatal(err)
					}
					if !got.ExpiresAt.Equal(tc.want) || !created.ExpiresAt.Equal(tc.want) {
						t.Errorf("ExpiresAt = %v (created %v), want %v", got.ExpiresAt, created.ExpiresAt, tc.want)
					}
				})
			}
		})
	}
}
