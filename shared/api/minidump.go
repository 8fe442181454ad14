package api

import (
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/symflow/symflow/shared/blob"
	"github.com/symflow/symflow/shared/crashupload"
	"github.com/symflow/symflow/shared/execution"
	"github.com/symflow/symflow/shared/task"
)

// Minidump uploads: the route native crash reporters post to.
//
// Crashpad's handler, Breakpad's uploaders and sentry-native (whose
// Crashpad backend builds the URL /api/<project>/minidump/ from a DSN)
// POST a multipart/form-data body: the dump as the file field
// upload_file_minidump and the crash's annotations as text fields
// (Crashpad: every simple annotation of the process and its modules, e.g.
// prod, ver, plat, ptype, guid, list_annotations; sorted by name, then the
// file attachments sorted by name, the dump among them; the body gzipped
// with Content-Encoding: gzip unless --no-upload-gzip). sentry-native adds
// the crash's event as the attachment __sentry-event (MessagePack) and two
// breadcrumb files; other Sentry clients send the event as the JSON field
// sentry or the field sentry[event_id].
//
// The dump is stored in the crash bucket under the crash-upload trigger's
// key, crashes/<project_id>/<event_id>.dmp, and the execution is started
// here, with the input the trigger would give it: the trigger's own
// delivery of the object then finds the event's execution, so one
// execution per project and event holds whichever path a crash takes. The
// other fields are kept as annotations beside it
// (crashupload.AnnotationsKey); other attachments are counted and dropped.
//
// The event id is the client's when it sends one (the Sentry event's
// event_id, as Sentry reads it), else Crashpad's report id (the dump's
// file name, <uuid>.dmp), else derived from the dump's bytes: a client
// that retries an upload whose answer it lost sends the same dump again
// and finds the same event, where a random id would make a second
// execution.
//
// The answer is what Crashpad records as the report's server-side id: the
// event id as plain text, 200. A client that asks for JSON (Accept:
// application/json) gets MinidumpUploaded.

// Size limits. Lambda takes a synchronous invocation of at most 6 MB
// (6,291,456 bytes), and API Gateway's HTTP API puts a multipart body into
// the event base64-encoded (4 bytes for 3), beside the headers and request
// context (a few KiB): (6,291,456 − 16 KiB) × 3/4 ≈ 4.49 MiB is the largest
// body that can reach the function, though API Gateway itself accepts 10 MB.
// Bodies between that and 10 MB are refused by Lambda before the function
// runs, and over 10 MB by API Gateway, each with its own short error and
// not symflow's; bodies that do reach the function are taken up to
// DefaultMaxMinidumpRequestBytes, leaving room for large headers, and
// answered 413 naming the presigned route above that. Crashpad gzips its
// body, so dumps of several times the limit fit.
const (
	// DefaultMaxMinidumpRequestBytes is the largest body taken, as sent
	// (compressed when Content-Encoding says so).
	DefaultMaxMinidumpRequestBytes = 4 << 20
	// DefaultMaxMinidumpBytes bounds the body once decompressed, and so
	// the dump: the function holds it in memory.
	DefaultMaxMinidumpBytes = 64 << 20
	// DefaultMaxPresignedMinidumpBytes bounds a dump uploaded through a
	// presigned URL: SubmitTask streams it to Symbolicator, which must
	// still hold it (Sentry takes minidumps up to 100 MB).
	DefaultMaxPresignedMinidumpBytes = 512 << 20
	// MinidumpUploadTTL is how long a presigned minidump upload URL works.
	MinidumpUploadTTL = 15 * time.Minute
)

// Form field names with a meaning of their own.
const (
	MinidumpField      = "upload_file_minidump"
	sentryEventField   = "__sentry-event"
	sentryField        = "sentry"
	sentryEventIDField = "sentry[event_id]"
)

// Bounds on what is kept besides the dump: Crashpad annotation values are
// at most 20 KiB (Chromium's crash keys less), so these only stop abuse.
const (
	maxFormParts       = 1024
	maxFieldBytes      = 64 << 10
	maxAnnotationBytes = 1 << 20
	maxSentryBytes     = 1 << 20
)

// CrashFiles writes objects to the crash bucket (blob.Store).
type CrashFiles interface {
	Put(ctx context.Context, ref blob.Ref, data []byte, contentType string) error
}

// CrashUploads presigns uploads into the crash bucket (S3CrashUploads).
type CrashUploads interface {
	PresignPut(ctx context.Context, ref blob.Ref, size int64, ttl time.Duration) (string, error)
}

// MinidumpUploaded is the JSON answer to a minidump upload.
type MinidumpUploaded struct {
	ProjectID   string `json:"project_id"`
	EventID     string `json:"event_id"`
	ExecutionID string `json:"execution_id"`
	Status      string `json:"status"`
	StatusURL   string `json:"status_url"`
	// Created is false when the event already had an execution: nothing
	// was stored, the existing execution is returned.
	Created bool `json:"created"`
	// EventIDFrom says where the event id came from: __sentry-event,
	// sentry, sentry[event_id], filename (Crashpad's report id) or content.
	EventIDFrom string `json:"event_id_from"`
	// CrashFile is the dump's key in the crash bucket, when it was stored.
	CrashFile string `json:"crash_file,omitempty"`
	// Annotations counts the fields kept; AttachmentsIgnored the files
	// other than the dump and the Sentry event that were dropped.
	Annotations        int `json:"annotations"`
	AttachmentsIgnored int `json:"attachments_ignored"`
}

// MinidumpAnnotations is what is kept beside an uploaded dump
// (crashupload.AnnotationsKey): everything the client sent but the dump.
type MinidumpAnnotations struct {
	ProjectID   string    `json:"project_id"`
	EventID     string    `json:"event_id"`
	EventIDFrom string    `json:"event_id_from"`
	ReceivedAt  time.Time `json:"received_at"`
	UserAgent   string    `json:"user_agent,omitempty"`
	// Minidump describes the stored dump; absent for presigned uploads,
	// whose file symflow has not seen.
	Minidump *MinidumpFile `json:"minidump,omitempty"`
	// Fields are the form's text fields (Crashpad's annotations).
	Fields map[string]string `json:"fields,omitempty"`
	// Sentry is the sentry form field, SentryEvent the __sentry-event
	// attachment decoded from MessagePack.
	Sentry             map[string]any      `json:"sentry,omitempty"`
	SentryEvent        map[string]any      `json:"sentry_event,omitempty"`
	IgnoredAttachments []IgnoredAttachment `json:"ignored_attachments,omitempty"`
}

// MinidumpFile describes an uploaded dump.
type MinidumpFile struct {
	Filename string `json:"filename,omitempty"`
	Size     int    `json:"size"`
	SHA256   string `json:"sha256"`
	// Compression is the container the dump came in (gzip, bzip2), if any.
	Compression string `json:"compression,omitempty"`
}

// IgnoredAttachment is a file of the form that was not kept.
type IgnoredAttachment struct {
	Field    string `json:"field"`
	Filename string `json:"filename,omitempty"`
	Size     int64  `json:"size"`
}

// minidumpForm is an upload's form, read.
type minidumpForm struct {
	dump          []byte
	filename      string
	compression   string
	fields        map[string]string
	sentry        map[string]any
	sentryEvent   map[string]any
	sentryEventID string
	ignored       []IgnoredAttachment
}

// precheckMinidump refuses, before the body is read, what the headers
// already show: no valid upload key, a declared length over the limit, a
// body that is not a multipart form.
func (s *Server) precheckMinidump(ctx context.Context, r *Request, p params) *apiError {
	if e := s.precheckUploadKey(ctx, r, p); e != nil {
		return e
	}
	if s.CrashBucket == "" || s.CrashFiles == nil {
		return uploadsNotConfigured()
	}
	max := limit(s.MaxMinidumpRequestBytes, DefaultMaxMinidumpRequestBytes)
	if n, err := strconv.ParseInt(strings.TrimSpace(r.Header["content-length"]), 10, 64); err == nil && n > int64(max) {
		return s.minidumpTooLarge(p["project_id"], max)
	}
	_, e := multipartBoundary(r.Header["content-type"])
	return e
}

func uploadsNotConfigured() *apiError {
	return &apiError{status: http.StatusNotImplemented, body: Error{Code: CodeNotImplemented, Message: "minidump uploads are not configured on this deployment (no crash bucket)"}}
}

func (s *Server) minidumpTooLarge(projectID string, max int) *apiError {
	return tooLarge("the upload", max, fmt.Sprintf(
		"POST /v1/projects/%s/minidump/uploads with {\"size\": BYTES} for a presigned URL to PUT the dump to instead", projectID))
}

// multipartBoundary checks that contentType is multipart/form-data and
// returns its boundary.
func multipartBoundary(contentType string) (string, *apiError) {
	const want = "send the dump as the file field " + MinidumpField + " of a multipart/form-data body (curl -F " + MinidumpField + "=@FILE)"
	if strings.TrimSpace(contentType) == "" {
		return "", badField("content-type", "is missing; %s", want)
	}
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil || mt != "multipart/form-data" {
		return "", badField("content-type", "%q is not multipart/form-data; %s", truncate(contentType), want)
	}
	if params["boundary"] == "" {
		return "", badField("content-type", "multipart/form-data without a boundary parameter")
	}
	return params["boundary"], nil
}

func (s *Server) uploadMinidump(ctx context.Context, r *Request, p params) (int, any, *apiError) {
	id := p["project_id"]
	max := limit(s.MaxMinidumpRequestBytes, DefaultMaxMinidumpRequestBytes)
	if len(r.Body) > max {
		return 0, nil, s.minidumpTooLarge(id, max)
	}
	boundary, e := multipartBoundary(r.Header["content-type"])
	if e != nil {
		return 0, nil, e
	}
	form, e := readMinidumpForm(r.Body, boundary, r.Header["content-encoding"], limit(s.MaxMinidumpBytes, DefaultMaxMinidumpBytes), id)
	if e != nil {
		return 0, nil, e
	}
	eventID, from, e := form.eventID()
	if e != nil {
		return 0, nil, e
	}
	out := MinidumpUploaded{
		ProjectID:          id,
		EventID:            eventID,
		EventIDFrom:        from,
		Annotations:        len(form.fields),
		AttachmentsIgnored: len(form.ignored),
	}
	// An event that has its execution keeps it, and its file: a retried
	// upload writes nothing.
	name := execution.Name(id, eventID)
	ex, err := s.Executions.Describe(ctx, name)
	switch {
	case err == nil:
		out.ExecutionID, out.Status, out.StatusURL = name, ex.Status, r.BaseURL+"/v1/executions/"+name
		return s.minidumpAnswer(r, out)
	case !errors.Is(err, execution.ErrNotFound):
		return 0, nil, internalErr("describe execution", err)
	}

	sum := sha256.Sum256(form.dump)
	notes := MinidumpAnnotations{
		ProjectID:   id,
		EventID:     eventID,
		EventIDFrom: from,
		ReceivedAt:  s.now().UTC(),
		UserAgent:   r.Header["user-agent"],
		Minidump: &MinidumpFile{
			Filename: form.filename, Size: len(form.dump), SHA256: hex.EncodeToString(sum[:]), Compression: form.compression,
		},
		Fields:             form.fields,
		Sentry:             form.sentry,
		SentryEvent:        form.sentryEvent,
		IgnoredAttachments: form.ignored,
	}
	// Annotations first: when the dump's own notification reaches the
	// trigger, what came with it is already there.
	if e := s.putAnnotations(ctx, notes); e != nil {
		return 0, nil, e
	}
	ref := blob.Ref{Bucket: s.CrashBucket, Key: crashupload.Key(id, eventID, task.KindMinidump)}
	if err := s.CrashFiles.Put(ctx, ref, form.dump, "application/octet-stream"); err != nil {
		return 0, nil, internalErr("store minidump", err)
	}
	// The input the crash-upload trigger gives the same object: whichever
	// of the two starts the execution, the other finds it.
	started, err := s.Starter.Start(ctx, task.State{
		ProjectID: id,
		EventID:   eventID,
		Kind:      task.KindMinidump,
		Platform:  "native",
		CrashFile: &ref,
	})
	if err != nil {
		return 0, nil, internalErr("start execution", err)
	}
	out.ExecutionID, out.Status, out.Created = started.Name, started.Status, started.Created
	out.StatusURL = r.BaseURL + "/v1/executions/" + started.Name
	out.CrashFile = ref.Key
	return s.minidumpAnswer(r, out)
}

// minidumpAnswer answers 200 either way: Crashpad and Breakpad count
// anything else as a failed upload. The text answer is the event id alone,
// which Crashpad records as the report's id on the server, as Sentry
// answers.
func (s *Server) minidumpAnswer(r *Request, out MinidumpUploaded) (int, any, *apiError) {
	if wantsJSON(r.Header["accept"]) {
		return http.StatusOK, out, nil
	}
	return http.StatusOK, textBody{contentType: "text/plain; charset=utf-8", data: []byte(out.EventID)}, nil
}

func (s *Server) putAnnotations(ctx context.Context, notes MinidumpAnnotations) *apiError {
	doc, err := json.Marshal(notes)
	if err != nil {
		return internalErr("encode annotations", err)
	}
	ref := blob.Ref{Bucket: s.CrashBucket, Key: crashupload.AnnotationsKey(notes.ProjectID, notes.EventID)}
	if err := s.CrashFiles.Put(ctx, ref, doc, "application/json"); err != nil {
		return internalErr("store annotations", err)
	}
	return nil
}

// wantsJSON reports whether an Accept header prefers application/json to
// plain text. Crash reporters send no Accept header or */*, and get text.
func wantsJSON(accept string) bool {
	jsonQ, textQ := -1.0, -1.0
	for _, part := range strings.Split(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		q := 1.0
		if v, ok := params["q"]; ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				q = f
			}
		}
		switch mt {
		case "application/json":
			jsonQ = max(jsonQ, q)
		case "text/plain":
			textQ = max(textQ, q)
		}
	}
	return jsonQ > 0 && jsonQ >= textQ
}

// readMinidumpForm reads an upload's multipart body (gunzipped first when
// Content-Encoding says gzip), holding at most maxBytes of it decoded.
func readMinidumpForm(body []byte, boundary, contentEncoding string, maxBytes int, projectID string) (*minidumpForm, *apiError) {
	var in io.Reader = bytes.NewReader(body)
	switch enc := strings.ToLower(strings.TrimSpace(contentEncoding)); enc {
	case "", "identity":
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(in)
		if err != nil {
			return nil, badField("content-encoding", "says gzip, but the body is not gzip data: %v", err)
		}
		in = zr
	default:
		return nil, &apiError{status: http.StatusUnsupportedMediaType, body: Error{Code: CodeUnsupportedEncoding, Field: "content-encoding",
			Message: fmt.Sprintf("content-encoding: %q is not supported; send the body as is or gzip it", truncate(enc))}}
	}
	lr := &cappedReader{r: in, left: int64(maxBytes)}
	overLimit := func() *apiError {
		return tooLarge("the upload, decompressed,", maxBytes, fmt.Sprintf(
			"POST /v1/projects/%s/minidump/uploads with {\"size\": BYTES} for a presigned URL to PUT the dump to instead", projectID))
	}
	mr := multipart.NewReader(lr, boundary)
	f := &minidumpForm{fields: map[string]string{}}
	annotationBytes := 0
	for n := 0; ; n++ {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			if n == 0 {
				return nil, badField("body", "holds no part delimited by the boundary its content-type names")
			}
			break
		}
		if err != nil {
			if lr.exceeded {
				return nil, overLimit()
			}
			return nil, badField("body", "is not a valid multipart/form-data body: %v", err)
		}
		if n == maxFormParts {
			return nil, badField("body", "has more than %d parts", maxFormParts)
		}
		name, filename := part.FormName(), part.FileName()
		read := func(max int) ([]byte, *apiError) {
			data, err := io.ReadAll(io.LimitReader(part, int64(max)+1))
			switch {
			case lr.exceeded:
				return nil, overLimit()
			case err != nil:
				return nil, badField(fieldName(name), "cannot be read: %v", err)
			case len(data) > max:
				return nil, badField(fieldName(name), "is larger than %d bytes", max)
			}
			return data, nil
		}
		switch {
		case name == MinidumpField:
			if f.dump != nil {
				return nil, badField(MinidumpField, "appears twice; send one minidump per request")
			}
			data, e := read(maxBytes)
			if e != nil {
				return nil, e
			}
			dump, compression, e := decompressDump(data, maxBytes, overLimit)
			if e != nil {
				return nil, e
			}
			f.dump, f.filename, f.compression = dump, filename, compression
		case name == sentryEventField:
			data, e := read(maxSentryBytes)
			if e != nil {
				return nil, e
			}
			v, err := decodeMsgpack(data)
			if err != nil {
				return nil, badField(sentryEventField, "is not a MessagePack event: %v", err)
			}
			obj, ok := v.(map[string]any)
			if !ok {
				return nil, badField(sentryEventField, "is not a MessagePack map (an event object)")
			}
			f.sentryEvent = obj
		case name == sentryField:
			data, e := read(maxSentryBytes)
			if e != nil {
				return nil, e
			}
			var obj map[string]any
			if err := json.Unmarshal(data, &obj); err != nil || obj == nil {
				return nil, badField(sentryField, "must be a JSON object (the Sentry event), got %s", kindOf(data))
			}
			f.sentry = obj
		case filename != "" || name == "":
			size, err := io.Copy(io.Discard, part)
			if lr.exceeded {
				return nil, overLimit()
			}
			if err != nil {
				return nil, badField(fieldName(name), "cannot be read: %v", err)
			}
			f.ignored = append(f.ignored, IgnoredAttachment{Field: name, Filename: filename, Size: size})
		default:
			data, e := read(maxFieldBytes)
			if e != nil {
				return nil, e
			}
			if name == sentryEventIDField {
				f.sentryEventID = strings.TrimSpace(string(data))
			}
			// A key sent in the form is never kept.
			if name == "key" || name == "sentry_key" {
				continue
			}
			if _, dup := f.fields[name]; dup {
				continue // the first value wins, as in Crashpad's own merge
			}
			annotationBytes += len(name) + len(data)
			if annotationBytes > maxAnnotationBytes {
				return nil, badField(name, "the form's fields exceed %d bytes in total", maxAnnotationBytes)
			}
			f.fields[name] = string(data)
		}
	}
	if f.dump == nil {
		return nil, badField(MinidumpField, "is required: the minidump as a file field of the form (curl -F %s=@FILE)", MinidumpField)
	}
	if len(f.dump) == 0 {
		return nil, badField(MinidumpField, "is empty")
	}
	if !isMinidump(f.dump) {
		return nil, &apiError{status: http.StatusBadRequest, body: Error{Code: CodeNotAMinidump, Field: MinidumpField, Message: fmt.Sprintf(
			"%s: not a minidump: the file starts with %s, a minidump with MDMP", MinidumpField, describeMagic(f.dump))}}
	}
	return f, nil
}

func fieldName(name string) string {
	if name == "" {
		return "body"
	}
	return name
}

// isMinidump checks the signature: MDMP, or PMDM as a big-endian writer
// would put it (Sentry accepts both).
func isMinidump(b []byte) bool {
	return bytes.HasPrefix(b, []byte("MDMP")) || bytes.HasPrefix(b, []byte("PMDM"))
}

// describeMagic shows a file's first bytes for a message.
func describeMagic(b []byte) string {
	n := min(len(b), 4)
	printable := true
	for _, c := range b[:n] {
		printable = printable && c >= 0x20 && c < 0x7f
	}
	if printable {
		return strconv.Quote(string(b[:n]))
	}
	return "0x" + hex.EncodeToString(b[:n])
}

// decompressDump unwraps a dump sent compressed in the file field (gzip or
// bzip2, by their signatures, as Sentry does), bounded by max.
func decompressDump(data []byte, max int, overLimit func() *apiError) ([]byte, string, *apiError) {
	var zr io.Reader
	var kind string
	switch {
	case bytes.HasPrefix(data, []byte{0x1f, 0x8b}):
		r, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, "", badField(MinidumpField, "looks gzip-compressed but is not: %v", err)
		}
		zr, kind = r, "gzip"
	case bytes.HasPrefix(data, []byte("BZh")):
		zr, kind = bzip2.NewReader(bytes.NewReader(data)), "bzip2"
	default:
		return data, "", nil
	}
	out, err := io.ReadAll(io.LimitReader(zr, int64(max)+1))
	if err != nil {
		return nil, "", badField(MinidumpField, "is %s-compressed but does not decompress: %v", kind, err)
	}
	if len(out) > max {
		return nil, "", overLimit()
	}
	return out, kind, nil
}

// cappedReader reads at most left bytes and then fails, remembering that
// the limit, not the data, ended the read.
type cappedReader struct {
	r        io.Reader
	left     int64
	exceeded bool
}

var errCapped = errors.New("the body is larger than the limit")

func (c *cappedReader) Read(p []byte) (int, error) {
	if c.left <= 0 {
		// One byte more tells a body that ends exactly at the limit from
		// one that goes on.
		var one [1]byte
		for range 8 {
			n, err := c.r.Read(one[:])
			if n > 0 {
				c.exceeded = true
				return 0, errCapped
			}
			if err != nil {
				return 0, err
			}
		}
		return 0, io.ErrNoProgress
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	return n, err
}

var (
	uuidOrHex = regexp.MustCompile(`^(?i:[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12})$`)
	zeroID    = strings.Repeat("0", 32)
)

// normalizeEventID turns a UUID (with or without dashes, any case) into
// an event id, 32 lowercase hex digits. The nil UUID is no event id.
func normalizeEventID(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if !uuidOrHex.MatchString(s) {
		return "", false
	}
	id := strings.ToLower(strings.ReplaceAll(s, "-", ""))
	if len(id) != 32 || id == zeroID {
		return "", false
	}
	return id, true
}

// eventID picks the event id, in Sentry's order: the __sentry-event
// attachment, the sentry JSON field, the sentry[event_id] field; then
// Crashpad's report id in the file name; then the dump's content.
func (f *minidumpForm) eventID() (id, from string, e *apiError) {
	for _, src := range []struct {
		field string
		event map[string]any
	}{{sentryEventField, f.sentryEvent}, {sentryField, f.sentry}} {
		v, ok := src.event["event_id"]
		if !ok || v == nil {
			continue
		}
		s, isString := v.(string)
		if !isString {
			return "", "", badField(src.field+".event_id", "must be a UUID string")
		}
		if id, ok := normalizeEventID(s); ok {
			return id, src.field, nil
		}
		if strings.Trim(strings.ReplaceAll(s, "-", ""), "0") != "" {
			return "", "", badField(src.field+".event_id", "%q is not a UUID", truncate(s))
		}
	}
	if f.sentryEventID != "" {
		id, ok := normalizeEventID(f.sentryEventID)
		if !ok {
			return "", "", badField(sentryEventIDField, "%q is not a UUID", truncate(f.sentryEventID))
		}
		return id, sentryEventIDField, nil
	}
	stem, _, _ := strings.Cut(f.filename, ".")
	if id, ok := normalizeEventID(stem); ok {
		return id, "filename", nil
	}
	sum := sha256.Sum256(f.dump)
	return hex.EncodeToString(sum[:16]), "content", nil
}

// minidumpUploadBody asks for a presigned upload.
type minidumpUploadBody struct {
	// Size is the dump's length in bytes: the URL takes exactly that.
	Size *int64 `json:"size"`
	// EventID, a UUID, makes a retried request name the same event;
	// without it each request draws a new one.
	EventID string `json:"event_id"`
	// Annotations are kept as the form fields of a direct upload are.
	Annotations map[string]string `json:"annotations"`
}

// MinidumpUploadURL answers a request for a presigned minidump upload.
type MinidumpUploadURL struct {
	ProjectID string `json:"project_id"`
	EventID   string `json:"event_id"`
	// ExecutionID and StatusURL name the execution the upload will start
	// (the crash-upload trigger starts it when the object lands).
	ExecutionID string `json:"execution_id"`
	StatusURL   string `json:"status_url"`
	// Created is false when the event already has an execution: there is
	// nothing to upload, and Upload is absent.
	Created   bool          `json:"created"`
	Status    string        `json:"status,omitempty"`
	CrashFile string        `json:"crash_file,omitempty"`
	Upload    *PresignedPut `json:"upload,omitempty"`
}

// PresignedPut is one presigned upload: PUT the file's bytes to URL with
// Headers before ExpiresAt.
type PresignedPut struct {
	Method    string            `json:"method"`
	URL       string            `json:"url"`
	Headers   map[string]string `json:"headers"`
	ExpiresAt time.Time         `json:"expires_at"`
}

func (s *Server) presignMinidump(ctx context.Context, r *Request, p params) (int, any, *apiError) {
	id := p["project_id"]
	if s.CrashBucket == "" || s.CrashFiles == nil || s.CrashUploads == nil {
		return 0, nil, uploadsNotConfigured()
	}
	if max := limit(s.MaxConfigBytes, DefaultMaxConfigBytes); len(r.Body) > max {
		return 0, nil, tooLarge("the request", max, "")
	}
	var body minidumpUploadBody
	if e := decodeStrict(r.Body, &body); e != nil {
		return 0, nil, e
	}
	maxSize := s.MaxPresignedMinidumpBytes
	if maxSize <= 0 {
		maxSize = DefaultMaxPresignedMinidumpBytes
	}
	switch {
	case body.Size == nil:
		return 0, nil, badField("size", "is required: the dump's length in bytes (the URL takes exactly that many)")
	case *body.Size <= 0 || *body.Size > maxSize:
		return 0, nil, badField("size", "%d is not between 1 and %d bytes", *body.Size, maxSize)
	}
	fields := map[string]string{}
	total := 0
	names := make([]string, 0, len(body.Annotations))
	for k := range body.Annotations {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		v := body.Annotations[k]
		if len(v) > maxFieldBytes {
			return 0, nil, badField("annotations."+k, "is larger than %d bytes", maxFieldBytes)
		}
		if total += len(k) + len(v); total > maxAnnotationBytes {
			return 0, nil, badField("annotations", "exceed %d bytes in total", maxAnnotationBytes)
		}
		if k != "key" && k != "sentry_key" {
			fields[k] = v
		}
	}
	eventID, from := "", "request"
	if body.EventID != "" {
		var ok bool
		if eventID, ok = normalizeEventID(body.EventID); !ok {
			return 0, nil, badField("event_id", "%q is not a UUID (32 hex digits, dashes allowed)", truncate(body.EventID))
		}
	} else {
		var b [16]byte
		if _, err := io.ReadFull(s.random(), b[:]); err != nil {
			return 0, nil, internalErr("event id", err)
		}
		eventID, from = hex.EncodeToString(b[:]), "random"
	}
	name := execution.Name(id, eventID)
	out := MinidumpUploadURL{ProjectID: id, EventID: eventID, ExecutionID: name, StatusURL: r.BaseURL + "/v1/executions/" + name}
	ex, err := s.Executions.Describe(ctx, name)
	switch {
	case err == nil:
		out.Status = ex.Status
		return http.StatusOK, out, nil
	case !errors.Is(err, execution.ErrNotFound):
		return 0, nil, internalErr("describe execution", err)
	}
	if len(fields) == 0 {
		fields = nil
	}
	if e := s.putAnnotations(ctx, MinidumpAnnotations{
		ProjectID: id, EventID: eventID, EventIDFrom: from, ReceivedAt: s.now().UTC(),
		UserAgent: r.Header["user-agent"], Fields: fields,
	}); e != nil {
		return 0, nil, e
	}
	ref := blob.Ref{Bucket: s.CrashBucket, Key: crashupload.Key(id, eventID, task.KindMinidump)}
	url, err := s.CrashUploads.PresignPut(ctx, ref, *body.Size, MinidumpUploadTTL)
	if err != nil {
		return 0, nil, internalErr("presign minidump upload", err)
	}
	out.Created, out.CrashFile = true, ref.Key
	out.Upload = &PresignedPut{
		Method:    http.MethodPut,
		URL:       url,
		Headers:   map[string]string{"content-length": strconv.FormatInt(*body.Size, 10)},
		ExpiresAt: s.now().Add(MinidumpUploadTTL).UTC(),
	}
	return http.StatusOK, out, nil
}
