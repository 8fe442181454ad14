// Command api is symflow's HTTP API behind API Gateway (HTTP API, payload
// format 2.0); see shared/api. Wiring only: clients are built once per
// process.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/symflow/symflow/functions/internal/lambdaenv"
	"github.com/symflow/symflow/shared/api"
	"github.com/symflow/symflow/shared/blob"
	"github.com/symflow/symflow/shared/debugfile"
	"github.com/symflow/symflow/shared/dynamo"
	"github.com/symflow/symflow/shared/execution"
	"github.com/symflow/symflow/shared/stepfunctions"
	"github.com/symflow/symflow/shared/task"
)

func main() {
	srv, err := build(context.Background())
	if err != nil {
		lambdaenv.Logger().Error("init failed", "error", err)
		os.Exit(1)
	}
	lambda.Start(srv.HandleHTTPAPI)
}

func build(ctx context.Context) (*api.Server, error) {
	log := lambdaenv.Logger()
	for _, name := range []string{lambdaenv.EnvProjectsTable, lambdaenv.EnvTasksTable, api.EnvStateMachineArn, api.EnvCrashBucket, api.EnvResultsBucket, api.EnvDebugFilesBucket} {
		if os.Getenv(name) == "" {
			return nil, fmt.Errorf("%s is not set", name)
		}
	}
	_, settings, err := task.ConfigFromEnv(func(k string) string {
		if k == task.EnvSymbolicatorURL {
			return "http://unused/" // the API never calls Symbolicator
		}
		return os.Getenv(k)
	})
	if err != nil {
		return nil, fmt.Errorf("read configuration: %w", err)
	}
	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration: %w", err)
	}
	store, err := dynamo.New(dynamodb.NewFromConfig(awsCfg), dynamo.Config{
		ProjectsTable: os.Getenv(lambdaenv.EnvProjectsTable),
		TasksTable:    os.Getenv(lambdaenv.EnvTasksTable),
	})
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	runner, err := stepfunctions.New(sfn.NewFromConfig(awsCfg), os.Getenv(api.EnvStateMachineArn))
	if err != nil {
		return nil, err
	}
	s3c := s3.NewFromConfig(awsCfg, func(o *s3.Options) { o.UsePathStyle = os.Getenv(lambdaenv.EnvS3UsePathStyle) == "true" })
	blobs := blob.New(s3c)
	return &api.Server{
		Projects:    store,
		Starter:     &execution.Starter{Runner: runner, Claims: store, Blobs: blobs, PayloadBucket: os.Getenv(api.EnvCrashBucket)},
		Executions:  runner,
		Results:     blobs,
		ResultLinks: api.S3ResultLinks{Client: s3.NewPresignClient(s3c)},
		DebugFiles: &debugfile.Store{
			Bucket:    os.Getenv(api.EnvDebugFilesBucket),
			Blobs:     blobs,
			Projects:  store,
			Presigner: debugfile.S3Presigner{Client: s3.NewPresignClient(s3c)},
		},
		Settings: settings,
		Log:      log,
	}, nil
}
