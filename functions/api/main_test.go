package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"mime/multipart"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/symflow/symflow/functions/internal/lambdaenv"
	"github.com/symflow/symflow/internal/mototest"
	"github.com/symflow/symflow/shared/dynamo"
)

// TestWiring builds the function as Lambda would, from its environment,
// against moto_server standing in for DynamoDB, S3 and Step Functions, and
// answers the sample API Gateway events.
func TestWiring(t *testing.T) {
	ctx := context.Background()
	endpoint := mototest.Start(t)
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1",
		"AWS_ENDPOINT_URL": endpoint, "S3_USE_PATH_STYLE": "true",
		"PROJECTS_TABLE": "symflow-projects", "TASKS_TABLE": "symflow-tasks",
		"CRASH_BUCKET": "symflow-crashes", "RESULTS_BUCKET": "symflow-results", "DEBUG_FILES_BUCKET": "symflow-debug-files",
		"STATE_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:SymbolicateStateMachine",
	} {
		t.Setenv(k, v)
	}
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	store, err := dynamo.New(dynamodb.NewFromConfig(cfg), dynamo.Config{ProjectsTable: "symflow-projects", TasksTable: "symflow-tasks"})
	if err != nil {
		t.Fatal(err)
	}
	if err := store.CreateTables(ctx); err != nil {
		t.Fatal(err)
	}
	s3c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	for _, b := range []string{"symflow-crashes", "symflow-results", "symflow-debug-files"} {
		if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(b)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := sfn.NewFromConfig(cfg).CreateStateMachine(ctx, &sfn.CreateStateMachineInput{
		Name:       aws.String("SymbolicateStateMachine"),
		RoleArn:    aws.String("arn:aws:iam::123456789012:role/symflow-states"),
		Definition: aws.String(`{"StartAt":"Done","States":{"Done":{"Type":"Pass","End":true}}}`),
	}); err != nil {
		t.Fatal(err)
	}

	srv, err := lambdaenv.API(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		event  string
		status int
		want   string
	}{
		{"get-config.json", 404, `"code":"project_not_found"`},
		{"put-config.json", 201, `"client_secret":"[hidden-secret]"`},
		{"put-installation.json", 200, `"app_slug":"acme-tracker"`},
		{"submit-payload.json", 202, `"execution_id":"42_f0e1d2c3b4a5968778695a4b3c2d1e0f"`},
		{"submit-payload.json", 200, `"created":false`},
		{"get-execution.json", 200, `"project_id":"42"`},
		{"get-config.json", 200, `"slug":"crashy-app"`},
		{"presign-debug-file.json", 200, `42/7b/0672f0346e9b1e7f306a8aa55e53b6b67611e2/debuginfo`},
	} {
		data, err := os.ReadFile(filepath.Join("../../events/api", tc.event))
		if err != nil {
			t.Fatal(err)
		}
		var ev events.APIGatewayV2HTTPRequest
		if err := json.Unmarshal(data, &ev); err != nil {
			t.Fatal(err)
		}
		resp, err := srv.HandleHTTPAPI(ctx, ev)
		if err != nil || resp.StatusCode != tc.status || !strings.Contains(resp.Body, tc.want) {
			t.Errorf("%s: %d %s (%v), want %d with %s", tc.event, resp.StatusCode, resp.Body, err, tc.status, tc.want)
		}
		if strings.Contains(resp.Body, "shown-nowhere") {
			t.Errorf("%s: a secret in the answer: %s", tc.event, resp.Body)
		}
	}

	// A minidump upload reaches the crash bucket under the trigger's key,
	// through the real S3 client.
	base, err := os.ReadFile("../../events/api/get-config.json")
	if err != nil {
		t.Fatal(err)
	}
	send := func(method, path, query string, headers map[string]string, body []byte) events.APIGatewayV2HTTPResponse {
		var ev events.APIGatewayV2HTTPRequest
		if err := json.Unmarshal(base, &ev); err != nil {
			t.Fatal(err)
		}
		ev.RawPath, ev.RequestContext.HTTP.Path, ev.RequestContext.HTTP.Method = path, path, method
		ev.RawQueryString = query
		ev.Body, ev.IsBase64Encoded = base64.StdEncoding.EncodeToString(body), true
		for k, v := range headers {
			ev.Headers[k] = v
		}
		resp, err := srv.HandleHTTPAPI(ctx, ev)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	resp := send("POST", "/v1/projects/42/config/upload-key", "", nil, nil)
	var key struct {
		UploadKey string `json:"upload_key"`
	}
	if resp.StatusCode != 201 || json.Unmarshal([]byte(resp.Body), &key) != nil {
		t.Fatalf("upload key: %d %s", resp.StatusCode, resp.Body)
	}
	dump, err := os.ReadFile("../../events/crash-upload/crashy.dmp")
	if err != nil {
		t.Fatal(err)
	}
	var form bytes.Buffer
	mw := multipart.NewWriter(&form)
	fw, _ := mw.CreateFormFile("upload_file_minidump", "4b3c2a1f-0e9d-4c8b-a7f6-e5d4c3b2a190.dmp")
	fw.Write(dump)
	mw.WriteField("prod", "crashy")
	mw.Close()
	resp = send("POST", "/v1/projects/42/minidump", "key="+key.UploadKey, map[string]string{"content-type": mw.FormDataContentType(), "accept": "text/plain"}, form.Bytes())
	if resp.StatusCode != 200 || resp.Body != "4b3c2a1f0e9d4c8ba7f6e5d4c3b2a190" {
		t.Fatalf("minidump upload: %d %s", resp.StatusCode, resp.Body)
	}
	obj, err := s3c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("symflow-crashes"), Key: aws.String("crashes/42/4b3c2a1f0e9d4c8ba7f6e5d4c3b2a190.dmp")})
	if err != nil {
		t.Fatal(err)
	}
	stored, _ := io.ReadAll(obj.Body)
	obj.Body.Close()
	if !bytes.Equal(stored, dump) {
		t.Errorf("stored %d bytes, want the %d uploaded", len(stored), len(dump))
	}
	resp = send("POST", "/v1/projects/42/minidump/uploads", "", map[string]string{"x-symflow-key": key.UploadKey}, []byte(`{"size": 10}`))
	if resp.StatusCode != 200 || !strings.Contains(resp.Body, `symflow-crashes/crashes/42/`) {
		t.Errorf("presigned upload: %d %s", resp.StatusCode, resp.Body)
	}
}

func TestBuildNamesMissingEnvironment(t *testing.T) {
	t.Setenv("STATE_MACHINE_ARN", "")
	t.Setenv("PROJECTS_TABLE", "p")
	t.Setenv("TASKS_TABLE", "t")
	if _, err := lambdaenv.API(context.Background()); err == nil || !strings.Contains(err.Error(), "is not set") {
		t.Errorf("build without configuration: %v", err)
	}
}
