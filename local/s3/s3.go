// Package s3 is an in-process, S3-compatible object server for local mode:
// enough of the S3 REST API (path-style PutObject, GetObject, HeadObject,
// DeleteObject, CreateBucket, ListObjectsV2) that the production S3 adapters,
// built on aws-sdk-go-v2, run unchanged against it. Objects are files under a
// root folder, so a local run leaves its crash files and results on disk.
//
// It does not check signatures: it only ever listens on loopback.
package s3

import (
	"bufio"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/symflow/symflow/local/httpserver"
)

// Server serves the objects under Root.
type Server struct {
	Root string
}

// New returns a server storing objects under root (created if missing).
func New(root string) (*Server, error) {
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, fmt.Errorf("create s3 root %s: %w", root, err)
	}
	return &Server{Root: root}, nil
}

// Start listens on a free loopback port and returns the endpoint URL and a
// function that stops the server.
func (s *Server) Start() (endpoint string, stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, fmt.Errorf("listen: %w", err)
	}
	srv := httpserver.New(s, httpserver.Timeouts{})
	go srv.Serve(ln) //nolint:errcheck // ends with ErrServerClosed on stop
	return "http://" + ln.Addr().String(), func() { srv.Close() }, nil
}

// path maps bucket and key to a file, refusing keys that would escape Root.
func (s *Server) path(bucket, key string) (string, error) {
	if bucket == "" || strings.ContainsAny(bucket, `/\`) || bucket == "." || bucket == ".." {
		return "", fmt.Errorf("invalid bucket name %q", bucket)
	}
	clean := filepath.Clean("/" + key)
	if key == "" || clean == "/" || strings.Contains(key, "..") {
		return "", fmt.Errorf("invalid key %q", key)
	}
	return filepath.Join(s.Root, bucket, filepath.FromSlash(clean)), nil
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := strings.TrimPrefix(r.URL.Path, "/")
	bucket, key, _ := strings.Cut(p, "/")
	if bucket == "" {
		writeError(w, http.StatusBadRequest, "InvalidRequest", "path-style requests only: /bucket/key")
		return
	}
	if key == "" {
		s.serveBucket(w, r, bucket)
		return
	}
	file, err := s.path(bucket, key)
	if err != nil {
		writeError(w, http.StatusBadRequest, "InvalidArgument", err.Error())
		return
	}
	switch r.Method {
	case http.MethodPut:
		s.put(w, r, file)
	case http.MethodGet, http.MethodHead:
		f, err := os.Open(file)
		if err != nil {
			writeError(w, http.StatusNotFound, "NoSuchKey", "The specified key does not exist.")
			return
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil || st.IsDir() {
			writeError(w, http.StatusNotFound, "NoSuchKey", "The specified key does not exist.")
			return
		}
		w.Header().Set("Last-Modified", st.ModTime().UTC().Format(http.TimeFormat))
		w.Header().Set("ETag", fmt.Sprintf(`"%x-%x"`, st.ModTime().UnixNano(), st.Size()))
		http.ServeContent(w, r, "", st.ModTime(), f)
	case http.MethodDelete:
		if err := os.Remove(file); err != nil && !errors.Is(err, fs.ErrNotExist) {
			writeError(w, http.StatusInternalServerError, "InternalError", "delete failed")
			return
		}
		w.WriteHeader(http.StatusNoContent)
	default:
		writeError(w, http.StatusMethodNotAllowed, "MethodNotAllowed", "method "+r.Method+" is not supported")
	}
}

func (s *Server) put(w http.ResponseWriter, r *http.Request, file string) {
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		writeError(w, http.StatusInternalServerError, "InternalError", "cannot create folder")
		return
	}
	var body io.Reader = r.Body
	if strings.Contains(r.Header.Get("Content-Encoding"), "aws-chunked") ||
		strings.HasPrefix(r.Header.Get("X-Amz-Content-Sha256"), "STREAMING-") {
		body = &chunkedReader{r: bufio.NewReader(r.Body)}
	}
	tmp, err := os.CreateTemp(filepath.Dir(file), ".upload-*")
	if err != nil {
		writeError(w, http.StatusInternalServerError, "InternalError", "cannot create object")
		return
	}
	_, err = io.Copy(tmp, body)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), file) // readers never see half an object
	}
	if err != nil {
		os.Remove(tmp.Name())
		writeError(w, http.StatusBadRequest, "IncompleteBody", "upload failed: "+err.Error())
		return
	}
	w.Header().Set("ETag", `"`+strconv.FormatInt(time.Now().UnixNano(), 16)+`"`)
	w.WriteHeader(http.StatusOK)
}

type listResult struct {
	XMLName     xml.Name `xml:"ListBucketResult"`
	Name        string   `xml:"Name"`
	Prefix      string   `xml:"Prefix"`
	KeyCount    int      `xml:"KeyCount"`
	MaxKeys     int      `xml:"MaxKeys"`
	IsTruncated bool     `xml:"IsTruncated"`
	Contents    []object `xml:"Contents"`
}

type object struct {
	Key          string `xml:"Key"`
	LastModified string `xml:"LastModified"`
	Size         int64  `xml:"Size"`
}

func (s *Server) serveBucket(w http.ResponseWriter, r *http.Request, bucket string) {
	dir := filepath.Join(s.Root, bucket)
	switch r.Method {
	case http.MethodPut: // CreateBucket
		if err := os.MkdirAll(dir, 0o755); err != nil {
			writeError(w, http.StatusInternalServerError, "InternalError", "cannot create bucket")
			return
		}
		w.WriteHeader(http.StatusOK)
	case http.MethodHead:
		if _, err := os.Stat(dir); err != nil {
			writeError(w, http.StatusNotFound, "NoSuchBucket", "The specified bucket does not exist.")
			return
		}
		w.WriteHeader(http.StatusOK)
	case http.MethodGet: // ListObjectsV2, without pagination: local buckets are small
		prefix := r.URL.Query().Get("prefix")
		res := listResult{Name: bucket, Prefix: prefix, MaxKeys: 1000}
		filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || strings.HasPrefix(d.Name(), ".upload-") {
				return nil
			}
			rel, _ := filepath.Rel(dir, p)
			key := filepath.ToSlash(rel)
			if !strings.HasPrefix(key, prefix) {
				return nil
			}
			info, err := d.Info()
			if err != nil {
				return nil
			}
			res.Contents = append(res.Contents, object{Key: key, Size: info.Size(), LastModified: info.ModTime().UTC().Format(time.RFC3339)})
			return nil
		})
		sort.Slice(res.Contents, func(i, j int) bool { return res.Contents[i].Key < res.Contents[j].Key })
		res.KeyCount = len(res.Contents)
		w.Header().Set("Content-Type", "application/xml")
		xml.NewEncoder(w).Encode(res)
	default:
		writeError(w, http.StatusMethodNotAllowed, "MethodNotAllowed", "method "+r.Method+" is not supported on a bucket")
	}
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>%s</Code><Message>%s</Message></Error>", code, xmlEscape(msg))
}

func xmlEscape(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}

// chunkedReader decodes the aws-chunked content encoding the SDK uses for
// streamed uploads: "<hex size>[;ext]\r\n<data>\r\n" … "0\r\n<trailers>\r\n".
type chunkedReader struct {
	r    *bufio.Reader
	left int64
	done bool
}

func (c *chunkedReader) Read(p []byte) (int, error) {
	if c.done {
		return 0, io.EOF
	}
	if c.left == 0 {
		line, err := c.r.ReadString('\n')
		if err != nil {
			return 0, fmt.Errorf("aws-chunked header: %w", err)
		}
		sizeText, _, _ := strings.Cut(strings.TrimSpace(line), ";")
		size, err := strconv.ParseInt(sizeText, 16, 64)
		if err != nil || size < 0 {
			return 0, fmt.Errorf("aws-chunked size %q is not hex", sizeText)
		}
		if size == 0 {
			c.done = true
			io.Copy(io.Discard, c.r) // trailers
			return 0, io.EOF
		}
		c.left = size
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	if c.left == 0 && err == nil {
		if _, err := c.r.Discard(2); err != nil { // \r\n after the data
			return n, fmt.Errorf("aws-chunked: %w", err)
		}
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}
