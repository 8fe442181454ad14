package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/symflow/symflow/functions/internal/lambdaenv"
	"github.com/symflow/symflow/internal/mototest"
	"github.com/symflow/symflow/shared/dynamo"
	"github.com/symflow/symflow/shared/project"
)

// TestWiring builds the function from its environment against moto_server
// (DynamoDB, S3, Step Functions) and feeds it the sample S3 events.
func TestWiring(t *testing.T) {
	ctx := context.Background()
	endpoint := mototest.Start(t)
	const bucket = "symflow-crashbucket-1a2b3c4d5e6f"
	const smArn = "arn:aws:states:us-east-1:123456789012:stateMachine:SymbolicateStateMachine"
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1",
		"AWS_ENDPOINT_URL": endpoint, "S3_USE_PATH_STYLE": "true",
		"PROJECTS_TABLE": "symflow-projects", "TASKS_TABLE": "symflow-tasks", "STATE_MACHINE_ARN": smArn,
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
	if err := store.PutProject(ctx, project.Project{ID: "42", Slug: "crashy-app", Organization: project.Organization{Slug: "acme"}}); err != nil {
		t.Fatal(err)
	}
	s3c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"crashes/42/0123456789abcdef0123456789abcdef.dmp", "crashes/42/fedcba9876543210fedcba9876543210.crash", "crashes/42/not-an-event-id.dmp", "crashes/no-such-project/0123456789abcdef0123456789abcdef.dmp"} {
		if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader("crash")}); err != nil {
			t.Fatal(err)
		}
	}
	sf := sfn.NewFromConfig(cfg)
	if _, err := sf.CreateStateMachine(ctx, &sfn.CreateStateMachineInput{
		Name:       aws.String("SymbolicateStateMachine"),
		RoleArn:    aws.String("arn:aws:iam::123456789012:role/symflow-states"),
		Definition: aws.String(`{"StartAt":"Done","States":{"Done":{"Type":"Pass","End":true}}}`),
	}); err != nil {
		t.Fatal(err)
	}

	h, err := lambdaenv.CrashUpload(ctx)
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob("../../events/crash-upload/*.json")
	for _, f := range append(files, files...) { // every event twice
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := h.HandleEvent(ctx, data); err != nil {
			t.Errorf("%s: %v", filepath.Base(f), err)
		}
	}
	out, err := sf.ListExecutions(ctx, &sfn.ListExecutionsInput{StateMachineArn: aws.String(smArn)})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range out.Executions {
		names = append(names, aws.ToString(e.Name))
	}
	if len(names) != 2 {
		t.Errorf("executions %v, want one per good crash file", names)
	}
	for _, key := range []string{"quarantine/crashes/42/not-an-event-id.dmp", "quarantine/crashes/no-such-project/0123456789abcdef0123456789abcdef.dmp"} {
		if _, err := s3c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}); err != nil {
			t.Errorf("%s: %v", key, err)
		}
	}
}
