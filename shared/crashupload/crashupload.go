// Package crashupload starts a symbolication for every crash file uploaded
// to the crash bucket: `crashes/<project_id>/<event_id>.dmp` (a minidump)
// or `.crash` (an Apple crash report). S3 delivers its events at least
// once, so the same object may arrive many times; execution.Starter makes
// that one execution.
//
// An object that cannot become an execution — a key of the wrong shape,
// an unknown project, an empty file — is moved to QuarantinePrefix with
// the reason, and logged: it is neither retried forever nor silently
// dropped. A failure that may pass (the store or Step Functions
// unavailable) is returned, so the delivery is retried and, when retries
// run out, lands in the trigger's dead-letter queue.
package crashupload

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"

	"github.com/symflow/symflow/shared/blob"
	"github.com/symflow/symflow/shared/dynamo"
	"github.com/symflow/symflow/shared/execution"
	"github.com/symflow/symflow/shared/project"
	"github.com/symflow/symflow/shared/task"
)

// Key layout of the crash bucket.
const (
	Prefix           = "crashes/"
	QuarantinePrefix = "quarantine/"
	// AnnotationsPrefix holds what a client sent with an uploaded crash
	// besides the file (shared/api's minidump route): outside Prefix, so
	// writing it triggers nothing.
	AnnotationsPrefix = "annotations/"
)

// Key is where the crash file of a project's event is uploaded:
// crashes/<project_id>/<event_id>.dmp for a minidump, .crash for an Apple
// crash report. Everything that stores crash files names them so (the
// API's minidump upload, its presigned uploads, a client writing to the
// bucket itself), which makes "one execution per project and event" one
// rule for all of them. ParseKey reads it back.
func Key(projectID, eventID, kind string) string {
	ext := ".dmp"
	if kind == task.KindAppleCrashReport {
		ext = ".crash"
	}
	return Prefix + projectID + "/" + eventID + ext
}

// AnnotationsKey is where the annotations of a project's event are kept:
// annotations/<project_id>/<event_id>.json.
func AnnotationsKey(projectID, eventID string) string {
	return AnnotationsPrefix + projectID + "/" + eventID + ".json"
}

// Object is one uploaded object, as an S3 event names it.
type Object struct {
	Bucket string
	Key    string
	Size   int64 // -1 when the event does not say
}

func (o Object) ref() blob.Ref { return blob.Ref{Bucket: o.Bucket, Key: o.Key} }

// Starter starts one execution per event (execution.Starter).
type Starter interface {
	Start(ctx context.Context, st task.State) (execution.Started, error)
}

// Projects tells known projects from unknown ones (dynamo.Store).
type Projects interface {
	GetProject(ctx context.Context, id string) (project.Project, error)
}

// Quarantiner sets an object aside with the reason it was refused.
type Quarantiner interface {
	Quarantine(ctx context.Context, obj blob.Ref, reason string) (blob.Ref, error)
}

// Handler turns uploaded objects into executions.
type Handler struct {
	Starter    Starter
	Projects   Projects
	Quarantine Quarantiner
	Log        *slog.Logger
}

// Outcome says what became of one object.
type Outcome struct {
	Object    Object
	Execution string // the event's execution, when started or found
	Created   bool
	// Quarantined is where the object was moved, with Reason.
	Quarantined *blob.Ref
	Reason      string
	Ignored     bool // not under Prefix: not a crash upload
}

// RejectedKeyError says why a key is not a crash upload's.
type RejectedKeyError struct {
	Key, Reason string
}

func (e *RejectedKeyError) Error() string { return fmt.Sprintf("key %q: %s", e.Key, e.Reason) }

var (
	projectIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)
	eventIDPattern   = regexp.MustCompile(`^[0-9a-f]{32}$`)
)

// ParseKey reads project, event and kind from a crash key.
func ParseKey(key string) (projectID, eventID, kind string, err error) {
	rest, ok := strings.CutPrefix(key, Prefix)
	if !ok {
		return "", "", "", &RejectedKeyError{key, "not under " + Prefix}
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 2 {
		return "", "", "", &RejectedKeyError{key, "want crashes/<project_id>/<event_id>.dmp or .crash"}
	}
	projectID = parts[0]
	if !projectIDPattern.MatchString(projectID) {
		return "", "", "", &RejectedKeyError{key, fmt.Sprintf("project id %q is not letters, digits, - and _ (at most 64)", projectID)}
	}
	name := parts[1]
	switch {
	case strings.HasSuffix(name, ".dmp"):
		eventID, kind = strings.TrimSuffix(name, ".dmp"), task.KindMinidump
	case strings.HasSuffix(name, ".crash"):
		eventID, kind = strings.TrimSuffix(name, ".crash"), task.KindAppleCrashReport
	default:
		return "", "", "", &RejectedKeyError{key, "extension is neither .dmp (minidump) nor .crash (Apple crash report)"}
	}
	if !eventIDPattern.MatchString(eventID) {
		return "", "", "", &RejectedKeyError{key, fmt.Sprintf("event id %q is not 32 lowercase hex digits", eventID)}
	}
	return projectID, eventID, kind, nil
}

// Handle processes every object and returns their outcomes. The error
// joins the failures worth retrying; objects that succeeded or were
// quarantined are safe to see again on a retry.
func (h *Handler) Handle(ctx context.Context, objs []Object) ([]Outcome, error) {
	var errs []error
	out := make([]Outcome, 0, len(objs))
	for _, o := range objs {
		oc, err := h.handle(ctx, o)
		if err != nil {
			h.log().ErrorContext(ctx, "crash upload failed; the delivery will be retried", "bucket", o.Bucket, "key", o.Key, "error", err)
			errs = append(errs, fmt.Errorf("%s: %w", o.ref(), err))
			continue
		}
		out = append(out, oc)
	}
	return out, errors.Join(errs...)
}

func (h *Handler) handle(ctx context.Context, o Object) (Outcome, error) {
	log := h.log().With("bucket", o.Bucket, "key", o.Key)
	oc := Outcome{Object: o}
	if !strings.HasPrefix(o.Key, Prefix) {
		// Not a crash upload (the trigger's filter should not send it);
		// never touch objects outside crashes/, quarantined ones included.
		log.WarnContext(ctx, "ignoring object outside "+Prefix)
		oc.Ignored = true
		return oc, nil
	}
	projectID, eventID, kind, err := ParseKey(o.Key)
	if err != nil {
		var rk *RejectedKeyError
		errors.As(err, &rk)
		return h.quarantine(ctx, oc, rk.Reason)
	}
	if o.Size == 0 {
		return h.quarantine(ctx, oc, "the file is empty")
	}
	if _, err := h.Projects.GetProject(ctx, projectID); err != nil {
		if errors.Is(err, dynamo.ErrNotFound) {
			return h.quarantine(ctx, oc, fmt.Sprintf("project %s is not configured", projectID))
		}
		return oc, fmt.Errorf("read project %s: %w", projectID, err)
	}
	ref := o.ref()
	started, err := h.Starter.Start(ctx, task.State{
		ProjectID: projectID,
		EventID:   eventID,
		Kind:      kind,
		Platform:  "native",
		CrashFile: &ref,
	})
	if err != nil {
		return oc, err
	}
	oc.Execution, oc.Created = started.Name, started.Created
	if started.Created {
		log.InfoContext(ctx, "execution started", "execution", started.Name, "project_id", projectID, "event_id", eventID, "kind", kind)
	} else {
		log.InfoContext(ctx, "event already has an execution; repeated delivery", "execution", started.Name, "status", started.Status)
	}
	return oc, nil
}

func (h *Handler) quarantine(ctx context.Context, oc Outcome, reason string) (Outcome, error) {
	to, err := h.Quarantine.Quarantine(ctx, oc.Object.ref(), reason)
	if errors.Is(err, blob.ErrNotFound) {
		// Quarantined by an earlier delivery of the same event.
		h.log().InfoContext(ctx, "refused object already gone (quarantined earlier)", "key", oc.Object.Key, "reason", reason)
		oc.Reason = reason
		return oc, nil
	}
	if err != nil {
		return oc, fmt.Errorf("quarantine (%s): %w", reason, err)
	}
	h.log().WarnContext(ctx, "crash upload refused; object quarantined", "bucket", oc.Object.Bucket, "key", oc.Object.Key, "quarantined_as", to.Key, "reason", reason)
	oc.Quarantined, oc.Reason = &to, reason
	return oc, nil
}

func (h *Handler) log() *slog.Logger {
	if h.Log != nil {
		return h.Log
	}
	return slog.New(slog.DiscardHandler)
}
