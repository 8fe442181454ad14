package crashupload_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/symflow/symflow/internal/mototest"
	localddb "github.com/symflow/symflow/local/dynamodb"
	"github.com/symflow/symflow/shared/blob"
	"github.com/symflow/symflow/shared/crashupload"
	"github.com/symflow/symflow/shared/dynamo"
	"github.com/symflow/symflow/shared/execution"
	"github.com/symflow/symflow/shared/project"
	"github.com/symflow/symflow/shared/stepfunctions"
	"github.com/symflow/symflow/shared/task"
)

const (
	root   = "../.."
	bucket = "symflow-crashbucket-1a2b3c4d5e6f" // as in events/crash-upload
)

func TestObjectsFromEvents(t *testing.T) {
	cases := map[string]crashupload.Object{
		"minidump.json":                 {Bucket: bucket, Key: "crashes/42/0123456789abcdef0123456789abcdef.dmp", Size: 48213},
		"apple-crash-report.json":       {Bucket: bucket, Key: "crashes/42/fedcba9876543210fedcba9876543210.crash", Size: 9120},
		"bad-key.json":                  {Bucket: bucket, Key: "crashes/42/not-an-event-id.dmp", Size: 512},
		"unknown-project.json":          {Bucket: bucket, Key: "crashes/no-such-project/0123456789abcdef0123456789abcdef.dmp", Size: 48213},
		"s3-notification-minidump.json": {Bucket: bucket, Key: "crashes/42/0123456789abcdef0123456789abcdef.dmp", Size: 48213},
	}
	files, _ := filepath.Glob(filepath.Join(root, "events/crash-upload/*.json"))
	if len(files) != len(cases) {
		t.Errorf("%d event files, %d cases", len(files), len(cases))
	}
	for name, want := range cases {
		t.Run(name, func(t *testing.T) {
			objs, err := crashupload.Objects(readEvent(t, name))
			if err != nil {
				t.Fatal(err)
			}
			if len(objs) != 1 || objs[0] != want {
				t.Errorf("objects %+v, want %+v", objs, want)
			}
		})
	}
	// S3 notifications URL-encode keys.
	enc := bytes.Replace(readEvent(t, "s3-notification-minidump.json"), []byte("crashes/42/"), []byte("crashes%2F42%2F"), 1)
	if objs, err := crashupload.Objects(enc); err != nil || objs[0].Key != cases["minidump.json"].Key {
		t.Errorf("URL-encoded key: %+v, %v", objs, err)
	}
	for _, bad := range []string{`[]`, `{}`, `{"source":"aws.s3","detail-type":"Object Deleted","detail":{}}`, `{"source":"aws.s3","detail-type":"Object Created","detail":{"bucket":{}}}`, `not json`} {
		if _, err := crashupload.Objects(json.RawMessage(bad)); err == nil {
			t.Errorf("Objects(%s) accepted", bad)
		}
	}
}

func TestParseKey(t *testing.T) {
	for _, tc := range []struct{ key, project, event, kind, reason string }{
		{"crashes/42/0123456789abcdef0123456789abcdef.dmp", "42", "0123456789abcdef0123456789abcdef", task.KindMinidump, ""},
		{"crashes/app_1/0123456789abcdef0123456789abcdef.crash", "app_1", "0123456789abcdef0123456789abcdef", task.KindAppleCrashReport, ""},
		{"uploads/42/0123456789abcdef0123456789abcdef.dmp", "", "", "", "not under crashes/"},
		{"crashes/0123456789abcdef0123456789abcdef.dmp", "", "", "", "want crashes/<project_id>/<event_id>"},
		{"crashes/42/x/0123456789abcdef0123456789abcdef.dmp", "", "", "", "want crashes/<project_id>/<event_id>"},
		{"crashes/4 2/0123456789abcdef0123456789abcdef.dmp", "", "", "", `project id "4 2"`},
		{"crashes/42/0123456789abcdef0123456789abcdef.txt", "", "", "", "neither .dmp"},
		{"crashes/42/0123456789ABCDEF0123456789abcdef.dmp", "", "", "", "32 lowercase hex"},
		{"crashes/42/.dmp", "", "", "", "32 lowercase hex"},
	} {
		p, e, k, err := crashupload.ParseKey(tc.key)
		if tc.reason == "" {
			if err != nil || p != tc.project || e != tc.event || k != tc.kind {
				t.Errorf("ParseKey(%q) = %q %q %q %v", tc.key, p, e, k, err)
			}
			if back := crashupload.Key(p, e, k); back != tc.key {
				t.Errorf("Key(%q, %q, %q) = %q, want %q", p, e, k, back, tc.key)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.reason) {
			t.Errorf("ParseKey(%q) error %v, want one saying %q", tc.key, err, tc.reason)
		}
	}
}

func TestAnnotationsKey(t *testing.T) {
	key := crashupload.AnnotationsKey("42", "0123456789abcdef0123456789abcdef")
	if key != "annotations/42/0123456789abcdef0123456789abcdef.json" {
		t.Errorf("AnnotationsKey = %q", key)
	}
	// Outside crashes/: writing annotations never triggers an execution.
	if _, _, _, err := crashupload.ParseKey(key); err == nil {
		t.Errorf("ParseKey accepted the annotations key %q", key)
	}
}

func readEvent(t *testing.T, name string) json.RawMessage {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, "events/crash-upload", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// world is the trigger over real parts: moto_server for S3 and Step
// Functions, the embedded DynamoDB-compatible store for projects and
// claims.
type world struct {
	s3      *s3.Client
	sfn     *sfn.Client
	smArn   string
	store   *dynamo.Store
	stopDDB func() error
	handler *crashupload.Handler
	logs    *bytes.Buffer
	logMu   *sync.Mutex
}

type syncWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func newWorld(t *testing.T) *world {
	t.Helper()
	ctx := context.Background()
	endpoint := mototest.Start(t)
	creds := credentials.NewStaticCredentialsProvider("testing", "testing", "")
	w := &world{logs: &bytes.Buffer{}, logMu: &sync.Mutex{}}
	w.s3 = s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(endpoint), UsePathStyle: true, Credentials: creds})
	w.sfn = sfn.New(sfn.Options{Region: "us-east-1", BaseEndpoint: aws.String(endpoint), Credentials: creds})
	if _, err := w.s3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	sm, err := w.sfn.CreateStateMachine(ctx, &sfn.CreateStateMachineInput{
		Name:       aws.String("SymbolicateStateMachine"),
		RoleArn:    aws.String("arn:aws:iam::123456789012:role/symflow-states"),
		Definition: aws.String(`{"StartAt":"Done","States":{"Done":{"Type":"Pass","End":true}}}`),
	})
	if err != nil {
		t.Fatal(err)
	}
	w.smArn = aws.ToString(sm.StateMachineArn)
	runner, err := stepfunctions.New(w.sfn, w.smArn)
	if err != nil {
		t.Fatal(err)
	}

	url, stop, err := localddb.New().Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	w.stopDDB = stop
	t.Cleanup(func() { stop() })
	db := dynamodb.New(dynamodb.Options{Region: "us-east-1", BaseEndpoint: aws.String(url), Credentials: creds})
	w.store, err = dynamo.New(db, dynamo.Config{ProjectsTable: "projects", TasksTable: "tasks"})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.store.CreateTables(ctx); err != nil {
		t.Fatal(err)
	}
	if err := w.store.PutProject(ctx, project.Project{ID: "42", Slug: "crashy-app", Organization: project.Organization{Slug: "acme"}}); err != nil {
		t.Fatal(err)
	}
	w.handler = &crashupload.Handler{
		Starter:    &execution.Starter{Runner: runner, Claims: w.store, Blobs: blob.New(w.s3)},
		Projects:   w.store,
		Quarantine: crashupload.S3Quarantine{Client: w.s3},
		Log:        slog.New(slog.NewJSONHandler(syncWriter{w.logMu, w.logs}, nil)),
	}
	return w
}

func (w *world) put(t *testing.T, key string) {
	t.Helper()
	if _, err := w.s3.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader("MDMP crash bytes")}); err != nil {
		t.Fatal(err)
	}
}

func (w *world) exists(key string) bool {
	_, err := w.s3.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	return err == nil
}

func (w *world) executions(t *testing.T) map[string]string {
	t.Helper()
	out, err := w.sfn.ListExecutions(context.Background(), &sfn.ListExecutionsInput{StateMachineArn: aws.String(w.smArn)})
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, e := range out.Executions {
		d, err := w.sfn.DescribeExecution(context.Background(), &sfn.DescribeExecutionInput{ExecutionArn: e.ExecutionArn})
		if err != nil {
			t.Fatal(err)
		}
		m[aws.ToString(e.Name)] = aws.ToString(d.Input)
	}
	return m
}

func TestCrashUploads(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	w.put(t, "crashes/42/0123456789abcdef0123456789abcdef.dmp")
	w.put(t, "crashes/42/fedcba9876543210fedcba9876543210.crash")
	w.put(t, "crashes/42/not-an-event-id.dmp")
	w.put(t, "crashes/no-such-project/0123456789abcdef0123456789abcdef.dmp")

	// The minidump event arrives many times, at once and in both shapes.
	var wg sync.WaitGroup
	errs := make(chan error, 10)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := "minidump.json"
			if i%2 == 1 {
				name = "s3-notification-minidump.json"
			}
			errs <- w.handler.HandleEvent(ctx, readEvent(t, name))
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("minidump delivery: %v", err)
		}
	}
	for _, name := range []string{"apple-crash-report.json", "bad-key.json", "unknown-project.json", "bad-key.json"} {
		if err := w.handler.HandleEvent(ctx, readEvent(t, name)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}

	execs := w.executions(t)
	if len(execs) != 2 {
		t.Fatalf("executions %v, want one per crash file", execs)
	}
	for name, want := range map[string]task.State{
		"42_0123456789abcdef0123456789abcdef": {Kind: task.KindMinidump, CrashFile: &blob.Ref{Bucket: bucket, Key: "crashes/42/0123456789abcdef0123456789abcdef.dmp"}},
		"42_fedcba9876543210fedcba9876543210": {Kind: task.KindAppleCrashReport, CrashFile: &blob.Ref{Bucket: bucket, Key: "crashes/42/fedcba9876543210fedcba9876543210.crash"}},
	} {
		var in task.State
		if err := json.Unmarshal([]byte(execs[name]), &in); err != nil {
			t.Fatalf("execution %s input %q: %v", name, execs[name], err)
		}
		if in.Kind != want.Kind || in.CrashFile == nil || *in.CrashFile != *want.CrashFile || in.ProjectID != "42" || in.Validate() != nil {
			t.Errorf("execution %s input %+v, want kind %s, crash file %v", name, in, want.Kind, want.CrashFile)
		}
	}

	for key, reason := range map[string]string{
		"crashes/42/not-an-event-id.dmp":                               `event id "not-an-event-id" is not 32 lowercase hex digits`,
		"crashes/no-such-project/0123456789abcdef0123456789abcdef.dmp": "project no-such-project is not configured",
	} {
		if w.exists(key) {
			t.Errorf("%s is still in crashes/", key)
		}
		head, err := w.s3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("quarantine/" + key)})
		if err != nil {
			t.Errorf("quarantine/%s: %v", key, err)
			continue
		}
		if got := head.Metadata[crashupload.ReasonMetadata]; got != reason {
			t.Errorf("quarantine/%s reason %q, want %q", key, got, reason)
		}
		w.logMu.Lock()
		logged := strings.Contains(w.logs.String(), `"key":"`+key+`"`) && strings.Contains(w.logs.String(), "object quarantined")
		w.logMu.Unlock()
		if !logged {
			t.Errorf("quarantine of %s not logged", key)
		}
	}
	if !w.exists("crashes/42/0123456789abcdef0123456789abcdef.dmp") {
		t.Error("a good crash file was moved")
	}
}

// TestStoreDownIsRetried: when the store cannot be read, the delivery
// fails (to be retried, then dead-lettered) and the object stays put.
func TestStoreDownIsRetried(t *testing.T) {
	w := newWorld(t)
	w.put(t, "crashes/42/0123456789abcdef0123456789abcdef.dmp")
	w.stopDDB()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	err := w.handler.HandleEvent(ctx, readEvent(t, "minidump.json"))
	if err == nil {
		t.Fatal("delivery succeeded with the store down")
	}
	if !strings.Contains(err.Error(), "read project 42") {
		t.Errorf("error %v does not say what failed", err)
	}
	if !w.exists("crashes/42/0123456789abcdef0123456789abcdef.dmp") {
		t.Error("object moved although the failure may pass")
	}
	if n := len(w.executions(t)); n != 0 {
		t.Errorf("%d executions", n)
	}
}

// TestUnreadableEventDropped: an event that is no S3 event cannot succeed
// on retry: it is logged and dropped.
func TestUnreadableEventDropped(t *testing.T) {
	var logs bytes.Buffer
	h := &crashupload.Handler{Log: slog.New(slog.NewJSONHandler(&logs, nil))}
	if err := h.HandleEvent(context.Background(), json.RawMessage(`{"source":"aws.ec2"}`)); err != nil {
		t.Errorf("HandleEvent: %v", err)
	}
	if !strings.Contains(logs.String(), "unreadable event dropped") {
		t.Errorf("not logged: %s", logs.String())
	}
	var rk *crashupload.RejectedKeyError
	if _, _, _, err := crashupload.ParseKey("x"); !errors.As(err, &rk) {
		t.Errorf("ParseKey error %T", err)
	}
}
