package api

import (
	"context"
	"errors"
	"net/http"

	"github.com/symflow/symflow/shared/debugfile"
	"github.com/symflow/symflow/shared/dynamo"
)

// DebugFileUploaded answers a debug-file upload.
type DebugFileUploaded struct {
	ProjectID string             `json:"project_id"`
	Identity  debugfile.Identity `json:"identity"`
	Objects   []debugfile.Stored `json:"objects"`
}

func (s *Server) uploadDebugFile(ctx context.Context, r *Request, p params) (int, any, *apiError) {
	id := p["project_id"]
	if e := checkProjectID(id); e != nil {
		return 0, nil, e
	}
	if s.DebugFiles == nil {
		return 0, nil, notImplemented()
	}
	if max := limit(s.MaxDebugFileBytes, DefaultMaxDebugFileBytes); len(r.Body) > max {
		return 0, nil, tooLarge("the debug file", max, "POST /v1/projects/"+id+"/debug-files/uploads for a presigned upload URL")
	}
	if len(r.Body) == 0 {
		return 0, nil, badField("body", "is empty; send the debug file's bytes")
	}
	if _, found, e := s.loadProject(ctx, id); e != nil {
		return 0, nil, e
	} else if !found {
		return 0, nil, projectNotFound(id)
	}
	ident, stored, err := s.DebugFiles.Upload(ctx, id, r.Body)
	if e := debugFileError(id, err); e != nil {
		return 0, nil, e
	}
	return http.StatusCreated, DebugFileUploaded{ProjectID: id, Identity: ident, Objects: stored}, nil
}

// presignBody names a large debug file by the identity the client
// computed.
type presignBody struct {
	debugfile.Identity
}

// PresignedUploads answers a request for presigned upload URLs.
type PresignedUploads struct {
	ProjectID string                      `json:"project_id"`
	Uploads   []debugfile.PresignedUpload `json:"uploads"`
}

func (s *Server) presignDebugFiles(ctx context.Context, r *Request, p params) (int, any, *apiError) {
	id := p["project_id"]
	if e := checkProjectID(id); e != nil {
		return 0, nil, e
	}
	if s.DebugFiles == nil {
		return 0, nil, notImplemented()
	}
	if max := limit(s.MaxConfigBytes, DefaultMaxConfigBytes); len(r.Body) > max {
		return 0, nil, tooLarge("the request", max, "")
	}
	var body presignBody
	if e := decodeStrict(r.Body, &body); e != nil {
		return 0, nil, e
	}
	if f, msg, ok := debugfile.CheckIdentity(body.Identity); !ok {
		return 0, nil, badField(f, "%s", msg)
	}
	if _, found, e := s.loadProject(ctx, id); e != nil {
		return 0, nil, e
	} else if !found {
		return 0, nil, projectNotFound(id)
	}
	ups, err := s.DebugFiles.PresignUploads(ctx, id, body.Identity)
	if errors.Is(err, debugfile.ErrNoPresigner) {
		return 0, nil, notImplemented()
	}
	if e := debugFileError(id, err); e != nil {
		return 0, nil, e
	}
	return http.StatusOK, PresignedUploads{ProjectID: id, Uploads: ups}, nil
}

// CodeDecompressionBound answers a debug file whose compressed sections
// claim or inflate to more than the decompression bound allows, or
// disagree with the sizes their headers claim: the embedded Symbolicator
// would refuse it as malformed, so it is refused at upload (422) with the
// section named.
const CodeDecompressionBound = "decompression_bound"

func debugFileError(projectID string, err error) *apiError {
	var rej *debugfile.RejectedError
	var inf *debugfile.InflateError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &rej):
		return &apiError{status: http.StatusUnprocessableEntity, body: Error{Code: CodeNotADebugFile, Message: rej.Error()}}
	case errors.As(err, &inf):
		return &apiError{status: http.StatusUnprocessableEntity, body: Error{Code: CodeDecompressionBound, Message: "debug file: " + inf.Error()}}
	case errors.Is(err, dynamo.ErrNotFound):
		return projectNotFound(projectID)
	}
	return internalErr("store debug file", err)
}

func notImplemented() *apiError {
	return &apiError{status: http.StatusNotImplemented, body: Error{Code: CodeNotImplemented, Message: "debug-file uploads are not configured on this deployment"}}
}
