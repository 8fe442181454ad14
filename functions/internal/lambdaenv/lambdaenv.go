// Package lambdaenv builds each function's handler from a Lambda's
// environment: AWS clients (built once per process), the stores, the
// Symbolicator HTTP client and the JSON logger. Every functions/* main calls
// it, so the mains stay three lines.
package lambdaenv

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/symflow/symflow/shared/api"
	"github.com/symflow/symflow/shared/blob"
	"github.com/symflow/symflow/shared/component"
	"github.com/symflow/symflow/shared/crashupload"
	"github.com/symflow/symflow/shared/debugfile"
	"github.com/symflow/symflow/shared/dynamo"
	"github.com/symflow/symflow/shared/execution"
	"github.com/symflow/symflow/shared/metrics"
	"github.com/symflow/symflow/shared/stepfunctions"
	"github.com/symflow/symflow/shared/symbolicator"
	"github.com/symflow/symflow/shared/task"
)

// Table names the template passes to every function.
const (
	EnvProjectsTable = "PROJECTS_TABLE"
	EnvTasksTable    = "TASKS_TABLE"
)

// EnvSystemTokenARN names where the deployment keeps the system token
// Symbolicator sends to Sentry's API for the internal source: a Secrets
// Manager secret or an SSM parameter, read once per container by
// SystemToken. The template sets it for LookupSources and SubmitTask (its
// SystemTokenArn parameter), so the token itself is in no environment;
// task.EnvSystemToken, the token as a value, is for local runs.
const EnvSystemTokenARN = "SYSTEM_TOKEN_ARN"

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

// clients are what every function builds once: the AWS configuration, the
// DynamoDB store and an S3 client.
type clients struct {
	aws   aws.Config
	store *dynamo.Store
	s3    *s3.Client
}

// newClients reads the table names and S3 addressing from the environment.
func newClients(ctx context.Context, taskTTL time.Duration) (*clients, error) {
	pathStyle, err := envBool(EnvS3UsePathStyle)
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
		TaskTTL:       taskTTL,
	})
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	return &clients{
		aws:   awsCfg,
		store: store,
		s3:    s3.NewFromConfig(awsCfg, func(o *s3.Options) { o.UsePathStyle = pathStyle }),
	}, nil
}

// requireEnv fails on the first unset variable, naming it.
func requireEnv(names ...string) error {
	for _, name := range names {
		if os.Getenv(name) == "" {
			return fmt.Errorf("%s is not set", name)
		}
	}
	return nil
}

// Steps builds the workflow steps from the environment.
func Steps(ctx context.Context) (*task.Steps, error) {
	log := Logger()
	cfg, settings, err := task.ConfigFromEnv(os.Getenv)
	if err != nil {
		return nil, fmt.Errorf("read configuration: %w", err)
	}
	allowLoopback, err := envBool(EnvComponentsAllowLoopback)
	if err != nil {
		return nil, err
	}
	c, err := newClients(ctx, cfg.TaskTTL)
	if err != nil {
		return nil, err
	}
	if tokenARN := os.Getenv(EnvSystemTokenARN); tokenARN != "" {
		if settings.SystemToken != "" {
			return nil, fmt.Errorf("both %s and %s are set: keep the token in one place", EnvSystemTokenARN, task.EnvSystemToken)
		}
		if settings.SystemToken, err = SystemToken(ctx, c.aws, tokenARN); err != nil {
			return nil, err
		}
	}
	components := component.SafeClient(component.ClientOptions{Policy: component.AddressPolicy{AllowLoopback: allowLoopback}})
	m := metrics.NewEMF(os.Stdout, "symflow", metrics.Dim("Function", os.Getenv("AWS_LAMBDA_FUNCTION_NAME")))
	return &task.Steps{
		Config:     cfg,
		Settings:   settings,
		Projects:   c.store,
		Tasks:      c.store,
		Blobs:      blob.New(c.s3),
		HTTP:       &http.Client{},
		Workers:    symbolicator.NewWorkerID(cfg.WorkerSampleRate, nil),
		Components: component.NewPreparer(component.NewSelectRequester(components, log), log),
		Log:        log,
		Metrics:    m,
	}, nil
}

// API builds the HTTP API's server from the environment.
func API(ctx context.Context) (*api.Server, error) {
	if err := requireEnv(EnvProjectsTable, EnvTasksTable, api.EnvStateMachineArn, api.EnvCrashBucket, task.EnvResultsBucket, task.EnvDebugFilesBucket); err != nil {
		return nil, err
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
	c, err := newClients(ctx, 0)
	if err != nil {
		return nil, err
	}
	runner, err := stepfunctions.New(sfn.NewFromConfig(c.aws), os.Getenv(api.EnvStateMachineArn))
	if err != nil {
		return nil, err
	}
	blobs := blob.New(c.s3)
	presign := s3.NewPresignClient(c.s3)
	return &api.Server{
		Projects:    c.store,
		Starter:     &execution.Starter{Runner: runner, Claims: c.store, Blobs: blobs, PayloadBucket: os.Getenv(api.EnvCrashBucket)},
		Executions:  runner,
		Results:     blobs,
		ResultLinks: api.S3ResultLinks{Client: presign},
		DebugFiles: &debugfile.Store{
			Bucket:    os.Getenv(task.EnvDebugFilesBucket),
			Blobs:     blobs,
			Projects:  c.store,
			Presigner: debugfile.S3Presigner{Client: presign},
		},
		// Minidump uploads land in the crash bucket under the trigger's own
		// keys (crashes/...), presigned ones too.
		CrashBucket:  os.Getenv(api.EnvCrashBucket),
		CrashFiles:   blobs,
		CrashUploads: api.S3CrashUploads{Client: presign},
		Settings:     settings,
		Log:          Logger(),
	}, nil
}

// CrashUpload builds the crash-upload trigger's handler from the environment.
func CrashUpload(ctx context.Context) (*crashupload.Handler, error) {
	if err := requireEnv(EnvProjectsTable, EnvTasksTable, api.EnvStateMachineArn); err != nil {
		return nil, err
	}
	c, err := newClients(ctx, 0)
	if err != nil {
		return nil, err
	}
	runner, err := stepfunctions.New(sfn.NewFromConfig(c.aws), os.Getenv(api.EnvStateMachineArn))
	if err != nil {
		return nil, err
	}
	return &crashupload.Handler{
		// Crash files are referenced, never offloaded: no payload bucket.
		Starter:    &execution.Starter{Runner: runner, Claims: c.store, Blobs: blob.New(c.s3)},
		Projects:   c.store,
		Quarantine: crashupload.S3Quarantine{Client: c.s3},
		Log:        Logger(),
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
func Must[T any](v T, err error) T {
	if err != nil {
		Logger().Error("init failed", "error", err)
		os.Exit(1)
	}
	return v
}
