// Package lambdaenv builds the workflow's dependencies from a Lambda's
// environment: AWS clients (built once per process), the stores, the
// Symbolicator HTTP client and the JSON logger. Every functions/* main calls
// it, so the mains stay wiring only.
package lambdaenv

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/symflow/symflow/shared/blob"
	"github.com/symflow/symflow/shared/component"
	"github.com/symflow/symflow/shared/dynamo"
	"github.com/symflow/symflow/shared/metrics"
	"github.com/symflow/symflow/shared/symbolicator"
	"github.com/symflow/symflow/shared/task"
)

// Table names the template passes to every function.
const (
	EnvProjectsTable = "PROJECTS_TABLE"
	EnvTasksTable    = "TASKS_TABLE"
)

// Logger is the JSON logger every function writes to stdout (CloudWatch).
func Logger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// Steps builds the workflow steps from the environment.
func Steps(ctx context.Context) (*task.Steps, error) {
	log := Logger()
	cfg, settings, err := task.ConfigFromEnv(os.Getenv)
	if err != nil {
		return nil, fmt.Errorf("read configuration: %w", err)
	}
	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration: %w", err)
	}
	store, err := dynamo.New(dynamodb.NewFromConfig(awsCfg), dynamo.Config{
		ProjectsTable: os.Getenv(EnvProjectsTable),
		TasksTable:    os.Getenv(EnvTasksTable),
		TaskTTL:       cfg.TaskTTL,
	})
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	m := metrics.NewEMF(os.Stdout, "symflow", metrics.Dim("Function", os.Getenv("AWS_LAMBDA_FUNCTION_NAME")))
	return &task.Steps{
		Config:     cfg,
		Settings:   settings,
		Projects:   store,
		Tasks:      store,
		Blobs:      blob.New(s3.NewFromConfig(awsCfg)),
		HTTP:       &http.Client{},
		Workers:    symbolicator.NewWorkerID(cfg.WorkerSampleRate, nil),
		Components: component.NewPreparer(component.NewSelectRequester(component.SafeClient(component.ClientOptions{}), log), log),
		Log:        log,
		Metrics:    m,
	}, nil
}

// Must ends the process when wiring failed: a Lambda that cannot start
// should fail its init, visibly, rather than serve errors.
func Must(steps *task.Steps, err error) *task.Steps {
	if err != nil {
		Logger().Error("init failed", "error", err)
		os.Exit(1)
	}
	return steps
}
