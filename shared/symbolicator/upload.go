package symbolicator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/textproto"
	"sync"
)

// Multipart field names of the upload endpoints (SEMANTICS §3).
const (
	FieldMinidump         = "upload_file_minidump"
	FieldAppleCrashReport = "apple_crash_report"
)

// FileOpener opens the crash file for one attempt of an upload. The body is
// streamed, never held in memory, so it cannot be replayed: a retry after a
// network error calls the opener again (for a file in S3, a new GetObject).
// The session closes what it returns.
type FileOpener func(ctx context.Context) (io.ReadCloser, error)

// OpenOnce adapts a reader that can be read only once. A retry then fails
// with ErrNotReplayable instead of sending a truncated file; callers that can
// reopen their source should pass a real FileOpener.
func OpenOnce(r io.Reader) FileOpener {
	var mu sync.Mutex
	used := false
	return func(context.Context) (io.ReadCloser, error) {
		mu.Lock()
		defer mu.Unlock()
		if used {
			return nil, ErrNotReplayable
		}
		used = true
		if rc, ok := r.(io.ReadCloser); ok {
			return rc, nil
		}
		return io.NopCloser(r), nil
	}
}

// Minidump submits a minidump task: POST minidump as multipart/form-data
// with the JSON-string fields platform, sources, scraping and options
// ({"dif_candidates": true}), then the file as upload_file_minidump. The
// file is streamed through the request as it is read.
func (s *Session) Minidump(ctx context.Context, file FileOpener, platform string, sources, scraping json.RawMessage) (Response, error) {
	return s.upload(ctx, TaskMinidump, FieldMinidump, file, platform, sources, scraping)
}

// AppleCrashReport submits an Apple crash report task like Minidump, with
// the file field apple_crash_report.
func (s *Session) AppleCrashReport(ctx context.Context, file FileOpener, platform string, sources, scraping json.RawMessage) (Response, error) {
	return s.upload(ctx, TaskAppleCrashReport, FieldAppleCrashReport, file, platform, sources, scraping)
}

func (s *Session) upload(ctx context.Context, task, fileField string, file FileOpener, platform string, sources, scraping json.RawMessage) (Response, error) {
	if file == nil {
		return Response{}, &RequestError{Task: task, Field: fileField, Reason: "no file"}
	}
	if sources == nil {
		sources = json.RawMessage("[]")
	}
	if !json.Valid(sources) {
		return Response{}, &RequestError{Task: task, Field: "sources", Reason: "not valid JSON"}
	}
	if scraping != nil && !json.Valid(scraping) {
		return Response{}, &RequestError{Task: task, Field: "scraping", Reason: "not valid JSON"}
	}
	// The form fields come before the file, as the reference's encoder puts
	// them, so the service knows the sources before the large part arrives.
	// Every field is JSON text, as Sentry encodes it: the platform goes
	// as "native", quoted.
	plat, err := json.Marshal(platform)
	if err != nil {
		return Response{}, &RequestError{Task: task, Field: "platform", Reason: err.Error()}
	}
	fields := [][2]string{{"platform", string(plat)}, {"sources", string(sources)}}
	if scraping != nil {
		fields = append(fields, [2]string{"scraping", string(scraping)})
	}
	fields = append(fields, [2]string{"options", `{"dif_candidates":true}`})

	attempts := 0
	open := func(ctx context.Context, touch func()) (*requestBody, error) {
		attempts++
		f, err := file(ctx)
		if err != nil {
			if errors.Is(err, ErrNotReplayable) {
				return nil, fmt.Errorf("symbolicator %s: retry %d of %s: %w", task, attempts-1, fileField, err)
			}
			return nil, fmt.Errorf("symbolicator %s: open %s: %w", task, fileField, err)
		}
		if f == nil {
			return nil, &RequestError{Task: task, Field: fileField, Reason: "opener returned no file"}
		}
		pr, pw := io.Pipe()
		mw := multipart.NewWriter(pw)
		done := make(chan error, 1)
		go func() {
			fileErr, err := writeForm(mw, fields, fileField, touchReader{f, touch})
			pw.CloseWithError(err) // nil closes with EOF
			f.Close()              // before reporting, so the file is closed when the call returns
			if fileErr != nil {
				done <- fmt.Errorf("symbolicator %s: read %s: %w", task, fileField, fileErr)
				return
			}
			done <- nil
		}()
		return &requestBody{
			r:           pr,
			contentType: mw.FormDataContentType(),
			length:      -1,
			done:        done,
		}, nil
	}
	return s.create(ctx, task, open)
}

// writeForm writes the multipart body. It returns the error reading the
// file separately from the error writing to the pipe: the first is the
// caller's problem to report, the second only means the request ended.
func writeForm(mw *multipart.Writer, fields [][2]string, fileField string, file io.Reader) (fileErr, err error) {
	for _, f := range fields {
		if err := mw.WriteField(f[0], f[1]); err != nil {
			return nil, err
		}
	}
	h := make(textproto.MIMEHeader)
	h.Set("Content-Disposition", multipart.FileContentDisposition(fileField, fileField))
	h.Set("Content-Type", "application/octet-stream")
	part, err := mw.CreatePart(h)
	if err != nil {
		return nil, err
	}
	buf := make([]byte, 32<<10)
	for {
		n, rerr := file.Read(buf)
		if n > 0 {
			if _, werr := part.Write(buf[:n]); werr != nil {
				return nil, werr
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return rerr, rerr
		}
	}
	return nil, mw.Close()
}
