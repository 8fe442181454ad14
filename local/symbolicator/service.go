// Package symbolicator is symflow's embedded stand-in for Sentry's
// Symbolicator: an HTTP service that speaks the Symbolicator API (SEMANTICS
// §3 and §4) closely enough that a client written for the real service
// cannot tell the difference for native (ELF and Mach-O) stack traces.
//
// POST /symbolicate looks up each referenced module's debug file on the
// request's sources (filesystem, http with the native, debuginfod, unified,
// symstore and ssqp layouts, s3, and Sentry's debug-files endpoint), opens it
// with package objfile and resolves every frame to functions, files and
// lines, inlined frames included. Minidumps and Apple crash reports are
// accepted but answered "failed": stack walking is out of scope here.
//
// All state is in memory: requests are pollable for ResultTTL after they
// finish and are lost when the process stops, as with the real service.
// Downloads and parsed debug files are kept in caches bounded by bytes.
package symbolicator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/symflow/symflow/local/httpserver"
)

// Config tunes a Service. The zero value of every field means its default.
type Config struct {
	// MaxConcurrent is how many requests may run at once; more are refused
	// with 503. Default 120 (Symbolicator's max_concurrent_requests).
	MaxConcurrent int
	// MaxBodyBytes bounds a /symbolicate body; larger ones get 413.
	// Default 5 MiB.
	MaxBodyBytes int64
	// MaxMultipartBytes bounds a /minidump or /applecrashreport upload.
	// Default 100 MiB.
	MaxMultipartBytes int64
	// ResultTTL is how long a finished request stays pollable. Default 90 s.
	ResultTTL time.Duration
	// RequestTimeout ends a request that runs longer with status
	// "timeout". Default 15 min (the reference's hard limit).
	RequestTimeout time.Duration
	// CacheBytes bounds the cache of downloaded debug files. Default 512 MiB.
	CacheBytes int64
	// IndexCacheBytes bounds the cache of parsed debug files, counted by
	// the size of the file. Default: CacheBytes. It also bounds the
	// persisted indexes in CacheDir.
	IndexCacheBytes int64
	// CacheDir, when set, keeps the parsed index of every debug file
	// opened (objfile's persisted index, like Symbolicator's symcaches) on
	// disk, so that a restarted service, or another one sharing the
	// directory, answers its first request for a known file without
	// parsing its DWARF again. Indexes that do not load (damaged, of
	// another format version) are removed and rebuilt; the least recently
	// used go first when the directory outgrows IndexCacheBytes. Empty:
	// nothing is kept across restarts.
	CacheDir string
	// MaxDownloadBytes bounds one debug file. Default 1 GiB.
	MaxDownloadBytes int64
	// MaxInflatedBytes and InflateRatio bound what one debug file may
	// decompress to (its compressed sections, or the whole download when
	// it is gzip'd or a cabinet): the smaller of MaxInflatedBytes and
	// InflateRatio times the file's size. Defaults
	// debugfile.DefaultMaxInflatedBytes and debugfile.DefaultInflateRatio,
	// the bound the debug-file upload API applies too, so that a file the
	// API stored opens here.
	MaxInflatedBytes int64
	InflateRatio     int64
	// RetryMalformedAfter is how long a file that failed to parse is
	// refused without being parsed again, like Symbolicator's
	// retry_malformed_after. Default 24 h.
	RetryMalformedAfter time.Duration
	// DownloadTimeout bounds one download or listing. Default 5 min.
	DownloadTimeout time.Duration
	// RetryMissesAfter is how long a remote source's "not found" answer is
	// remembered before the file is asked for again, like Symbolicator's
	// retry_misses_after. Default 1 h; filesystem sources are always
	// looked at afresh.
	RetryMissesAfter time.Duration
	// ModuleConcurrency is how many modules of one request are fetched at
	// once, DownloadConcurrency how many candidate files of one module.
	// Defaults 8 and 4.
	ModuleConcurrency   int
	DownloadConcurrency int
	// Logger receives the service's logs. Default slog.Default(). Tokens,
	// keys and header values are never logged.
	Logger *slog.Logger

	// HTTPClient fetches from http and sentry sources and is handed to the
	// S3 client factory. When nil the service builds one on the egress
	// guard: it refuses reserved addresses (IANA's special-purpose ranges,
	// loopback, private, link-local) and cloud metadata services, on the
	// resolved address and on every redirect, but loopback when
	// AllowLoopback is set and hosts in AllowedHosts. A client given here
	// is used as is: its owner decides what it may reach.
	HTTPClient *http.Client
	// AllowLoopback lets sources reach 127.0.0.0/8 and ::1 (local mode,
	// where the symbol servers run on this machine), and nothing else
	// reserved: not link-local, private ranges or metadata services.
	AllowLoopback bool
	// AllowedHosts are host names or host:port pairs that may be reached
	// even when they resolve to reserved addresses; metadata services stay
	// refused.
	AllowedHosts []string
	// S3ClientFactory builds S3 clients; default DefaultS3ClientFactory.
	S3ClientFactory S3ClientFactory

	// Now is the clock used for result expiry; default time.Now.
	Now func() time.Time
}

func (c Config) withDefaults() Config {
	if c.MaxConcurrent <= 0 {
		c.MaxConcurrent = 120
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = 5 << 20
	}
	if c.MaxMultipartBytes <= 0 {
		c.MaxMultipartBytes = 100 << 20
	}
	if c.ResultTTL <= 0 {
		c.ResultTTL = 90 * time.Second
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = 15 * time.Minute
	}
	if c.CacheBytes <= 0 {
		c.CacheBytes = 512 << 20
	}
	if c.IndexCacheBytes <= 0 {
		c.IndexCacheBytes = c.CacheBytes
	}
	if c.MaxDownloadBytes <= 0 {
		c.MaxDownloadBytes = 1 << 30
	}
	if c.RetryMissesAfter <= 0 {
		c.RetryMissesAfter = time.Hour
	}
	if c.RetryMalformedAfter <= 0 {
		c.RetryMalformedAfter = defaultRetryMalformedAfter
	}
	if c.DownloadTimeout <= 0 {
		c.DownloadTimeout = 5 * time.Minute
	}
	if c.ModuleConcurrency <= 0 {
		c.ModuleConcurrency = 8
	}
	if c.DownloadConcurrency <= 0 {
		c.DownloadConcurrency = 4
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

const (
	connectTimeout = 15 * time.Second
	retryAfter     = 30
	// maxPollTimeout caps the timeout query parameter.
	maxPollTimeout = 24 * time.Hour
)

// Service is the embedded Symbolicator. It is an http.Handler; Close
// stops its background work.
type Service struct {
	cfg   Config
	log   *slog.Logger
	fetch *fetcher
	index *lruCache[indexedFile]
	store *indexStore // nil without Config.CacheDir
	mux   *http.ServeMux

	parseMu sync.Mutex
	parses  map[string]*parse

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	tasks   map[uuid.UUID]*task
	running int
	closed  bool
}

// task is one request: running until done is closed, then holding its
// answer until it expires.
type task struct {
	done chan struct{}
	// result is the answer, written as JSON whenever it is asked for
	// (writeAnswer); it is not changed once done is closed.
	result   any
	finished time.Time
}

// New returns a Service configured by cfg.
func New(cfg Config) *Service {
	cfg = cfg.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	s := &Service{
		cfg:    cfg,
		log:    cfg.Logger,
		index:  newLRU[indexedFile](cfg.IndexCacheBytes),
		parses: map[string]*parse{},
		tasks:  map[uuid.UUID]*task{},
		ctx:    ctx,
		cancel: cancel,
	}
	s.store = newIndexStore(cfg.CacheDir, cfg.IndexCacheBytes, cfg.Logger)
	s.fetch = newFetcher(&s.cfg)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /symbolicate", s.handleSymbolicate)
	mux.HandleFunc("POST /minidump", s.handleMultipart("upload_file_minidump", "minidump", (*Service).processMinidump))
	mux.HandleFunc("POST /applecrashreport", s.handleMultipart("apple_crash_report", "Apple crash report", (*Service).processAppleCrashReport))
	mux.HandleFunc("GET /requests/{id}", s.handlePoll)
	mux.HandleFunc("GET /healthcheck", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "ok")
	})
	s.mux = mux
	s.wg.Add(1)
	go s.janitor()
	return s
}

// ServeHTTP implements http.Handler.
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mux.ServeHTTP(w, r)
}

// Close stops the service: running requests are cancelled (their results
// report failure) and background work ends. It waits for them.
func (s *Service) Close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
	s.store.close()
}

// ListenAndServe serves the API on addr (for example "127.0.0.1:3021")
// until ctx is done, then shuts down gracefully.
func ListenAndServe(ctx context.Context, addr string, cfg Config) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("symbolicator listen on %s: %w", addr, err)
	}
	svc := New(cfg)
	defer svc.Close()
	// Polls wait up to their timeout parameter: the progress timeouts
	// leave them be, and cut only clients that stop sending or reading.
	srv := httpserver.New(svc, httpserver.Timeouts{})
	svc.log.Info("symbolicator listening", "addr", ln.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("symbolicator serve: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("symbolicator shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("symbolicator serve: %w", err)
	}
	return nil
}

var errBusy = errors.New("maximum number of concurrent requests reached")

// start registers a new request and runs work for it in the background.
func (s *Service) start(kind string, work func(ctx context.Context) any) (uuid.UUID, *task, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return uuid.Nil, nil, errors.New("service is shutting down")
	}
	if s.running >= s.cfg.MaxConcurrent {
		s.mu.Unlock()
		return uuid.Nil, nil, errBusy
	}
	s.running++
	id := uuid.New()
	t := &task{done: make(chan struct{})}
	s.tasks[id] = t
	s.wg.Add(1)
	s.mu.Unlock()

	go func() {
		defer s.wg.Done()
		started := time.Now()
		ctx, cancel := context.WithTimeout(s.ctx, s.cfg.RequestTimeout)
		defer cancel()
		resc := make(chan any, 1)
		go func() {
			defer func() {
				if r := recover(); r != nil {
					s.log.Error("request panicked", "request_id", id, "kind", kind, "panic", fmt.Sprint(r))
					resc <- map[string]any{"status": "internal_error"}
				}
			}()
			resc <- work(ctx)
		}()
		var res any
		select {
		case res = <-resc:
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				s.log.Error("request timed out", "request_id", id, "kind", kind, "after", s.cfg.RequestTimeout)
				res = map[string]any{"status": "timeout"}
			} else {
				res = map[string]any{"status": "failed", "message": "the symbolicator is shutting down"}
			}
		}
		s.mu.Lock()
		t.result = res
		t.finished = s.cfg.Now()
		s.running--
		s.mu.Unlock()
		close(t.done)
		s.log.Info("request finished", "request_id", id, "kind", kind, "duration", time.Since(started))
	}()
	return id, t, nil
}

// lookup returns a known, unexpired task.
func (s *Service) lookup(id uuid.UUID) *task {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tasks[id]
	if !ok {
		return nil
	}
	if !t.finished.IsZero() && s.cfg.Now().Sub(t.finished) >= s.cfg.ResultTTL {
		delete(s.tasks, id)
		return nil
	}
	return t
}

// janitor drops expired results so that memory does not grow with
// requests nobody polls.
func (s *Service) janitor() {
	defer s.wg.Done()
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-tick.C:
		}
		now := s.cfg.Now()
		s.mu.Lock()
		for id, t := range s.tasks {
			if !t.finished.IsZero() && now.Sub(t.finished) >= s.cfg.ResultTTL {
				delete(s.tasks, id)
			}
		}
		s.mu.Unlock()
	}
}

// respond waits for t up to timeout (nil: until done) and writes its
// response, or "pending" when the timeout elapses first.
func (s *Service) respond(w http.ResponseWriter, r *http.Request, id uuid.UUID, t *task, timeout *time.Duration) {
	var expired <-chan time.Time
	if timeout != nil {
		timer := time.NewTimer(*timeout)
		defer timer.Stop()
		expired = timer.C
	}
	select {
	case <-t.done:
	default:
		select {
		case <-t.done:
		case <-expired:
			writeJSON(w, http.StatusOK, marshalResponse(map[string]any{
				"status": "pending", "request_id": id.String(), "retry_after": retryAfter,
			}))
			return
		case <-r.Context().Done():
			return
		}
	}
	s.mu.Lock()
	res := t.result
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	if err := writeAnswer(w, res); err != nil && r.Context().Err() == nil {
		s.log.Warn("writing an answer failed", "request_id", id, "error", err)
	}
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(body)
}

func writeText(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	io.WriteString(w, msg)
}

func writeBusy(w http.ResponseWriter) {
	writeJSON(w, http.StatusServiceUnavailable, marshalResponse(map[string]string{"detail": errBusy.Error()}))
}

// pollTimeout reads the timeout query parameter (whole seconds).
func pollTimeout(r *http.Request) (*time.Duration, error) {
	v := r.URL.Query().Get("timeout")
	if v == "" {
		return nil, nil
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("invalid query parameter timeout: %q is not a whole number of seconds", truncate(v, 40))
	}
	d := maxPollTimeout
	if n < uint64(maxPollTimeout/time.Second) {
		d = time.Duration(n) * time.Second
	}
	return &d, nil
}

func (s *Service) handleSymbolicate(w http.ResponseWriter, r *http.Request) {
	timeout, err := pollTimeout(r)
	if err != nil {
		writeText(w, http.StatusBadRequest, err.Error())
		return
	}
	if r.ContentLength > s.cfg.MaxBodyBytes {
		writeText(w, http.StatusRequestEntityTooLarge, "length limit exceeded")
		return
	}
	body, err := readBody(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes), r.ContentLength)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeText(w, http.StatusRequestEntityTooLarge, "length limit exceeded")
			return
		}
		writeText(w, http.StatusBadRequest, "failed to read the request body")
		return
	}
	req, err := decodeSymbolicateRequest(body)
	if err != nil {
		var re *requestError
		if errors.As(err, &re) {
			writeText(w, http.StatusUnprocessableEntity, "Failed to deserialize the JSON body into the target type: "+re.Error())
			return
		}
		writeText(w, http.StatusBadRequest, "Failed to parse the request body as JSON: "+err.Error())
		return
	}
	id, t, err := s.start("symbolicate", func(ctx context.Context) any { return s.symbolicate(ctx, req) })
	if err != nil {
		if errors.Is(err, errBusy) {
			writeBusy(w)
			return
		}
		writeText(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	s.log.Info("symbolicate request", "request_id", id, "scope", r.URL.Query().Get("scope"),
		"stacktraces", len(req.Stacktraces), "modules", len(req.Modules), "sources", len(req.Sources))
	s.respond(w, r, id, t, timeout)
}

// readBody reads a request body of length n (-1: unknown) into a buffer
// of its size: a large request is megabytes, which io.ReadAll would grow to
// twice over in fresh memory.
func readBody(r io.Reader, n int64) ([]byte, error) {
	if n <= 0 {
		return io.ReadAll(r)
	}
	buf := bytes.NewBuffer(make([]byte, 0, n+bytes.MinRead))
	_, err := buf.ReadFrom(r)
	return buf.Bytes(), err
}

func (s *Service) handlePoll(w http.ResponseWriter, r *http.Request) {
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	timeout, err := pollTimeout(r)
	if err != nil {
		writeText(w, http.StatusBadRequest, err.Error())
		return
	}
	t := s.lookup(id)
	if t == nil {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	s.respond(w, r, id, t, timeout)
}

// maxFormField bounds the JSON fields (sources, options, …) of a multipart
// request.
const maxFormField = 4 << 20

// handleMultipart accepts a minidump or Apple crash report upload. The
// embedded service does not walk stacks, so a well-formed upload becomes a
// request that failed with a message saying so; the client sees the same
// protocol as with the real service.
// uploadProcessor turns an uploaded crash file and the request's common
// fields into a response.
type uploadProcessor func(s *Service, ctx context.Context, req *symbolicateRequest, file []byte) map[string]any

// handleMultipart serves /minidump and /applecrashreport: a multipart form
// with the crash file in fileField and the fields sources, options,
// scraping and platform as JSON text (Sentry sends platform as "native",
// quoted), as Symbolicator reads them.
func (s *Service) handleMultipart(fileField, what string, process uploadProcessor) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		timeout, err := pollTimeout(r)
		if err != nil {
			writeText(w, http.StatusBadRequest, err.Error())
			return
		}
		if r.ContentLength > s.cfg.MaxMultipartBytes {
			writeText(w, http.StatusRequestEntityTooLarge, "length limit exceeded")
			return
		}
		if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "multipart/form-data" {
			writeText(w, http.StatusBadRequest, "expected a multipart/form-data body")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxMultipartBytes)
		mr, err := r.MultipartReader()
		if err != nil {
			writeText(w, http.StatusBadRequest, "invalid multipart body: "+err.Error())
			return
		}
		tooLarge := func(err error) bool {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				writeText(w, http.StatusRequestEntityTooLarge, "length limit exceeded")
				return true
			}
			return false
		}
		var file []byte
		found := false
		fields := jsonObject{}
		for {
			part, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				if !tooLarge(err) {
					writeText(w, http.StatusBadRequest, "invalid multipart body: "+err.Error())
				}
				return
			}
			name := part.FormName()
			switch name {
			case fileField:
				file, err = io.ReadAll(part)
				if err != nil {
					if !tooLarge(err) {
						writeText(w, http.StatusBadRequest, "invalid multipart body: "+err.Error())
					}
					return
				}
				found = true
			case "sources", "options", "scraping", "platform", "rewrite_first_module":
				data, err := io.ReadAll(io.LimitReader(part, maxFormField+1))
				if err != nil || len(data) > maxFormField {
					writeText(w, http.StatusBadRequest, fmt.Sprintf("field %s is too large or unreadable", name))
					return
				}
				if !json.Valid(data) {
					writeText(w, http.StatusBadRequest, fmt.Sprintf("field %s: expected JSON text (e.g. %s)", name, formFieldExample[name]))
					return
				}
				fields[name] = json.RawMessage(data)
			default:
				io.Copy(io.Discard, part)
			}
			part.Close()
		}
		if !found {
			writeText(w, http.StatusBadRequest, "missing file field "+fileField)
			return
		}
		req, err := decodeCommon(fields)
		if err != nil {
			writeText(w, http.StatusBadRequest, "field "+err.Error())
			return
		}
		id, t, err := s.start(what, func(ctx context.Context) any {
			return process(s, ctx, req, file)
		})
		if err != nil {
			if errors.Is(err, errBusy) {
				writeBusy(w)
				return
			}
			writeText(w, http.StatusServiceUnavailable, err.Error())
			return
		}
		s.log.Info("upload accepted", "request_id", id, "kind", what, "bytes", len(file))
		s.respond(w, r, id, t, timeout)
	}
}

// formFieldExample shows what a multipart field holds, for error messages.
var formFieldExample = map[string]string{
	"sources": `[{"type":"http","id":"…","url":"…"}]`, "options": `{"dif_candidates":true}`,
	"scraping": `{"enabled":false}`, "platform": `"native"`, "rewrite_first_module": `[]`,
}
