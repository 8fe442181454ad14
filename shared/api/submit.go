package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"github.com/symflow/symflow/shared/blob"
	"github.com/symflow/symflow/shared/dynamo"
	"github.com/symflow/symflow/shared/execution"
	"github.com/symflow/symflow/shared/task"
)

var (
	projectIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)
	eventIDPattern   = regexp.MustCompile(`^[0-9a-f]{32}$`)
	platformPattern  = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,31}$`)
	hexAddrPattern   = regexp.MustCompile(`^0[xX][0-9a-fA-F]{1,16}$`)
)

func checkProjectID(id string) *apiError {
	if !projectIDPattern.MatchString(id) {
		return badField("project_id", "%q is not a project id (letters, digits, - and _, at most 64, starting with a letter or digit)", truncate(id))
	}
	return nil
}

func checkEventID(id string) *apiError {
	if !eventIDPattern.MatchString(id) {
		return badField("event_id", "%q is not 32 lowercase hex digits", truncate(id))
	}
	return nil
}

// truncate keeps echoed input short in messages.
func truncate(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// symbolicateBody is the native payload. Stack traces and modules are
// checked piecewise and forwarded as sent, so fields symflow does not
// look at (registers, thread names, frame hints) reach Symbolicator.
type symbolicateBody struct {
	Platform           *string           `json:"platform"`
	Stacktraces        []json.RawMessage `json:"stacktraces"`
	Modules            []json.RawMessage `json:"modules"`
	Signal             *int              `json:"signal"`
	ApplySourceContext *bool             `json:"apply_source_context"`
}

// Submitted is the answer to a symbolication request.
type Submitted struct {
	ExecutionID string `json:"execution_id"`
	Status      string `json:"status"`
	StatusURL   string `json:"status_url"`
	// Created is false when the event already had an execution, which is
	// returned instead of starting another.
	Created bool `json:"created"`
	// PayloadOffloaded says the payload was too large for workflow state
	// and was stored in S3.
	PayloadOffloaded bool `json:"payload_offloaded,omitempty"`
}

func (s *Server) submit(ctx context.Context, r *Request, p params) (int, any, *apiError) {
	if e := checkProjectID(p["project_id"]); e != nil {
		return 0, nil, e
	}
	if e := checkEventID(p["event_id"]); e != nil {
		return 0, nil, e
	}
	if max := limit(s.MaxPayloadBytes, DefaultMaxPayloadBytes); len(r.Body) > max {
		return 0, nil, tooLarge("the payload", max, "")
	}
	var body symbolicateBody
	if e := decodeStrict(r.Body, &body); e != nil {
		return 0, nil, e
	}
	payload, platform, e := checkPayload(body)
	if e != nil {
		return 0, nil, e
	}
	if _, err := s.Projects.GetProject(ctx, p["project_id"]); err != nil {
		if errors.Is(err, dynamo.ErrNotFound) {
			return 0, nil, notFound(CodeProjectNotFound, "project %s is not configured; PUT /v1/projects/%s/config first", p["project_id"], p["project_id"])
		}
		return 0, nil, internalErr("read project", err)
	}
	st := task.State{
		ProjectID: p["project_id"],
		EventID:   p["event_id"],
		Kind:      task.KindPayload,
		Platform:  platform,
		Payload:   payload,
	}
	if err := st.Validate(); err != nil {
		var bad *task.InvalidInput
		if errors.As(err, &bad) {
			return 0, nil, badField(bad.Field, "%s", bad.Message)
		}
		return 0, nil, internalErr("validate", err)
	}
	started, err := s.Starter.Start(ctx, st)
	if err != nil {
		return 0, nil, internalErr("start execution", err)
	}
	status := http.StatusAccepted
	if !started.Created {
		status = http.StatusOK
	}
	return status, Submitted{
		ExecutionID:      started.Name,
		Status:           started.Status,
		StatusURL:        r.BaseURL + "/v1/executions/" + started.Name,
		Created:          started.Created,
		PayloadOffloaded: started.Offloaded != nil,
	}, nil
}

// checkPayload validates the native payload and returns it as the
// execution input's payload.
func checkPayload(b symbolicateBody) (json.RawMessage, string, *apiError) {
	platform := "native"
	if b.Platform != nil {
		if !platformPattern.MatchString(*b.Platform) {
			return nil, "", badField("platform", "%q is not a platform name (lowercase letters, digits, - and _)", truncate(*b.Platform))
		}
		platform = *b.Platform
	}
	if b.Stacktraces == nil {
		return nil, "", badField("stacktraces", "is required: a list of threads, each with frames")
	}
	if len(b.Stacktraces) == 0 {
		return nil, "", badField("stacktraces", "must hold at least one stack trace")
	}
	for i, raw := range b.Stacktraces {
		if e := checkStacktrace(fmt.Sprintf("stacktraces[%d]", i), raw); e != nil {
			return nil, "", e
		}
	}
	for i, raw := range b.Modules {
		if e := checkModule(fmt.Sprintf("modules[%d]", i), raw); e != nil {
			return nil, "", e
		}
	}
	if b.Signal != nil && (*b.Signal < 0 || *b.Signal > 64) {
		return nil, "", badField("signal", "%d is not a signal number (0 to 64)", *b.Signal)
	}
	modules := b.Modules
	if modules == nil {
		modules = []json.RawMessage{}
	}
	out := struct {
		Stacktraces        []json.RawMessage `json:"stacktraces"`
		Modules            []json.RawMessage `json:"modules"`
		Signal             *int              `json:"signal,omitempty"`
		ApplySourceContext *bool             `json:"apply_source_context,omitempty"`
	}{b.Stacktraces, modules, b.Signal, b.ApplySourceContext}
	payload, err := json.Marshal(out)
	if err != nil {
		return nil, "", malformed("payload does not re-encode: " + err.Error())
	}
	return payload, platform, nil
}

func object(field string, raw json.RawMessage) (map[string]json.RawMessage, *apiError) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return nil, badField(field, "must be an object, got %s", kindOf(raw))
	}
	return m, nil
}

// kindOf names the JSON type of raw for messages.
func kindOf(raw json.RawMessage) string {
	s := strings.TrimSpace(string(raw))
	switch {
	case s == "" || s == "null":
		return "null"
	case s[0] == '{':
		return "an object"
	case s[0] == '[':
		return "an array"
	case s[0] == '"':
		return "a string"
	case s == "true" || s == "false":
		return "a boolean"
	}
	return "a number"
}

func checkStacktrace(field string, raw json.RawMessage) *apiError {
	m, e := object(field, raw)
	if e != nil {
		return e
	}
	framesRaw, ok := m["frames"]
	if !ok {
		return badField(field+".frames", "is required")
	}
	var frames []json.RawMessage
	if err := json.Unmarshal(framesRaw, &frames); err != nil || frames == nil {
		return badField(field+".frames", "must be an array, got %s", kindOf(framesRaw))
	}
	if len(frames) == 0 {
		return badField(field+".frames", "must hold at least one frame")
	}
	for j, fr := range frames {
		ff := fmt.Sprintf("%s.frames[%d]", field, j)
		fm, e := object(ff, fr)
		if e != nil {
			return e
		}
		addr, ok := fm["instruction_addr"]
		if !ok {
			return badField(ff+".instruction_addr", "is required")
		}
		if e := checkAddr(ff+".instruction_addr", addr); e != nil {
			return e
		}
	}
	return nil
}

func checkAddr(field string, raw json.RawMessage) *apiError {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return badField(field, "must be a hex string such as \"0x1a2b\", got %s", kindOf(raw))
	}
	if !hexAddrPattern.MatchString(s) {
		return badField(field, "%q is not a hex address such as \"0x1a2b\" (at most 16 digits)", truncate(s))
	}
	return nil
}

func checkModule(field string, raw json.RawMessage) *apiError {
	m, e := object(field, raw)
	if e != nil {
		return e
	}
	var typ string
	if t, ok := m["type"]; !ok {
		return badField(field+".type", "is required (elf, macho, pe, …)")
	} else if err := json.Unmarshal(t, &typ); err != nil || typ == "" {
		return badField(field+".type", "must be a non-empty string, got %s", kindOf(t))
	}
	if a, ok := m["image_addr"]; !ok {
		return badField(field+".image_addr", "is required")
	} else if e := checkAddr(field+".image_addr", a); e != nil {
		return e
	}
	if sz, ok := m["image_size"]; ok {
		var n int64
		if err := json.Unmarshal(sz, &n); err != nil || n < 0 {
			return badField(field+".image_size", "must be a non-negative whole number, got %s", kindOf(sz))
		}
	}
	for _, f := range []string{"code_id", "debug_id", "code_file", "debug_file"} {
		if v, ok := m[f]; ok {
			var s string
			if err := json.Unmarshal(v, &s); err != nil && string(v) != "null" {
				return badField(field+"."+f, "must be a string, got %s", kindOf(v))
			}
		}
	}
	return nil
}

// Execution status as the API returns it.
type ExecutionStatus struct {
	ExecutionID string          `json:"execution_id"`
	Status      string          `json:"status"`
	ProjectID   string          `json:"project_id,omitempty"`
	EventID     string          `json:"event_id,omitempty"`
	Kind        string          `json:"kind,omitempty"`
	StartedAt   string          `json:"started_at,omitempty"`
	StoppedAt   string          `json:"stopped_at,omitempty"`
	Summary     *task.Summary   `json:"summary,omitempty"`
	Result      json.RawMessage `json:"result,omitempty"`
	// ResultExpired: the execution succeeded but its result is no longer
	// stored (the results bucket's retention).
	ResultExpired bool `json:"result_expired,omitempty"`
	// ResultURL is set instead of Result when the result is too large for
	// a response: a presigned GET URL valid for ResultLinkTTL.
	ResultURL string `json:"result_url,omitempty"`
	// ResultTooLarge: too large to answer, and no way to link it.
	ResultTooLarge bool            `json:"result_too_large,omitempty"`
	Components     json.RawMessage `json:"components,omitempty"`
	Failure        *Failure        `json:"failure,omitempty"`
}

// Failure is a failed execution's error name and cause.
type Failure struct {
	Error string `json:"error"`
	Cause string `json:"cause"`
}

func (s *Server) getExecution(ctx context.Context, r *Request, p params) (int, any, *apiError) {
	name := p["execution_id"]
	if !execution.ValidName(name) {
		return 0, nil, badField("execution_id", "%q is not an execution id (letters, digits, - and _, at most 80)", truncate(name))
	}
	ex, err := s.Executions.Describe(ctx, name)
	if errors.Is(err, execution.ErrNotFound) {
		return 0, nil, notFound(CodeExecutionNotFound, "no execution %s", name)
	}
	if err != nil {
		return 0, nil, internalErr("describe execution", err)
	}
	out := ExecutionStatus{ExecutionID: name, Status: ex.Status}
	var in task.State
	if json.Unmarshal(ex.Input, &in) == nil {
		out.ProjectID, out.EventID, out.Kind = in.ProjectID, in.EventID, in.Kind
	}
	if !ex.StartDate.IsZero() {
		out.StartedAt = ex.StartDate.UTC().Format("2006-01-02T15:04:05.000Z07:00")
	}
	if !ex.StopDate.IsZero() {
		out.StoppedAt = ex.StopDate.UTC().Format("2006-01-02T15:04:05.000Z07:00")
	}
	switch ex.Status {
	case execution.StatusSucceeded:
		var o task.Output
		if err := json.Unmarshal(ex.Output, &o); err != nil {
			return 0, nil, internalErr("decode execution output", err)
		}
		out.Summary = &o.Result.Summary
		out.Components = o.Components
		var result json.RawMessage
		err := s.Results.GetJSON(ctx, o.Result.Result, &result)
		switch {
		case err == nil && len(result) > limit(s.MaxInlineResultBytes, DefaultMaxInlineResultBytes):
			// Lambda answers at most 6 MB: a larger result is linked.
			if s.ResultLinks == nil {
				out.ResultTooLarge = true
				break
			}
			url, err := s.ResultLinks.PresignGet(ctx, o.Result.Result, ResultLinkTTL)
			if err != nil {
				return 0, nil, internalErr("link result", err)
			}
			out.ResultURL = url
		case err == nil:
			out.Result = result
		case errors.Is(err, blob.ErrNotFound):
			out.ResultExpired = true
		default:
			return 0, nil, internalErr("read result", err)
		}
	case execution.StatusRunning:
	default:
		out.Failure = failure(ex)
	}
	return http.StatusOK, out, nil
}
