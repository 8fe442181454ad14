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
	"strconv"

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

// Settings for S3-compatible endpoints and local runs; the template sets
// neither. The SDK itself honours AWS_ENDPOINT_URL_S3 and
// AWS_ENDPOINT_URL_DYNAMODB, which point the clients elsewhere.
const (
	// EnvS3UsePathStyle ("true") addresses buckets as /bucket/key, for
	// S3-compatible endpoints that have no per-bucket host names.
	EnvS3UsePathStyle = "S3_USE_PATH_STYLE"
	// EnvComponentsAllowLoopback ("true") lets component requests reach
	// apps on 127.0.0.0/8 and ::1, as local mode's in-process handlers do.
	// Never set it in a deployment.
	EnvComponentsAllowLoopback = "COMPONENTS_ALLOW_LOOPBACK"
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
	pathStyle, err := envBool(EnvS3UsePathStyle)
	if err != nil {
		return nil, err
	}
	allowLoopback, err := envBool(EnvComponentsAllowLoopback)
	if err != nil {
		return nil, err
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
	components := component.SafeClient(component.ClientOptions{Policy: component.AddressPolicy{AllowLoopback: allowLoopback}})
	m := metrics.NewEMF(os.Stdout, "symflow", metrics.Dim("Function", os.Getenv("AWS_LAMBDA_FUNCTION_NAME")))
	return &task.Steps{
		Config:     cfg,
		Settings:   settings,
		Projects:   store,
		Tasks:      store,
		Blobs:      blob.New(s3.NewFromConfig(awsCfg, func(o *s3.Options) { o.UsePathStyle = pathStyle })),
		HTTP:       &http.Client{},
		Workers:    symbolicator.NewWorkerID(cfg.WorkerSampleRate, nil),
		Components: component.NewPreparer(component.NewSelectRequester(components, log), log),
		Log:        log,
		Metrics:    m,
	}, nil
}

// envBool reads an optional boolean variable; unset is false.
func envBool(name string) (bool, error) {
	v := os.Getenv(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("%s=%q: want true or false", name, v)
	}
	return b, nil
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
