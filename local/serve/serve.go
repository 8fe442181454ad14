package serve

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"time"

	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/symflow/symflow/local/console"
	"github.com/symflow/symflow/local/stack"
	"github.com/symflow/symflow/shared/api"
	"github.com/symflow/symflow/shared/crashupload"
	"github.com/symflow/symflow/shared/debugfile"
	"github.com/symflow/symflow/shared/execution"
	"github.com/symflow/symflow/statemachine"
)

// Options configure the local service.
type Options struct {
	// CrashDir, when set, is watched as the crash bucket.
	CrashDir string
	// PollInterval is how often CrashDir is scanned; a second when 0.
	PollInterval time.Duration
	Log          *slog.Logger
	// Definition is the state machine the console draws; the embedded
	// statemachine.Definition when nil.
	Definition []byte
}

// Service is the API and the crash-upload trigger over a local stack.
type Service struct {
	API      *api.Server
	Gateway  Gateway
	Executor *Executor
	Crashes  *crashupload.Handler
	// Watcher is nil without a crash folder.
	Watcher *Watcher
	// Bucket announces the objects written to the local crash bucket
	// under crashes/ (by the minidump route, or a presigned upload) to
	// BucketCrashes, as S3 does through EventBridge. New starts it; Close
	// stops it.
	Bucket        *Watcher
	BucketCrashes *crashupload.Handler
	// Console is the web console; Handler serves it beside the API.
	Console *console.Console
	// Handler serves the API's routes (/v1/, and the Sentry-compatible
	// /api/) through Gateway and everything else through Console.
	Handler http.Handler

	stop context.CancelFunc
	done chan struct{}
}

// New wires the API and crash-upload handlers to st as functions/api and
// functions/crash-upload wire them to AWS, and the console beside them.
// A definition the console cannot draw leaves Console nil (the API still
// serves), and / answers why.
func New(st *stack.Stack, opts Options) *Service {
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	exec := NewExecutor(st, st.StateDir, log.With("component", "executor"))
	// What an earlier process left running continues first.
	if n, err := exec.ResumeInterrupted(); err != nil {
		log.Error("interrupted executions not resumed", "error", err)
	} else if n > 0 {
		log.Info("resumed interrupted executions", "count", n)
	}
	starter := &execution.Starter{Runner: exec, Claims: st.Store, Blobs: st.Blobs, PayloadBucket: stack.CrashBucket}
	presign := awss3.NewPresignClient(st.S3)
	srv := &api.Server{
		Projects:    st.Store,
		Starter:     starter,
		Executions:  exec,
		Results:     st.Blobs,
		ResultLinks: api.S3ResultLinks{Client: presign},
		DebugFiles: &debugfile.Store{
			Bucket:    stack.DebugFilesBucket,
			Blobs:     st.Blobs,
			Projects:  st.Store,
			Presigner: debugfile.S3Presigner{Client: presign},
		},
		CrashBucket:  stack.CrashBucket,
		CrashFiles:   st.Blobs,
		CrashUploads: api.S3CrashUploads{Client: presign},
		Settings:     st.Steps.Settings,
		Log:          log.With("function", "api"),
	}
	s := &Service{
		API: srv,
		// Precheck refuses an upload without a valid key before its body
		// is read.
		Gateway:  Gateway{Handler: srv.HandleHTTPAPI, Precheck: srv.PrecheckHTTPAPI},
		Executor: exec,
	}
	def := opts.Definition
	if def == nil {
		def = statemachine.Definition
	}
	mux := http.NewServeMux()
	mux.Handle("/v1/", s.Gateway)
	mux.Handle("/api/", s.Gateway)
	con, err := console.New(console.Config{StateDir: st.StateDir, Definition: def, Executions: exec, Results: st.Blobs, Log: log.With("component", "console")})
	if err != nil {
		log.Error("console not served", "error", err)
		mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, fmt.Sprintf("no console: %v", err), http.StatusInternalServerError)
		})
	} else {
		s.Console = con
		mux.Handle("/", con)
	}
	s.Handler = mux
	// The local S3 server keeps the bucket's objects as files under
	// StateDir/s3/<bucket>/.
	bucketDir := filepath.Join(st.StateDir, "s3", stack.CrashBucket)
	s.BucketCrashes = &crashupload.Handler{
		Starter:    starter,
		Projects:   st.Store,
		Quarantine: DirQuarantine{Dir: bucketDir},
		Log:        log.With("function", "crash-upload"),
	}
	// A crash file whose execution exists (started before a restart) is
	// not announced again.
	exists := func(ctx context.Context, key string) bool {
		projectID, eventID, _, err := crashupload.ParseKey(key)
		if err != nil {
			return false
		}
		_, err = exec.Describe(ctx, execution.Name(projectID, eventID))
		return err == nil
	}
	s.Bucket = &Watcher{
		Dir: bucketDir, Bucket: stack.CrashBucket, InPlace: true, Exists: exists,
		Sink: s.BucketCrashes.HandleEvent, Interval: opts.PollInterval, Log: log.With("component", "crash-bucket"),
	}
	ctx, stop := context.WithCancel(context.Background())
	s.stop, s.done = stop, make(chan struct{})
	go func() { defer close(s.done); s.Bucket.Run(ctx) }()
	if opts.CrashDir != "" {
		s.Crashes = &crashupload.Handler{
			Starter:    starter,
			Projects:   st.Store,
			Quarantine: DirQuarantine{Dir: opts.CrashDir},
			Log:        log.With("function", "crash-upload"),
		}
		s.Watcher = &Watcher{
			Dir: opts.CrashDir, Bucket: stack.CrashBucket, S3: st.S3, Exists: exists,
			Sink: s.Crashes.HandleEvent, Interval: opts.PollInterval, Log: log.With("component", "crash-dir"),
		}
	}
	return s
}

// Shutdown stops watching the crash bucket, then stops the executor:
// states in flight may finish for up to grace, and every execution not
// finished stays RUNNING on disk, resumed by the next New on the same
// state folder. It returns how many were left to resume. Stop serving the
// API first, so nothing new is accepted meanwhile.
func (s *Service) Shutdown(grace time.Duration) int {
	s.stop()
	<-s.done
	return s.Executor.Shutdown(grace)
}

// Close is Shutdown without a grace period.
func (s *Service) Close() { s.Shutdown(0) }
