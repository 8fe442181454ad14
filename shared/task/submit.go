package task

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"io"

	"github.com/symflow/symflow/shared/blob"
	"github.com/symflow/symflow/shared/dynamo"
	"github.com/symflow/symflow/shared/scraping"
	"github.com/symflow/symflow/shared/sources"
	"github.com/symflow/symflow/shared/symbolicator"
)

// SubmitTask backfills the sources' secrets from the store, submits the
// crash to Symbolicator and records the task. A redriven execution whose
// task is still recorded as pending resumes polling it instead.
func (s *Steps) SubmitTask(ctx context.Context, in Input) (*Progress, error) {
	if err := in.State.Validate(); err != nil {
		return nil, err
	}
	if in.State.Lookup == nil {
		return nil, &InvalidInput{Field: "lookup", Message: "missing: SubmitTask runs after LookupSources"}
	}
	if err := s.checkDeadline(&in); err != nil {
		return nil, err
	}
	log := s.logger(ctx, &in)
	prev := in.progress()

	if prev.RequestID == "" {
		if resumed, ok := s.resume(ctx, &in, prev); ok {
			log.InfoContext(ctx, "resuming recorded task", "request_id", resumed.RequestID)
			return resumed, nil
		}
	}

	p, err := s.loadProject(ctx, in.State.ProjectID)
	if err != nil {
		return nil, err
	}
	stored, _ := s.sourcesFor(p, in.State.EventID)
	var hidden sources.List
	if err := json.Unmarshal(in.State.Lookup.Sources, &hidden); err != nil {
		return nil, &InvalidInput{Field: "lookup.sources", Message: "not a list of sources: " + err.Error()}
	}
	full, err := sources.Backfill(hidden, stored)
	if err != nil {
		return nil, &InvalidInput{Field: "lookup.sources", Message: err.Error()}
	}
	srcJSON, err := json.Marshal(full)
	if err != nil {
		return nil, &InternalError{Op: "encode sources", Err: err}
	}
	var hiddenScr scraping.Scraping
	if err := json.Unmarshal(in.State.Lookup.Scraping, &hiddenScr); err != nil {
		return nil, &InvalidInput{Field: "lookup.scraping", Message: "not a scraping configuration: " + err.Error()}
	}
	fullScr, err := scraping.Backfill(hiddenScr, scraping.Config(p))
	if err != nil {
		return nil, &InvalidInput{Field: "lookup.scraping", Message: err.Error()}
	}
	scr, err := json.Marshal(fullScr)
	if err != nil {
		return nil, &InternalError{Op: "encode scraping", Err: err}
	}

	sess, workers := s.session(ctx, &in, prev.WorkerID)
	workerID := workers.Current()
	var resp symbolicator.Response
	switch in.State.Kind {
	case KindPayload:
		req, err := s.payloadRequest(ctx, &in.State, srcJSON, scr)
		if err != nil {
			return nil, err
		}
		resp, err = sess.Symbolicate(ctx, req)
		if err != nil {
			return nil, s.classify("submit", "", err)
		}
	default:
		// The file streams from S3 into the multipart body; each network
		// retry opens it again.
		ref := *in.State.CrashFile
		open := func(ctx context.Context) (io.ReadCloser, error) {
			rc, err := s.Blobs.Open(ctx, ref)
			if errors.Is(err, blob.ErrNotFound) {
				return nil, &InvalidInput{Field: "crash_file", Message: ref.String() + " does not exist"}
			}
			return rc, err
		}
		if in.State.Kind == KindMinidump {
			resp, err = sess.Minidump(ctx, open, in.State.platform(), srcJSON, scr)
		} else {
			resp, err = sess.AppleCrashReport(ctx, open, in.State.platform(), srcJSON, scr)
		}
		if bad := (*InvalidInput)(nil); errors.As(err, &bad) {
			return nil, bad
		}
		if err != nil {
			return nil, s.classify("submit", "", err)
		}
	}
	next, err := s.finish(ctx, &in, prev, resp, workerID)
	if err != nil {
		return nil, err
	}
	if err := s.recordTask(ctx, &in, next); err != nil {
		return nil, err
	}
	log.InfoContext(ctx, "task submitted", "status", next.Status, "request_id", next.RequestID, "worker_id", workerID)
	return next, nil
}

// resume returns the recorded task of this very execution when it is still
// pending: the execution was redriven after SubmitTask had succeeded.
func (s *Steps) resume(ctx context.Context, in *Input, prev Progress) (*Progress, bool) {
	t, err := s.Tasks.GetTask(ctx, in.State.ProjectID, in.State.EventID)
	if err != nil || t.ExecutionID != in.ExecutionID || t.Status != "pending" || t.RequestID == "" {
		if err != nil && !errors.Is(err, dynamo.ErrNotFound) {
			s.logger(ctx, in).WarnContext(ctx, "cannot read task record; submitting", "error", err)
		}
		return nil, false
	}
	next := prev
	next.Status = "pending"
	next.RequestID = t.RequestID
	next.WorkerID = t.WorkerID
	next.WaitSeconds = 0
	return &next, true
}

// payloadRequest builds the /symbolicate body from the payload, inline or
// in S3.
func (s *Steps) payloadRequest(ctx context.Context, st *State, srcJSON, scr json.RawMessage) (symbolicator.SymbolicateRequest, error) {
	var pl struct {
		Stacktraces        json.RawMessage `json:"stacktraces"`
		Modules            json.RawMessage `json:"modules"`
		Signal             int             `json:"signal"`
		ApplySourceContext *bool           `json:"apply_source_context"`
	}
	raw := st.Payload
	if st.PayloadRef != nil {
		var stored json.RawMessage
		if err := s.Blobs.GetJSON(ctx, *st.PayloadRef, &stored); err != nil {
			return symbolicator.SymbolicateRequest{}, &InvalidInput{Field: "payload_ref", Message: fmt.Sprintf("cannot read %s: %v", st.PayloadRef, errors.Unwrap(err))}
		}
		raw = stored
	}
	if err := json.Unmarshal(raw, &pl); err != nil {
		return symbolicator.SymbolicateRequest{}, &InvalidInput{Field: "payload", Message: "not a JSON object: " + err.Error()}
	}
	if len(pl.Stacktraces) == 0 || string(pl.Stacktraces) == "null" {
		return symbolicator.SymbolicateRequest{}, &InvalidInput{Field: "payload.stacktraces", Message: "is required"}
	}
	modules := pl.Modules
	if len(modules) == 0 || string(modules) == "null" {
		modules = json.RawMessage("[]")
	}
	return symbolicator.SymbolicateRequest{
		Platform:           st.platform(),
		Sources:            srcJSON,
		Scraping:           scr,
		Stacktraces:        pl.Stacktraces,
		Modules:            modules,
		Signal:             pl.Signal,
		ApplySourceContext: pl.ApplySourceContext,
	}, nil
}
