package serve

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
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
// Only regular files are crash files: a named pipe, socket or device is
// skipped at once (opening a pipe would wait for a writer), and a symbolic
// link is followed to the regular file it names, or skipped when it names
// anything else or nothing. A skipped file is logged once, with the
// reason, and looked at again only when it changes.
//
// After a restart every file in the folder is new to the watcher: one
// whose execution already exists (Exists) is not announced again.
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
	// Exists, when set, reports whether the crash file at key already has
	// its execution; such a file is not announced.
	Exists func(ctx context.Context, key string) bool

	seen    map[string]fileState
	pending map[string]fileState
	skipped map[string]string // key → why, logged once
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
		w.seen, w.pending, w.skipped = map[string]fileState{}, map[string]fileState{}, map[string]string{}
	}
	n := 0
	root := filepath.Join(w.Dir, strings.TrimSuffix(crashupload.Prefix, "/"))
	filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error { //nolint:errcheck // per-file errors are logged
		if err != nil || d.IsDir() || strings.HasPrefix(d.Name(), ".") {
			return nil
		}
		rel, err := filepath.Rel(w.Dir, path)
		if err != nil {
			return nil
		}
		key := filepath.ToSlash(rel)
		info, why := regularFile(path, d)
		if why != "" {
			w.skip(key, path, why)
			return nil
		}
		delete(w.skipped, key)
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
		if w.Exists != nil && w.Exists(ctx, key) {
			w.log().Info("crash file already has its execution; not announced again", "file", path, "key", key)
			return nil
		}
		if err := w.announce(ctx, path, key, st.size); err != nil {
			var nr *notRegularError
			if errors.As(err, &nr) {
				delete(w.seen, key)
				w.skip(key, path, nr.why)
				return nil
			}
			w.log().Error("crash file not announced", "file", path, "error", err)
			return nil
		}
		n++
		return nil
	})
	return n
}

// skip logs once why the file at key is not a crash file.
func (w *Watcher) skip(key, path, why string) {
	delete(w.pending, key)
	if w.skipped[key] == why {
		return
	}
	w.skipped[key] = why
	w.log().Warn("crash folder entry skipped", "file", path, "reason", why)
}

// regularFile returns the file's information, following a symbolic link,
// or why it is not a regular file.
func regularFile(path string, d fs.DirEntry) (fs.FileInfo, string) {
	mode := d.Type()
	switch {
	case mode.IsRegular():
		info, err := d.Info()
		if err != nil {
			return nil, "cannot read it: " + err.Error()
		}
		return info, ""
	case mode&fs.ModeSymlink != 0:
		info, err := os.Stat(path)
		if err != nil {
			return nil, "a symbolic link to nothing readable (" + err.Error() + ")"
		}
		if !info.Mode().IsRegular() {
			return nil, "a symbolic link to " + kind(info.Mode()) + ", not to a regular file"
		}
		return info, ""
	}
	return nil, kind(mode) + ", not a regular file"
}

// kind names a file type for a reason.
func kind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a device"
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	}
	return "a special file"
}

// notRegularError: the file changed into something else between the scan
// and the upload.
type notRegularError struct{ why string }

func (e *notRegularError) Error() string { return e.why }

func (w *Watcher) announce(ctx context.Context, path, key string, size int64) error {
	if w.InPlace {
		ev, err := ObjectCreatedEvent(w.Bucket, key, size)
		if err != nil {
			return err
		}
		w.log().Info("crash object announced", "bucket", w.Bucket, "key", key)
		return w.Sink(ctx, ev)
	}
	// O_NONBLOCK: if a pipe took the file's place since the scan, opening
	// it must not wait for a writer.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return err
	}
	if !info.Mode().IsRegular() {
		return &notRegularError{why: kind(info.Mode()) + ", not a regular file"}
	}
	if _, err := w.S3.PutObject(ctx, &awss3.PutObjectInput{
		Bucket: aws.String(w.Bucket), Key: aws.String(key), Body: f, ContentLength: aws.Int64(info.Size()),
	}); err != nil {
		return fmt.Errorf("upload to s3://%s/%s: %w", w.Bucket, key, err)
	}
	ev, err := ObjectCreatedEvent(w.Bucket, key, info.Size())
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
