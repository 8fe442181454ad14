// Package api is symflow's HTTP API as a function of a request: routing,
// validation and responses, independent of API Gateway. functions/api
// adapts API Gateway's HTTP API (payload 2.0) events to Request and
// Response; `symflow serve` adapts net/http to the same events, so the
// same handler runs locally.
//
// Routes:
//
//	POST /v1/projects/{project_id}/events/{event_id}/symbolicate   start a symbolication (202)
//	GET  /v1/executions/{execution_id}                             status, result or error
//	POST /v1/executions/{execution_id}/redrive                     run a failed execution again (redrive.go)
//	GET  /v1/projects/{project_id}/config                          configuration, secrets hidden
//	PUT  /v1/projects/{project_id}/config                          store configuration, secrets backfilled
//	PUT  /v1/projects/{project_id}/installations/{uuid}            store a sentry-app installation
//	POST /v1/projects/{project_id}/debug-files                     upload a small debug file (raw body)
//	POST /v1/projects/{project_id}/debug-files/uploads             presigned URLs for a large one
//	POST   /v1/projects/{project_id}/config/upload-key             make (or rotate) the upload key, shown once
//	DELETE /v1/projects/{project_id}/config/upload-key             revoke every upload key
//
// and the routes crashing applications post to, authorized by the
// project's upload key instead of the operators' IAM signature
// (minidump.go):
//
//	POST /v1/projects/{project_id}/minidump                        a minidump in a multipart form (Crashpad, Breakpad)
//	POST /api/{project_id}/minidump/                               the same, where Sentry's clients post it
//	POST /v1/projects/{project_id}/minidump/uploads                a presigned URL for a dump too large for the API
//
// Every error is JSON {"error": {"code", "message", "field"?}} with a 4xx
// status naming what is wrong, or 500 with only the request id: internal
// errors are logged, never returned. A request that is rejected writes
// nothing.
package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/symflow/symflow/shared/blob"
	"github.com/symflow/symflow/shared/debugfile"
	"github.com/symflow/symflow/shared/execution"
	"github.com/symflow/symflow/shared/project"
	"github.com/symflow/symflow/shared/task"
)

// Request is one HTTP request as the API sees it.
type Request struct {
	Method string
	// Path is the URL path without the stage prefix, e.g.
	// "/v1/executions/42_ab…".
	Path string
	// Header holds the request headers with lowercase names.
	Header map[string]string
	// Query is the query string. It may carry an upload key: it is never
	// logged.
	Query url.Values
	Body  []byte
	// BaseURL ("https://host") prefixes the status URLs returned.
	BaseURL string
	// RequestID is logged with every line and returned on internal errors.
	RequestID string

	// prechecked says Precheck has passed the request already.
	prechecked bool
}

// Response is what the API answers.
type Response struct {
	Status int
	Header map[string]string
	Body   []byte
}

// Projects reads and writes project configuration (dynamo.Store).
type Projects interface {
	GetProject(ctx context.Context, id string) (project.Project, error)
	PutProject(ctx context.Context, p project.Project) error
	PutInstallation(ctx context.Context, projectID string, inst project.Installation) error
}

// Starter starts one execution per event (execution.Starter).
type Starter interface {
	Start(ctx context.Context, st task.State) (execution.Started, error)
}

// Describer reads an execution (execution.Runner).
type Describer interface {
	Describe(ctx context.Context, name string) (execution.Execution, error)
}

// Results reads stored results (blob.Store).
type Results interface {
	GetJSON(ctx context.Context, ref blob.Ref, v any) error
}

// ResultLinks makes temporary download URLs for results too large to
// return inline (S3ResultLinks).
type ResultLinks interface {
	PresignGet(ctx context.Context, ref blob.Ref, ttl time.Duration) (string, error)
}

// ResultLinkTTL is how long a result link is valid.
const ResultLinkTTL = 15 * time.Minute

// DebugFiles stores debug files (debugfile.Store).
type DebugFiles interface {
	Upload(ctx context.Context, projectID string, data []byte) (debugfile.Identity, []debugfile.Stored, error)
	PresignUploads(ctx context.Context, projectID string, id debugfile.Identity) ([]debugfile.PresignedUpload, error)
}

// Body size limits. API Gateway accepts 10 MB and Lambda 6 MB of request;
// binary bodies arrive base64-encoded, a third larger.
const (
	DefaultMaxPayloadBytes   = 4 << 20   // POST …/symbolicate
	DefaultMaxConfigBytes    = 256 << 10 // PUT config and installations
	DefaultMaxDebugFileBytes = 4 << 20   // POST …/debug-files; larger files use presigned uploads
	// DefaultMaxInlineResultBytes keeps a status answer under Lambda's
	// 6 MB response limit; larger results are linked (ResultLinks).
	DefaultMaxInlineResultBytes = 5 << 20
)

// Server answers API requests. Its fields are set once; it is safe for
// concurrent use.
type Server struct {
	Projects   Projects
	Starter    Starter
	Executions Describer
	Results    Results
	// DebugFiles may be nil: the debug-file routes then answer 501.
	DebugFiles DebugFiles
	// Settings supply the builtin source catalog config validation checks
	// keys against.
	Settings project.Settings
	// ResultLinks may be nil: results too large to answer are then only
	// flagged (result_too_large).
	ResultLinks ResultLinks
	// Limits; the defaults above when zero.
	MaxPayloadBytes, MaxConfigBytes, MaxDebugFileBytes, MaxInlineResultBytes int

	// CrashBucket receives uploaded minidumps under the crash-upload
	// trigger's key (crashupload.Key) and their annotations; empty turns
	// the minidump routes off (501).
	CrashBucket string
	// CrashFiles writes to the crash bucket (blob.Store).
	CrashFiles CrashFiles
	// CrashUploads may be nil: POST …/minidump/uploads then answers 501.
	CrashUploads CrashUploads
	// Minidump limits; the defaults in minidump.go when zero.
	MaxMinidumpRequestBytes, MaxMinidumpBytes int
	MaxPresignedMinidumpBytes                 int64

	// Now and Random default to the clock and crypto/rand; tests set them.
	Now    func() time.Time
	Random io.Reader

	Log *slog.Logger
}

// Error is the body of every error response.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// Error codes.
const (
	CodeMalformedJSON     = "malformed_json"
	CodeInvalidField      = "invalid_field"
	CodeUnknownField      = "unknown_field"
	CodeBodyTooLarge      = "body_too_large"
	CodeNotFound          = "not_found"
	CodeProjectNotFound   = "project_not_found"
	CodeExecutionNotFound = "execution_not_found"
	CodeMethodNotAllowed  = "method_not_allowed"
	CodeNotADebugFile     = "not_a_debug_file"
	CodeNotImplemented    = "not_implemented"
	CodeInternal          = "internal"
	// Minidump uploads.
	CodeMissingUploadKey    = "missing_upload_key"
	CodeInvalidUploadKey    = "invalid_upload_key"
	CodeNotAMinidump        = "not_a_minidump"
	CodeUnsupportedEncoding = "unsupported_content_encoding"
)

// apiError is an error response on its way out.
type apiError struct {
	status int
	body   Error
	allow  string // for 405
	header map[string]string
}

func (e *apiError) Error() string { return e.body.Code + ": " + e.body.Message }

func badField(field, format string, a ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, body: Error{Code: CodeInvalidField, Field: field, Message: field + ": " + fmt.Sprintf(format, a...)}}
}

func notFound(code, format string, a ...any) *apiError {
	return &apiError{status: http.StatusNotFound, body: Error{Code: code, Message: fmt.Sprintf(format, a...)}}
}

// route is one method and path pattern; {name} segments are captured.
type route struct {
	method, pattern string
	handle          func(s *Server, ctx context.Context, r *Request, p params) (int, any, *apiError)
	// precheck, when set, decides what can be decided before the body is
	// looked at (see Precheck).
	precheck func(s *Server, ctx context.Context, r *Request, p params) *apiError
}

type params map[string]string

var routes = []route{
	{http.MethodPost, "/v1/projects/{project_id}/events/{event_id}/symbolicate", (*Server).submit, nil},
	{http.MethodGet, "/v1/executions/{execution_id}", (*Server).getExecution, nil},
	{http.MethodPost, "/v1/executions/{execution_id}/redrive", (*Server).redriveExecution, nil},
	{http.MethodGet, "/v1/projects/{project_id}/config", (*Server).getConfig, nil},
	{http.MethodPut, "/v1/projects/{project_id}/config", (*Server).putConfig, nil},
	{http.MethodPost, "/v1/projects/{project_id}/config/upload-key", (*Server).rotateUploadKey, nil},
	{http.MethodDelete, "/v1/projects/{project_id}/config/upload-key", (*Server).revokeUploadKeys, nil},
	{http.MethodPut, "/v1/projects/{project_id}/installations/{uuid}", (*Server).putInstallation, nil},
	{http.MethodPost, "/v1/projects/{project_id}/debug-files", (*Server).uploadDebugFile, nil},
	{http.MethodPost, "/v1/projects/{project_id}/debug-files/uploads", (*Server).presignDebugFiles, nil},
	{http.MethodPost, "/v1/projects/{project_id}/minidump", (*Server).uploadMinidump, (*Server).precheckMinidump},
	{http.MethodPost, "/api/{project_id}/minidump", (*Server).uploadMinidump, (*Server).precheckMinidump},
	{http.MethodPost, "/v1/projects/{project_id}/minidump/uploads", (*Server).presignMinidump, (*Server).precheckUploadKey},
}

// match reports whether path fits pattern, capturing its parameters.
func match(pattern, path string) (params, bool) {
	ps := strings.Split(strings.Trim(pattern, "/"), "/")
	xs := strings.Split(strings.Trim(path, "/"), "/")
	if len(ps) != len(xs) || strings.HasSuffix(path, "//") {
		return nil, false
	}
	out := params{}
	for i, p := range ps {
		if strings.HasPrefix(p, "{") {
			out[strings.Trim(p, "{}")] = xs[i]
			continue
		}
		if p != xs[i] {
			return nil, false
		}
	}
	return out, true
}

// Handle answers one request. It never panics on bad input: a panic in a
// handler is logged and answered 500.
func (s *Server) Handle(ctx context.Context, r Request) (resp Response) {
	log := s.requestLog(r)
	defer func() {
		if v := recover(); v != nil {
			log.ErrorContext(ctx, "handler panicked", "panic", fmt.Sprint(v))
			resp = s.internal(r)
		}
	}()
	var allowed []string
	for _, rt := range routes {
		p, ok := match(rt.pattern, r.Path)
		if !ok {
			continue
		}
		if rt.method != r.Method {
			allowed = append(allowed, rt.method)
			continue
		}
		if rt.precheck != nil && !r.prechecked {
			if aerr := rt.precheck(s, ctx, &r, p); aerr != nil {
				return s.answer(ctx, log, r, 0, nil, aerr)
			}
		}
		status, body, aerr := rt.handle(s, ctx, &r, p)
		return s.answer(ctx, log, r, status, body, aerr)
	}
	if len(allowed) > 0 {
		return errorResponse(&apiError{
			status: http.StatusMethodNotAllowed,
			body:   Error{Code: CodeMethodNotAllowed, Message: fmt.Sprintf("%s is not allowed on %s; use %s", r.Method, r.Path, strings.Join(allowed, " or "))},
			allow:  strings.Join(allowed, ", "),
		})
	}
	return errorResponse(notFound(CodeNotFound, "no route %s %s", r.Method, r.Path))
}

// Precheck decides what can be decided about r before its body is read:
// for the minidump upload routes, the project id, the upload key, the
// declared length and the content type, so that a request without a valid
// key costs a store lookup and no parsing, and `symflow serve` refuses it
// without reading the body at all. ok is false when r is refused, with the
// answer in resp. r.Body is not looked at; requests of other routes pass.
// Handle runs the same checks unless Precheck has passed r already.
func (s *Server) Precheck(ctx context.Context, r *Request) (resp Response, ok bool) {
	log := s.requestLog(*r)
	defer func() {
		if v := recover(); v != nil {
			log.ErrorContext(ctx, "precheck panicked", "panic", fmt.Sprint(v))
			resp, ok = s.internal(*r), false
		}
	}()
	for _, rt := range routes {
		p, matched := match(rt.pattern, r.Path)
		if !matched || rt.method != r.Method || rt.precheck == nil {
			continue
		}
		if aerr := rt.precheck(s, ctx, r, p); aerr != nil {
			return s.answer(ctx, log, *r, 0, nil, aerr), false
		}
		break
	}
	r.prechecked = true
	return Response{}, true
}

// requestLog is the logger for r's lines. The query string is left out:
// it may hold an upload key.
func (s *Server) requestLog(r Request) *slog.Logger {
	return s.logger().With("request_id", r.RequestID, "method", r.Method, "path", r.Path)
}

// answer turns a handler's result into the response, logging it.
func (s *Server) answer(ctx context.Context, log *slog.Logger, r Request, status int, body any, aerr *apiError) Response {
	if aerr != nil {
		if aerr.status == http.StatusInternalServerError {
			log.ErrorContext(ctx, "request failed", "error", aerr.body.Message)
			return s.internal(r)
		}
		log.InfoContext(ctx, "request rejected", "status", aerr.status, "code", aerr.body.Code, "field", aerr.body.Field)
		return errorResponse(aerr)
	}
	log.InfoContext(ctx, "request served", "status", status)
	if t, ok := body.(textBody); ok {
		return Response{Status: status, Header: map[string]string{"content-type": t.contentType}, Body: t.data}
	}
	return jsonResponse(status, body)
}

// textBody is a handler's answer that is not JSON.
type textBody struct {
	contentType string
	data        []byte
}

// internalErr turns an unexpected failure into a 500 whose message is
// logged but never returned.
func internalErr(op string, err error) *apiError {
	return &apiError{status: http.StatusInternalServerError, body: Error{Code: CodeInternal, Message: op + ": " + err.Error()}}
}

func (s *Server) internal(r Request) Response {
	return errorResponse(&apiError{status: http.StatusInternalServerError, body: Error{
		Code:    CodeInternal,
		Message: "internal error; the request id " + r.RequestID + " finds it in the logs",
	}})
}

func errorResponse(e *apiError) Response {
	resp := jsonResponse(e.status, map[string]Error{"error": e.body})
	if e.allow != "" {
		resp.Header["allow"] = e.allow
	}
	for k, v := range e.header {
		resp.Header[k] = v
	}
	return resp
}

func jsonResponse(status int, body any) Response {
	b, err := json.Marshal(body)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"code":"internal","message":"internal error: response encoding"}}`)
	}
	return Response{Status: status, Header: map[string]string{"content-type": "application/json"}, Body: append(b, '\n')}
}

func (s *Server) logger() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.New(slog.DiscardHandler)
}

func (s *Server) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func limit(v, def int) int {
	if v > 0 {
		return v
	}
	return def
}

func tooLarge(what string, max int, hint string) *apiError {
	msg := fmt.Sprintf("%s is larger than %d bytes", what, max)
	if hint != "" {
		msg += "; " + hint
	}
	return &apiError{status: http.StatusRequestEntityTooLarge, body: Error{Code: CodeBodyTooLarge, Message: msg}}
}
