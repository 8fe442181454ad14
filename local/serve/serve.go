package serve

import (
	"context"
	"log/slog"
	"path/filepath"
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
	// Bucket announces the objects written to the local crash bucket
	// under crashes/ (by the minidump route, or a presigned upload) to
	// BucketCrashes, as S3 does through EventBridge. New starts it; Close
	// stops it.
	Bucket        *Watcher
	BucketCrashes *crashupload.Handler

	stop context.CancelFunc
	done chan struct{}
}

// New wires the API and crash-upload handlers to st as functions/api and
// functions/crash-upload wire them to AWS.
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
