package symbolicator

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/symflow/symflow/local/symbolicator/cab"
	"github.com/symflow/symflow/shared/egress"
)

// Download statuses of a candidate (SEMANTICS §4).
const (
	downloadOK        = "ok"
	downloadNotFound  = "notfound"
	downloadNoPerm    = "noperm"
	downloadMalformed = "malformed"
	downloadError     = "error"
)

const userAgent = "symflow-symbolicator/1.0"

// fetchError is why a file could not be had from a source. Details never
// carries a secret: only statuses, source-side error codes and limits.
type fetchError struct {
	Status  string // notfound, noperm, malformed, error
	Details string
	// Timeout is set when the download ran out of time; a module whose
	// selected candidate timed out reports debug_status "timeout".
	Timeout bool
}

func (e *fetchError) Error() string {
	if e.Details == "" {
		return e.Status
	}
	return e.Status + ": " + e.Details
}

var errNotFound = &fetchError{Status: downloadNotFound}

// remoteFile is one place a debug file may be on a source.
type remoteFile struct {
	src      *source
	location string // path below the source root, or a sentry file id
}

// uri is the location shown in a candidate, in Symbolicator's spelling.
func (r remoteFile) uri() string {
	switch r.src.Type {
	case sourceFilesystem:
		return "file://" + filepath.Join(r.src.Path, filepath.FromSlash(r.location))
	case sourceHTTP:
		return redactURL(joinURL(r.src.URL, r.location))
	case sourceS3:
		return (&url.URL{Scheme: "s3", Host: r.src.Bucket, Path: "/" + s3Key(r.src.Prefix, r.location)}).String()
	case sourceGCS:
		return (&url.URL{Scheme: "gs", Host: r.src.Bucket, Path: "/" + s3Key(r.src.Prefix, r.location)}).String()
	case sourceSentry:
		return "sentry://project_debug_file/" + r.location
	}
	return r.src.Type + "://" + r.location
}

// cacheKey identifies the downloaded bytes. It includes a digest of the
// credentials so that a source id reused with other credentials never sees
// bytes fetched with the first ones.
func (r remoteFile) cacheKey() string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%s\x00%s\x00%s\x00%s", r.src.Type, r.src.ID, r.uri(), r.src.Token, r.src.AccessKey, r.src.SecretKey, r.src.Endpoint)
	for _, k := range sortedKeys(r.src.Headers) {
		fmt.Fprintf(h, "\x00%s=%s", k, r.src.Headers[k])
	}
	if r.src.URL != nil {
		fmt.Fprintf(h, "\x00%s", r.src.URL.String())
	}
	return hex.EncodeToString(h.Sum(nil))
}

// fetcher downloads files from sources, through a byte-bounded cache.
type fetcher struct {
	cfg      *Config
	client   *http.Client
	insecure *http.Client
	cache    *lruCache[[]byte]

	s3mu      sync.Mutex
	s3clients map[string]S3GetObjectAPI

	flightMu sync.Mutex
	flights  map[string]*flight

	// misses remembers remote files that were not found, until when.
	missMu sync.Mutex
	misses map[string]time.Time
}

// maxMisses bounds the remembered misses; when full, the list starts over.
const maxMisses = 100000

// flight is a download in progress that concurrent requests for the same
// file wait for instead of downloading it again.
type flight struct {
	done chan struct{}
	data []byte
	err  *fetchError
}

// S3GetObjectAPI is the part of the S3 client the service uses.
type S3GetObjectAPI interface {
	GetObject(ctx context.Context, in *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

// S3SourceConfig is what an S3ClientFactory is told about an s3 source.
// SecretKey is a secret: a factory must not log it.
type S3SourceConfig struct {
	Region              string
	Endpoint            string // "" for AWS itself
	AccessKey           string
	SecretKey           string
	CredentialsProvider string // "static" or "container"
}

// S3ClientFactory builds the S3 client for a source. httpClient is the
// client the service uses for a custom endpoint (with its address policy),
// nil for AWS's own endpoints.
type S3ClientFactory func(ctx context.Context, src S3SourceConfig, httpClient *http.Client) (S3GetObjectAPI, error)

// DefaultS3ClientFactory uses static keys when the source has them, the
// default credential chain (container role, environment) otherwise, and
// path-style addressing when a custom endpoint is given. The credential
// chain keeps the SDK's own HTTP client: the container credentials endpoint
// is link-local, which the source address policy refuses.
func DefaultS3ClientFactory(ctx context.Context, src S3SourceConfig, httpClient *http.Client) (S3GetObjectAPI, error) {
	opts := s3.Options{Region: src.Region}
	if httpClient != nil {
		opts.HTTPClient = httpClient
	}
	if src.CredentialsProvider == "container" || (src.AccessKey == "" && src.SecretKey == "") {
		cfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(src.Region))
		if err != nil {
			return nil, fmt.Errorf("load AWS configuration: %w", err)
		}
		opts.Credentials = cfg.Credentials
	} else {
		opts.Credentials = credentials.NewStaticCredentialsProvider(src.AccessKey, src.SecretKey, "")
	}
	if src.Endpoint != "" {
		opts.BaseEndpoint = aws.String(src.Endpoint)
		opts.UsePathStyle = true
	}
	return s3.New(opts), nil
}

func newFetcher(cfg *Config) *fetcher {
	f := &fetcher{cfg: cfg, cache: newLRU[[]byte](cfg.CacheBytes), s3clients: map[string]S3GetObjectAPI{}, flights: map[string]*flight{}, misses: map[string]time.Time{}}
	if cfg.HTTPClient != nil {
		f.client, f.insecure = cfg.HTTPClient, cfg.HTTPClient
		return f
	}
	// Sources are chosen by the caller's users: every connection, and
	// every redirect, goes through the egress guard, as Symbolicator
	// refuses reserved addresses unless connect_to_reserved_ips is set.
	policy := egress.Policy{AllowLoopback: cfg.AllowLoopback, AllowHosts: cfg.AllowedHosts}
	dialer := &egress.Dialer{Policy: policy, Timeout: connectTimeout, KeepAlive: 30 * time.Second}
	mk := func(insecure bool) *http.Client {
		tr := egress.NewTransport(dialer)
		if insecure {
			// Only for sources that ask for it with accept_invalid_certs.
			tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec
		}
		return &http.Client{Transport: tr, CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= maxRedirects {
				return fmt.Errorf("stopped after %d redirects", maxRedirects)
			}
			return policy.CheckURL(req.URL)
		}}
	}
	f.client, f.insecure = mk(false), mk(true)
	return f
}

// maxRedirects is how many redirects a download follows, as net/http does
// by default.
const maxRedirects = 10

// list returns the files a source may hold for id.
func (f *fetcher) list(ctx context.Context, src *source, id objectID, types []string) ([]remoteFile, error) {
	if src.Type == sourceSentry {
		return f.listSentry(ctx, src, id, types)
	}
	var out []remoteFile
	for _, loc := range src.Layout.locations(id, src.Filters, types) {
		out = append(out, remoteFile{src: src, location: loc})
	}
	return out, nil
}

// fetch returns the bytes of a remote file, decompressed when gzip'd.
// Remote files are cached; concurrent fetches of one file share a single
// download. Filesystem files are read each time (they are local and may
// change).
func (f *fetcher) fetch(ctx context.Context, rf remoteFile) ([]byte, *fetchError) {
	if rf.src.Type == sourceFilesystem {
		return f.download(ctx, rf)
	}
	key := rf.cacheKey()
	if b, ok := f.cache.get(key); ok {
		return b, nil
	}
	if f.missed(key) {
		return nil, errNotFound
	}
	f.flightMu.Lock()
	if fl, ok := f.flights[key]; ok {
		f.flightMu.Unlock()
		select {
		case <-fl.done:
			return fl.data, fl.err
		case <-ctx.Done():
			return nil, &fetchError{Status: downloadError, Details: "download timed out or was cancelled", Timeout: true}
		}
	}
	fl := &flight{done: make(chan struct{})}
	f.flights[key] = fl
	f.flightMu.Unlock()

	fl.data, fl.err = f.download(ctx, rf)
	if fl.err == nil {
		f.cache.add(key, fl.data, int64(len(fl.data)))
	} else if fl.err.Status == downloadNotFound {
		f.miss(key)
	}
	f.flightMu.Lock()
	delete(f.flights, key)
	f.flightMu.Unlock()
	close(fl.done)
	return fl.data, fl.err
}

// missed reports whether key was not found within RetryMissesAfter.
func (f *fetcher) missed(key string) bool {
	f.missMu.Lock()
	defer f.missMu.Unlock()
	until, ok := f.misses[key]
	if ok && time.Now().After(until) {
		delete(f.misses, key)
		return false
	}
	return ok
}

func (f *fetcher) miss(key string) {
	f.missMu.Lock()
	defer f.missMu.Unlock()
	if len(f.misses) >= maxMisses {
		f.misses = map[string]time.Time{}
	}
	f.misses[key] = time.Now().Add(f.cfg.RetryMissesAfter)
}

func (f *fetcher) download(ctx context.Context, rf remoteFile) ([]byte, *fetchError) {
	ctx, cancel := context.WithTimeout(ctx, f.cfg.DownloadTimeout)
	defer cancel()
	var data []byte
	var ferr *fetchError
	switch rf.src.Type {
	case sourceFilesystem:
		data, ferr = f.fetchFile(rf)
	case sourceHTTP:
		client := f.client
		if rf.src.AcceptInvalidCerts {
			client = f.insecure
		}
		data, ferr = f.fetchHTTP(ctx, client, joinURL(rf.src.URL, rf.location), rf.src.Headers, "", f.cfg.MaxDownloadBytes)
	case sourceSentry:
		u := *rf.src.URL
		q := u.Query()
		q.Add("id", rf.location)
		u.RawQuery = q.Encode()
		data, ferr = f.fetchHTTP(ctx, f.client, &u, nil, rf.src.Token, f.cfg.MaxDownloadBytes)
	case sourceS3:
		data, ferr = f.fetchS3(ctx, rf)
	default:
		ferr = &fetchError{Status: downloadError, Details: rf.src.Type + " sources are not supported by the embedded symbolicator"}
	}
	if ferr != nil {
		if ctx.Err() != nil && ferr.Status == downloadError {
			ferr = &fetchError{Status: downloadError, Details: "download timed out or was cancelled", Timeout: true}
		}
		return nil, ferr
	}
	return f.decompress(data)
}

func (f *fetcher) tooLarge() *fetchError { return tooLarge(f.cfg.MaxDownloadBytes) }

func tooLarge(limit int64) *fetchError {
	return &fetchError{Status: downloadError, Details: fmt.Sprintf("file exceeds the download limit of %d bytes", limit)}
}

// presizeBytes bounds the buffer allocated for a download before its
// bytes arrive.
const presizeBytes = 64 << 20

// readLimited reads r up to the download limit; size is the length the
// source announced (0: unknown).
func (f *fetcher) readLimited(r io.Reader, size int64) ([]byte, *fetchError) {
	return readLimited(r, f.cfg.MaxDownloadBytes, size)
}

// readLimited reads r up to limit bytes. A known size within the limit
// sizes the buffer at once and the bytes are read straight into it: a
// debug file of tens of megabytes read into a growing buffer was copied
// again and again, and a profile of cold requests showed that as a fifth
// of their time. A size is only a claim: no more than presizeBytes is
// allocated on its word, and a body longer or shorter than claimed is
// still read whole (up to the limit).
func readLimited(r io.Reader, limit, size int64) ([]byte, *fetchError) {
	var data []byte
	if size > 0 && size <= limit {
		data = make([]byte, 0, min(size, presizeBytes)+1)
	} else {
		data = make([]byte, 0, min(limit+1, 32<<10))
	}
	lr := io.LimitReader(r, limit+1)
	for {
		if len(data) == cap(data) {
			data = append(data, 0)[:len(data)] // grow: the claim was short, or absent
		}
		n, err := lr.Read(data[len(data):cap(data)])
		data = data[:len(data)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, &fetchError{Status: downloadError, Details: "reading the download failed: " + safeErr(err)}
		}
	}
	if int64(len(data)) > limit {
		return nil, tooLarge(limit)
	}
	return data, nil
}

// inflateBound is how far a compressed download may expand: the service's
// decompression bound for a file of its size (as a compressed section of a
// debug file may), and never past the download limit.
func (f *fetcher) inflateBound(size int) int64 {
	return min(f.cfg.MaxDownloadBytes, f.cfg.inflateLimits().Bound(int64(size)))
}

// decompress returns a download's contents: gzip'd files inflated, and
// cabinets (symbol servers' compressed files, "foo.pd_") extracted, as
// Symbolicator recognises both by their magic. Either is bounded by
// inflateBound; a file that expands past it is malformed, since no debug
// file compresses that well and a bomb must not cost its expansion.
func (f *fetcher) decompress(data []byte) ([]byte, *fetchError) {
	switch {
	case len(data) >= 2 && data[0] == 0x1f && data[1] == 0x8b:
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, &fetchError{Status: downloadMalformed}
		}
		bound := f.inflateBound(len(data))
		out, ferr := readLimited(zr, bound, 0)
		if ferr != nil {
			return nil, &fetchError{Status: downloadMalformed}
		}
		return out, nil
	case len(data) >= 4 && string(data[:4]) == "MSCF":
		_, out, err := cab.Extract(data, f.inflateBound(len(data)))
		var tl *cab.TooLargeError
		if errors.As(err, &tl) {
			return nil, &fetchError{Status: downloadError, Details: fmt.Sprintf("size_exceeded: the cabinet's file would take %d bytes, beyond the limit of %d", tl.Size, tl.Limit)}
		}
		if err != nil {
			return nil, &fetchError{Status: downloadMalformed}
		}
		return out, nil
	}
	return data, nil
}

func (f *fetcher) fetchFile(rf remoteFile) ([]byte, *fetchError) {
	root := filepath.Clean(rf.src.Path)
	p := filepath.Join(root, filepath.FromSlash(rf.location))
	if rel, err := filepath.Rel(root, p); err != nil || strings.HasPrefix(rel, "..") {
		return nil, errNotFound
	}
	fh, err := os.Open(p)
	if err != nil {
		return nil, fileError(err)
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return nil, fileError(err)
	}
	if st.IsDir() {
		return nil, errNotFound
	}
	if st.Size() > f.cfg.MaxDownloadBytes {
		return nil, f.tooLarge()
	}
	return f.readLimited(fh, st.Size())
}

func fileError(err error) *fetchError {
	switch {
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOTDIR):
		return errNotFound
	case errors.Is(err, fs.ErrPermission):
		return &fetchError{Status: downloadNoPerm, Details: "permission denied"}
	}
	return &fetchError{Status: downloadError, Details: safeErr(err)}
}

// safeErr renders an error for a candidate without URLs (which may carry
// credentials) by keeping only the innermost message.
func safeErr(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return err.Error()
}

func (f *fetcher) fetchHTTP(ctx context.Context, client *http.Client, u *url.URL, headers map[string]string, bearer string, limit int64) ([]byte, *fetchError) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, &fetchError{Status: downloadError, Details: "invalid URL"}
	}
	req.Header.Set("User-Agent", userAgent)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, &fetchError{Status: downloadError, Details: "download failed: " + safeErr(err)}
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusOK:
		if resp.ContentLength > limit {
			return nil, tooLarge(limit)
		}
		return readLimited(resp.Body, limit, resp.ContentLength)
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone:
		return nil, errNotFound
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return nil, &fetchError{Status: downloadNoPerm, Details: resp.Status}
	default:
		return nil, &fetchError{Status: downloadError, Details: "download failed: HTTP " + resp.Status}
	}
}

func (f *fetcher) s3Client(ctx context.Context, src *source) (S3GetObjectAPI, error) {
	h := sha256.Sum256([]byte(src.Region + "\x00" + src.Endpoint + "\x00" + src.AccessKey + "\x00" + src.SecretKey + "\x00" + src.CredentialsProvider))
	key := hex.EncodeToString(h[:])
	f.s3mu.Lock()
	defer f.s3mu.Unlock()
	if c, ok := f.s3clients[key]; ok {
		return c, nil
	}
	factory := f.cfg.S3ClientFactory
	if factory == nil {
		factory = DefaultS3ClientFactory
	}
	// AWS's own endpoints are trusted (a VPC interface endpoint resolves
	// to private addresses); a custom endpoint goes through the policy.
	var hc *http.Client
	if src.Endpoint != "" {
		hc = f.client
	}
	c, err := factory(ctx, S3SourceConfig{
		Region: src.Region, Endpoint: src.Endpoint, AccessKey: src.AccessKey,
		SecretKey: src.SecretKey, CredentialsProvider: src.CredentialsProvider,
	}, hc)
	if err != nil {
		return nil, err
	}
	if len(f.s3clients) > 256 {
		clear(f.s3clients)
	}
	f.s3clients[key] = c
	return c, nil
}

func (f *fetcher) fetchS3(ctx context.Context, rf remoteFile) ([]byte, *fetchError) {
	client, err := f.s3Client(ctx, rf.src)
	if err != nil {
		return nil, &fetchError{Status: downloadError, Details: "S3 client: " + safeErr(err)}
	}
	out, err := client.GetObject(ctx, &s3.GetObjectInput{
		Bucket: aws.String(rf.src.Bucket),
		Key:    aws.String(s3Key(rf.src.Prefix, rf.location)),
	})
	if err != nil {
		return nil, s3Error(err)
	}
	defer out.Body.Close()
	if out.ContentLength != nil && *out.ContentLength > f.cfg.MaxDownloadBytes {
		return nil, f.tooLarge()
	}
	var size int64
	if out.ContentLength != nil {
		size = *out.ContentLength
	}
	return f.readLimited(out.Body, size)
}

func s3Error(err error) *fetchError {
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "NoSuchKey", "NotFound", "NoSuchBucket":
			return errNotFound
		case "AccessDenied", "Forbidden", "InvalidAccessKeyId", "SignatureDoesNotMatch":
			return &fetchError{Status: downloadNoPerm, Details: api.ErrorCode()}
		}
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) && re.HTTPStatusCode() != 0 {
		switch re.HTTPStatusCode() {
		case http.StatusNotFound:
			return errNotFound
		case http.StatusForbidden, http.StatusUnauthorized:
			return &fetchError{Status: downloadNoPerm, Details: http.StatusText(re.HTTPStatusCode())}
		}
		return &fetchError{Status: downloadError, Details: fmt.Sprintf("S3 answered HTTP %d", re.HTTPStatusCode())}
	}
	if api != nil {
		return &fetchError{Status: downloadError, Details: "S3 error " + api.ErrorCode()}
	}
	return &fetchError{Status: downloadError, Details: "S3 request failed: " + safeErr(err)}
}

// sentryFileFormats maps our file types to the file_formats query values of
// Sentry's debug-files endpoint.
var sentryFileFormats = map[string]string{
	"elf_code": "elf_code", "elf_debug": "elf_debug",
	"mach_code": "mach_code", "mach_debug": "mach_debug",
	"pe": "pe", "pdb": "pdb", "portablepdb": "portablepdb",
	"wasm_code": "wasm_code", "wasm_debug": "wasm_debug",
	"breakpad": "breakpad", "sourcebundle": "sourcebundle",
}

// maxSentryListing bounds how many files one listing may return, and
// maxListingBytes the size of the listing.
const (
	maxSentryListing = 100
	maxListingBytes  = 8 << 20
)

// listSentry asks a Sentry debug-files endpoint for the files of id:
// GET <url>?debug_id=<id> (or code_id=<id> when there is no debug id, as
// the reference does) with file_formats=… per type and a Bearer token.
func (f *fetcher) listSentry(ctx context.Context, src *source, id objectID, types []string) ([]remoteFile, error) {
	if id.DebugID == "" && id.CodeID == "" {
		return nil, nil
	}
	u := *src.URL
	q := u.Query()
	if id.DebugID != "" {
		q.Add("debug_id", id.DebugID)
	} else {
		q.Add("code_id", id.CodeID)
	}
	for _, t := range types {
		if ff, ok := sentryFileFormats[t]; ok {
			q.Add("file_formats", ff)
		}
	}
	u.RawQuery = q.Encode()
	ctx, cancel := context.WithTimeout(ctx, f.cfg.DownloadTimeout)
	defer cancel()
	data, ferr := f.fetchHTTP(ctx, f.client, &u, nil, src.Token, maxListingBytes)
	if ferr != nil {
		return nil, fmt.Errorf("list debug files of source %s: %w", src.ID, ferr)
	}
	var entries []map[string]json.RawMessage
	if err := json.Unmarshal(data, &entries); err != nil {
		return nil, fmt.Errorf("list debug files of source %s: response is not a JSON array of objects", src.ID)
	}
	var out []remoteFile
	for _, e := range entries {
		var idStr string
		if err := json.Unmarshal(e["id"], &idStr); err != nil {
			var n json.Number
			if err := json.Unmarshal(e["id"], &n); err != nil {
				continue
			}
			idStr = n.String()
		}
		if idStr == "" || strings.ContainsAny(idStr, "/?#&") {
			continue
		}
		out = append(out, remoteFile{src: src, location: idStr})
		if len(out) == maxSentryListing {
			break
		}
	}
	return out, nil
}
