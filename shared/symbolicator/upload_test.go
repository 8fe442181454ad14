package symbolicator

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestUploadMultipartStreamed(t *testing.T) {
	// 16 MiB produced lazily: the session must stream it, never hold it.
	const size = 16 << 20
	wantSum := lazySHA256(size)
	sources := json.RawMessage(`[{"id":"http-1","type":"http","url":"http://127.0.0.1:1/","headers":{"authorization":"Basic c2VjcmV0"}}]`)
	scraping := json.RawMessage(`{"enabled":true,"headers":{},"allowed_origins":["*"],"verify_ssl":true}`)

	tests := []struct {
		name      string
		task      string
		fileField string
		call      func(*Session, context.Context, FileOpener) (Response, error)
	}{
		{"minidump", TaskMinidump, FieldMinidump, func(s *Session, ctx context.Context, f FileOpener) (Response, error) {
			return s.Minidump(ctx, f, "native", sources, scraping)
		}},
		{"apple crash report", TaskAppleCrashReport, FieldAppleCrashReport, func(s *Session, ctx context.Context, f FileOpener) (Response, error) {
			return s.AppleCrashReport(ctx, f, "cocoa", sources, scraping)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s *server
			s = newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
				s.readBody(r, n)
				answerJSON(w, 200, pendingBody)
			})
			h := newHarness(t, s, nil)
			closed := false
			open := func(context.Context) (io.ReadCloser, error) {
				return readCloser{&lazyReader{n: size}, func() { closed = true }}, nil
			}

			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			resp, err := tt.call(h.sess, ctxT(t), open)
			runtime.ReadMemStats(&after)
			if err != nil {
				t.Fatal(err)
			}
			if resp.Status != StatusPending {
				t.Errorf("status %s, want pending", resp.Status)
			}
			if !closed {
				t.Error("the opened file was not closed")
			}
			// Client and server together allocate far less than the file.
			t.Logf("allocated %d bytes while uploading %d", after.TotalAlloc-before.TotalAlloc, size)
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > size/4 {
				t.Errorf("allocated %d bytes for a %d-byte upload: the file was buffered", alloc, size)
			}

			r := s.requests()[0]
			if r.method != "POST" || r.path != "/"+tt.task {
				t.Errorf("%s %s, want POST /%s", r.method, r.path, tt.task)
			}
			if r.contentLength != -1 {
				t.Errorf("Content-Length %d: a streamed body has none", r.contentLength)
			}
			if !strings.HasPrefix(r.contentType, "multipart/form-data; boundary=") {
				t.Errorf("Content-Type %q", r.contentType)
			}
			if r.partsErr != nil {
				t.Fatalf("reading the multipart body: %v", r.partsErr)
			}
			var names []string
			for _, p := range r.parts {
				names = append(names, p.name)
			}
			if want := "platform,sources,scraping,options," + tt.fileField; strings.Join(names, ",") != want {
				t.Fatalf("parts %v, want %s", names, want)
			}
			fields := map[string]string{}
			for _, p := range r.parts[:4] {
				fields[p.name] = p.value
			}
			// JSON text, as Sentry sends every field: the platform quoted.
			wantPlatform := map[string]string{TaskMinidump: `"native"`, TaskAppleCrashReport: `"cocoa"`}[tt.task]
			if fields["platform"] != wantPlatform || fields["sources"] != string(sources) ||
				fields["scraping"] != string(scraping) || fields["options"] != `{"dif_candidates":true}` {
				t.Errorf("form fields %v", fields)
			}
			file := r.parts[4]
			if file.filename != tt.fileField || file.contentType != "application/octet-stream" {
				t.Errorf("file part filename %q type %q", file.filename, file.contentType)
			}
			if file.size != size || file.sha256 != wantSum {
				t.Errorf("server received %d bytes sha256 %s, want %d bytes %s", file.size, file.sha256, size, wantSum)
			}
		})
	}
}

type readCloser struct {
	io.Reader
	close func()
}

func (r readCloser) Close() error { r.close(); return nil }

func TestUploadRetryReopensFile(t *testing.T) {
	const size = 1 << 20
	var s *server
	s = newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 1 {
			io.CopyN(io.Discard, r.Body, 4096) // part of the upload, then the connection breaks
			dropConnection(w)
			return
		}
		s.readBody(r, n)
		answerJSON(w, 200, pendingBody)
	})
	h := newHarness(t, s, nil)
	var opens, closes atomic.Int32
	open := func(context.Context) (io.ReadCloser, error) {
		opens.Add(1)
		return readCloser{&lazyReader{n: size}, func() { closes.Add(1) }}, nil
	}
	if _, err := h.sess.Minidump(ctxT(t), open, "native", nil, nil); err != nil {
		t.Fatal(err)
	}
	if opens.Load() != 2 || closes.Load() != 2 {
		t.Errorf("file opened %d and closed %d times, want 2 and 2", opens.Load(), closes.Load())
	}
	reqs := s.requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2", len(reqs))
	}
	file := reqs[1].parts[len(reqs[1].parts)-1]
	if file.size != size || file.sha256 != lazySHA256(size) {
		t.Errorf("retried upload carried %d bytes, want the whole %d", file.size, size)
	}
}

func TestUploadOpenOnceCannotRetry(t *testing.T) {
	s := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) { dropConnection(w) })
	h := newHarness(t, s, nil)
	_, err := h.sess.Minidump(ctxT(t), OpenOnce(strings.NewReader("MDMP....")), "native", nil, nil)
	if !errors.Is(err, ErrNotReplayable) || !errors.Is(err, ErrNetwork) {
		t.Fatalf("err = %v, want a network error that says the file cannot be sent again", err)
	}
	if n := s.count(); n != 1 {
		t.Errorf("%d attempts, want 1", n)
	}
	var ne *NetworkError
	if errors.As(err, &ne) && ne.Attempts != 1 {
		t.Errorf("NetworkError.Attempts = %d, want 1", ne.Attempts)
	}
}

// failingReader returns its data, then an error, as an S3 stream that
// breaks does.
type failingReader struct {
	data string
	done bool
}

func (f *failingReader) Read(p []byte) (int, error) {
	if !f.done {
		f.done = true
		return copy(p, f.data), nil
	}
	return 0, errors.New("s3: connection reset by peer")
}

func TestUploadFileReadErrorNotRetried(t *testing.T) {
	var s *server
	s = newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		s.readBody(r, n)
		answerJSON(w, 200, pendingBody)
	})
	h := newHarness(t, s, nil)
	var opens atomic.Int32
	open := func(context.Context) (io.ReadCloser, error) {
		opens.Add(1)
		return io.NopCloser(&failingReader{data: "MDMP partial"}), nil
	}
	_, err := h.sess.Minidump(ctxT(t), open, "native", nil, nil)
	if err == nil || !strings.Contains(err.Error(), "read "+FieldMinidump) || !strings.Contains(err.Error(), "connection reset") {
		t.Fatalf("err = %v, want the file read error naming %s", err, FieldMinidump)
	}
	if errors.Is(err, ErrNetwork) {
		t.Errorf("err %v: a broken crash file is not a Symbolicator network error", err)
	}
	if opens.Load() != 1 {
		t.Errorf("file opened %d times, want 1", opens.Load())
	}
}

func TestUploadOpenError(t *testing.T) {
	s := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) { answerJSON(w, 200, pendingBody) })
	h := newHarness(t, s, nil)
	_, err := h.sess.AppleCrashReport(ctxT(t), func(context.Context) (io.ReadCloser, error) {
		return nil, errors.New("NoSuchKey: crashes/42/e.crash")
	}, "cocoa", nil, nil)
	if err == nil || !strings.Contains(err.Error(), "open "+FieldAppleCrashReport) || !strings.Contains(err.Error(), "NoSuchKey") {
		t.Fatalf("err = %v, want the open error naming the file field", err)
	}
	if n := s.count(); n != 0 {
		t.Errorf("%d requests sent without a file", n)
	}
	_, err = h.sess.Minidump(ctxT(t), func(context.Context) (io.ReadCloser, error) { return nil, nil }, "native", nil, nil)
	var re *RequestError
	if !errors.As(err, &re) || re.Field != FieldMinidump {
		t.Errorf("err = %v, want a RequestError naming %s", err, FieldMinidump)
	}
}

func BenchmarkMinidumpUpload(b *testing.B) {
	const size = 8 << 20
	s := newServer(b, func(w http.ResponseWriter, r *http.Request, n int) {
		io.Copy(io.Discard, r.Body)
		answerJSON(w, 200, pendingBody)
	})
	sess := NewSession(Config{BaseURL: s.url(), ProjectID: "42", EventID: "e"}, s.srv.Client(), nil, nil, nil)
	b.SetBytes(size)
	for b.Loop() {
		if _, err := sess.Minidump(context.Background(), func(context.Context) (io.ReadCloser, error) {
			return io.NopCloser(&lazyReader{n: size}), nil
		}, "native", nil, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// stallingReader returns one chunk, then blocks until its context ends, as
// an S3 stream that stops delivering does.
type stallingReader struct {
	ctx  context.Context
	sent bool
}

func (s *stallingReader) Read(p []byte) (int, error) {
	if !s.sent {
		s.sent = true
		return copy(p, "MDMP"), nil
	}
	<-s.ctx.Done()
	return 0, s.ctx.Err()
}

func TestUploadStalledFile(t *testing.T) {
	var s *server
	s = newServer(t, func(w http.ResponseWriter, r *http.Request, n int) { s.hang(r) })
	h := newHarness(t, s, func(c *Config) { c.IdleTimeout = 300 * time.Millisecond })
	var opens atomic.Int32
	_, err := h.sess.Minidump(ctxT(t), func(ctx context.Context) (io.ReadCloser, error) {
		opens.Add(1)
		return io.NopCloser(&stallingReader{ctx: ctx}), nil
	}, "native", nil, nil)
	if err == nil || errors.Is(err, ErrNetwork) || !strings.Contains(err.Error(), "read "+FieldMinidump) || !strings.Contains(err.Error(), "stalled") {
		t.Fatalf("err = %v, want a stalled file read, not a Symbolicator network error", err)
	}
	if opens.Load() != 1 {
		t.Errorf("file opened %d times, want 1", opens.Load())
	}
}

func TestUploadEarlyAnswerStopsProducer(t *testing.T) {
	// Symbolicator refuses the upload before reading it (too large); the
	// answer is returned and the file producer stopped, not waited for.
	s := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Connection", "close")
		w.WriteHeader(http.StatusRequestEntityTooLarge)
	})
	h := newHarness(t, s, nil)
	resp, err := h.sess.Minidump(ctxT(t), func(ctx context.Context) (io.ReadCloser, error) {
		return io.NopCloser(&stallingReader{ctx: ctx}), nil
	}, "native", nil, nil)
	if err != nil {
		t.Fatalf("err = %v, want the failed response", err)
	}
	if resp.Status != StatusFailed || resp.Message != "internal server error" {
		t.Errorf("response %+v, want failed", resp)
	}
}
