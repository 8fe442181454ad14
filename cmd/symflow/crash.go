package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/symflow/symflow/local/asl"
	"github.com/symflow/symflow/local/serve"
	"github.com/symflow/symflow/local/stack"
	"github.com/symflow/symflow/shared/crashupload"
	"github.com/symflow/symflow/shared/execution"
	"github.com/symflow/symflow/shared/project"
)

// isCrashFile reports whether path names a crash file rather than an
// execution input: a minidump (.dmp, or the MDMP signature) or an Apple
// crash report (.crash).
func isCrashFile(path string, data []byte) bool {
	ext := strings.ToLower(filepath.Ext(path))
	return ext == ".dmp" || ext == ".crash" || bytes.HasPrefix(data, []byte("MDMP"))
}

// runCrash symbolicates a crash file the way an upload to the crash bucket
// is symbolicated on AWS: the file is stored under
// crashes/<project_id>/<event_id>.<ext> in the local crash bucket, the
// Object Created event S3 would send goes to the crash-upload handler, and
// the execution it starts runs here, in the foreground. Every run is a new
// upload, with a new event id.
func runCrash(ctx context.Context, st *stack.Stack, projectID, path string, data []byte, p *progress) (*asl.Execution, error) {
	ext := ".dmp"
	if strings.EqualFold(filepath.Ext(path), ".crash") {
		ext = ".crash"
	}
	id := make([]byte, 16)
	if _, err := rand.Read(id); err != nil {
		return nil, err
	}
	key := "crashes/" + projectID + "/" + hex.EncodeToString(id) + ext
	if _, err := st.S3.PutObject(ctx, &awss3.PutObjectInput{
		Bucket: aws.String(stack.CrashBucket), Key: aws.String(key), Body: bytes.NewReader(data), ContentLength: aws.Int64(int64(len(data))),
	}); err != nil {
		return nil, fmt.Errorf("upload to s3://%s/%s: %w", stack.CrashBucket, key, err)
	}
	if !p.quiet {
		fmt.Fprintf(p.w, "crash upload: %s → s3://%s/%s (S3 Object Created → crash-upload)\n", path, stack.CrashBucket, key)
	}
	runner := &foregroundRunner{st: st, observe: p.observe, header: func(name string) { p.header(name, project.RedactURLs(st.SymbolicatorURL)) }}
	h := &crashupload.Handler{
		Starter:    &execution.Starter{Runner: runner, Claims: st.Store, Blobs: st.Blobs, PayloadBucket: stack.CrashBucket},
		Projects:   st.Store,
		Quarantine: serve.DirQuarantine{Dir: filepath.Join(st.StateDir, "quarantine")},
		Log:        slog.New(slog.DiscardHandler),
	}
	ev, err := serve.ObjectCreatedEvent(stack.CrashBucket, key, int64(len(data)))
	if err != nil {
		return nil, err
	}
	objs, err := crashupload.Objects(ev)
	if err != nil {
		return nil, err
	}
	outcomes, err := h.Handle(ctx, objs)
	if err != nil {
		return nil, err
	}
	for _, o := range outcomes {
		if o.Quarantined != nil {
			return nil, fmt.Errorf("the crash upload was quarantined to %s: %s", o.Quarantined, o.Reason)
		}
	}
	if runner.exec == nil {
		return nil, errors.New("the crash upload started no execution")
	}
	return runner.exec, runner.err
}

// foregroundRunner runs the execution the crash-upload handler starts to
// its end before returning, so that its progress is shown as it goes.
type foregroundRunner struct {
	st      *stack.Stack
	observe func(asl.HistoryEvent)
	header  func(name string)
	exec    *asl.Execution
	err     error
}

func (r *foregroundRunner) Start(ctx context.Context, name string, input json.RawMessage) error {
	r.header(name)
	r.exec, r.err = foreground(ctx, func(ctx context.Context, ro stack.RunOptions) (*asl.Execution, error) {
		ro.Observer = r.observe
		return r.st.Execute(ctx, name, input, ro)
	})
	if r.exec == nil && r.err != nil {
		return r.err
	}
	return nil
}

func (r *foregroundRunner) Describe(ctx context.Context, name string) (execution.Execution, error) {
	return serve.SavedExecution(r.st.StateDir, name)
}
