package serve

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/google/uuid"

	"github.com/symflow/symflow/shared/blob"
	"github.com/symflow/symflow/shared/crashupload"
)

// ObjectPutter uploads a file to the local S3 server (s3.Client).
type ObjectPutter interface {
	PutObject(ctx context.Context, in *awss3.PutObjectInput, opts ...func(*awss3.Options)) (*awss3.PutObjectOutput, error)
}

// EventSink receives S3 events (crashupload.Handler.HandleEvent).
type EventSink func(ctx context.Context, raw json.RawMessage) error

// Watcher treats a folder as the crash bucket: a file appearing at
// DIR/crashes/<project_id>/<event_id>.dmp is uploaded to Bucket under the
// same key and announced to the crash-upload handler with the EventBridge
// "Object Created" event S3 would send. Files under DIR/quarantine/ are
// never picked up. A file is announced once it has kept its size for one
// poll, so a file still being written is not taken half.
//
// With InPlace, Dir is the bucket itself (the local S3 server's folder for
// it): files are objects already, and are only announced. That is how
// objects written to the local crash bucket by anything (the API's
// minidump route, a presigned upload) reach the crash-upload handler, as
// S3 sends them to EventBridge.
type Watcher struct {
	Dir      string
	Bucket   string
	S3       ObjectPutter // unused with InPlace
	InPlace  bool
	Sink     EventSink
	Interval time.Duration // time.Second when 0
	Log      *slog.Logger

	seen    map[string]fileState
	pending map[string]fileState
}

type fileState struct {
	size int64
	mod  time.Time
}

// Run polls until ctx is done.
func (w *Watcher) Run(ctx context.Context) {
	iv := w.Interval
	if iv <= 0 {
		iv = time.Second
	}
	t := time.NewTicker(iv)
	defer t.Stop()
	for {
		w.Scan(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Scan looks at the folder once and announces the files that are new and
// settled. It returns how many it announced.
func (w *Watcher) Scan(ctx context.Context) int {
	if w.seen == nil {
		w.seen, w.pending = map[string]fileState{}, map[string]fileState{}
	}
	n := 0
	root := filepath.Join(w.Dir, strings.TrimSuffix(crashupload.Prefix, "/"))
	filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error { //nolint:errcheck // per-file errors are logged
		if err != nil || d.IsDir() || strings.HasPrefix(d.Name(), ".") {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		rel, err := filepath.Rel(w.Dir, path)
		if err != nil {
			return nil
		}
		key := filepath.ToSlash(rel)
		st := fileState{size: info.Size(), mod: info.ModTime()}
		if prev, ok := w.seen[key]; ok && prev == st {
			return nil
		}
		if prev, ok := w.pending[key]; !ok || prev != st {
			w.pending[key] = st // announce when it has settled
			return nil
		}
		delete(w.pending, key)
		w.seen[key] = st
		if err := w.announce(ctx, path, key, st.size); err != nil {
			w.log().Error("crash file not announced", "file", path, "error", err)
			return nil
		}
		n++
		return nil
	})
	return n
}

func (w *Watcher) announce(ctx context.Context, path, key string, size int64) error {
	if w.InPlace {
		ev, err := ObjectCreatedEvent(w.Bucket, key, size)
		if err != nil {
			return err
		}
		w.log().Info("crash object announced", "bucket", w.Bucket, "key", key)
		return w.Sink(ctx, ev)
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := w.S3.PutObject(ctx, &awss3.PutObjectInput{
		Bucket: aws.String(w.Bucket), Key: aws.String(key), Body: f, ContentLength: aws.Int64(size),
	}); err != nil {
		return fmt.Errorf("upload to s3://%s/%s: %w", w.Bucket, key, err)
	}
	ev, err := ObjectCreatedEvent(w.Bucket, key, size)
	if err != nil {
		return err
	}
	w.log().Info("crash file uploaded", "file", path, "key", key)
	return w.Sink(ctx, ev)
}

// ObjectCreatedEvent is the EventBridge event S3 sends for a new object.
func ObjectCreatedEvent(bucket, key string, size int64) (json.RawMessage, error) {
	now := time.Now().UTC().Format(time.RFC3339)
	detail, err := json.Marshal(map[string]any{
		"version":           "0",
		"bucket":            map[string]string{"name": bucket},
		"object":            map[string]any{"key": key, "size": size, "etag": "", "sequencer": fmt.Sprintf("%016X", time.Now().UnixNano())},
		"request-id":        "LOCAL",
		"requester":         "000000000000",
		"source-ip-address": "127.0.0.1",
		"reason":            "PutObject",
	})
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]any{
		"version":     "0",
		"id":          uuid.NewString(),
		"detail-type": "Object Created",
		"source":      "aws.s3",
		"account":     "000000000000",
		"time":        now,
		"region":      "us-east-1",
		"resources":   []string{"arn:aws:s3:::" + bucket},
		"detail":      json.RawMessage(detail),
	})
}

func (w *Watcher) log() *slog.Logger {
	if w.Log != nil {
		return w.Log
	}
	return slog.New(slog.DiscardHandler)
}

// DirQuarantine is the local twin of crashupload.S3Quarantine: it moves a
// refused file from DIR/<key> to DIR/quarantine/<key> and writes the
// reason beside it (<key>.reason.txt), so the user sees both in the folder.
type DirQuarantine struct {
	Dir string
}

// Quarantine moves the file for obj's key.
func (q DirQuarantine) Quarantine(ctx context.Context, obj blob.Ref, reason string) (blob.Ref, error) {
	if err := obj.Validate(); err != nil {
		return blob.Ref{}, err
	}
	to := blob.Ref{Bucket: obj.Bucket, Key: crashupload.QuarantinePrefix + obj.Key}
	src := filepath.Join(q.Dir, filepath.FromSlash(obj.Key))
	dst := filepath.Join(q.Dir, filepath.FromSlash(to.Key))
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return blob.Ref{}, err
	}
	if err := os.Rename(src, dst); err != nil {
		if os.IsNotExist(err) {
			return blob.Ref{}, fmt.Errorf("quarantine %s: %w", obj, blob.ErrNotFound)
		}
		return blob.Ref{}, err
	}
	if err := os.WriteFile(dst+".reason.txt", []byte(reason+"\n"), 0o644); err != nil {
		return to, err
	}
	return to, nil
}
