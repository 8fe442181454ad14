// Command crash-upload starts a symbolication for each crash file uploaded
// to the crash bucket (EventBridge "Object Created" events); see
// shared/crashupload. Wiring only: clients are built once per process.
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
	"github.com/symflow/symflow/shared/crashupload"
	"github.com/symflow/symflow/shared/dynamo"
	"github.com/symflow/symflow/shared/execution"
	"github.com/symflow/symflow/shared/stepfunctions"
)

func main() {
	h, err := build(context.Background())
	if err != nil {
		lambdaenv.Logger().Error("init failed", "error", err)
		os.Exit(1)
	}
	lambda.Start(h.HandleEvent)
}

func build(ctx context.Context) (*crashupload.Handler, error) {
	for _, name := range []string{lambdaenv.EnvProjectsTable, lambdaenv.EnvTasksTable, api.EnvStateMachineArn} {
		if os.Getenv(name) == "" {
			return nil, fmt.Errorf("%s is not set", name)
		}
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
	return &crashupload.Handler{
		// Crash files are referenced, never offloaded: no payload bucket.
		Starter:    &execution.Starter{Runner: runner, Claims: store, Blobs: blob.New(s3c)},
		Projects:   store,
		Quarantine: crashupload.S3Quarantine{Client: s3c},
		Log:        lambdaenv.Logger(),
	}, nil
}
