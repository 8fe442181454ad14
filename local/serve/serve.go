package serve

import (
	"log/slog"
	"time"

	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/symflow/symflow/local/stack"
	"github.com/symflow/symflow/shared/api"
	"github.com/symflow/symflow/shared/crashupload"
	"github.com/symflow/symflow/shared/debugfile"
	"github.com/symflow/symflow/shared/execution"
)

// Options configure the local service.
type Options struct {
	// CrashDir, when set, is watched as the crash bucket.
	CrashDir string
	// PollInterval is how often CrashDir is scanned; a second when 0.
	PollInterval time.Duration
	Log          *slog.Logger
}

// Service is the API and the crash-upload trigger over a local stack.
type Service struct {
	API      *api.Server
	Gateway  Gateway
	Executor *Executor
	Crashes  *crashupload.Handler
	// Watcher is nil without a crash folder.
	Watcher *Watcher
}

// New wires the API and crash-upload handlers to st as functions/api and
// functions/crash-upload wire them to AWS.
func New(st *stack.Stack, opts Options) *Service {
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	exec := NewExecutor(st, st.StateDir, log.With("component", "executor"))
	starter := &execution.Starter{Runner: exec, Claims: st.Store, Blobs: st.Blobs, PayloadBucket: stack.CrashBucket}
	srv := &api.Server{
		Projects:    st.Store,
		Starter:     starter,
		Executions:  exec,
		Results:     st.Blobs,
		ResultLinks: api.S3ResultLinks{Client: awss3.NewPresignClient(st.S3)},
		DebugFiles: &debugfile.Store{
			Bucket:    stack.DebugFilesBucket,
			Blobs:     st.Blobs,
			Projects:  st.Store,
			Presigner: debugfile.S3Presigner{Client: awss3.NewPresignClient(st.S3)},
		},
		Settings: st.Steps.Settings,
		Log:      log.With("function", "api"),
	}
	s := &Service{API: srv, Gateway: Gateway{Handler: srv.HandleHTTPAPI}, Executor: exec}
	if opts.CrashDir != "" {
		s.Crashes = &crashupload.Handler{
			Starter:    starter,
			Projects:   st.Store,
			Quarantine: DirQuarantine{Dir: opts.CrashDir},
			Log:        log.With("function", "crash-upload"),
		}
		s.Watcher = &Watcher{
			Dir: opts.CrashDir, Bucket: stack.CrashBucket, S3: st.S3,
			Sink: s.Crashes.HandleEvent, Interval: opts.PollInterval, Log: log.With("component", "crash-dir"),
		}
	}
	return s
}

// Close stops running executions.
func (s *Service) Close() { s.Executor.Close() }
