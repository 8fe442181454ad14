// Package dynamodb is an embedded, in-process DynamoDB-compatible server for
// symflow's local mode: the store (shared/dynamo) runs its real
// aws-sdk-go-v2 code against it, with no Java and no AWS account.
//
// It speaks DynamoDB's JSON 1.0 protocol (POST /, header
// X-Amz-Target: DynamoDB_20120810.<Operation>) and implements the subset
// symflow uses, with DynamoDB's validation and error shapes:
//
//   - CreateTable, DescribeTable, DeleteTable, ListTables,
//     UpdateTimeToLive, DescribeTimeToLive;
//   - GetItem, PutItem, UpdateItem, DeleteItem, Query and Scan, with
//     ConditionExpression, FilterExpression, KeyConditionExpression,
//     UpdateExpression (SET with +, -, if_not_exists, list_append; REMOVE;
//     ADD; DELETE), ProjectionExpression, ExpressionAttributeNames and
//     ExpressionAttributeValues, ReturnValues and
//     ReturnValuesOnConditionCheckFailure;
//   - a false condition is a ConditionalCheckFailedException, shaped as
//     DynamoDB's, so SDK callers see *types.ConditionalCheckFailedException.
//
// Not supported, and answered with a ValidationException that says so:
// secondary indexes, nested attribute paths, transactions, batch operations,
// streams, PartiQL and the legacy parameters (Expected, AttributeUpdates,
// KeyConditions, …). Requests are not authenticated: the server listens on
// loopback only. Items whose TTL attribute is in the past are deleted.
//
// A Server keeps its tables in memory, and, when opened with Open, in a JSON
// file rewritten (and synced to disk) after every change, before the change
// is acknowledged. One process at a time may serve a data file: two servers
// on the same file overwrite each other's changes.
package dynamodb

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/symflow/symflow/local/httpserver"
)

// MaxRequestBytes is the largest request body accepted, DynamoDB's limit.
const MaxRequestBytes = 16 << 20

// maxItemBytes is DynamoDB's item size limit.
const maxItemBytes = 400 << 10

const targetPrefix = "DynamoDB_20120810."

// Server is an in-memory DynamoDB-compatible service. It is safe for
// concurrent use; operations are serialized, so conditional writes are
// atomic as in DynamoDB.
type Server struct {
	mu        sync.Mutex
	tables    map[string]*table
	path      string
	lastSweep time.Time

	// Now is the clock used for TTL expiry and table creation times;
	// time.Now when nil. Set it before serving.
	Now func() time.Time
	// Logger receives one debug line per request (operation and table,
	// never item contents); slog.Default() when nil.
	Logger *slog.Logger

	reqSeq atomic.Int64
}

// New returns an empty in-memory server.
func New() *Server {
	return &Server{tables: map[string]*table{}}
}

// Open returns a server whose tables are loaded from the JSON file at path,
// if it exists, and written back to it after every change. The file holds
// item values in clear, secrets included, so it is written with mode 0600.
func Open(path string) (*Server, error) {
	s := New()
	s.path = path
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open DynamoDB data file: %w", err)
	}
	var f fileFormat
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("read DynamoDB data file %s: %w", path, err)
	}
	for _, ft := range f.Tables {
		t, err := ft.toTable()
		if err != nil {
			return nil, fmt.Errorf("read DynamoDB data file %s: table %q: %w", path, ft.Name, err)
		}
		s.tables[t.name] = t
	}
	return s, nil
}

func (s *Server) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Server) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

// Handler returns the server's HTTP handler.
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serveHTTP) }

// Start serves the server on addr, which must be a loopback address
// ("127.0.0.1:0" when empty), and returns its base URL and a function that
// stops serving.
func (s *Server) Start(addr string) (url string, stop func() error, err error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return "", nil, fmt.Errorf("start embedded DynamoDB: address %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return "", nil, fmt.Errorf("start embedded DynamoDB: address %q is not a loopback address", addr)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("start embedded DynamoDB: %w", err)
	}
	// Stop waits for requests in flight, then closes every connection at
	// once: http.Server.Shutdown would wait up to 5 s for connections the
	// client opened but never used.
	var active atomic.Int64
	h := s.Handler()
	srv := httpserver.New(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		active.Add(1)
		defer active.Add(-1)
		h.ServeHTTP(w, r)
	}), httpserver.Timeouts{})
	go func() { _ = srv.Serve(l) }()
	stop = func() error {
		srv.SetKeepAlivesEnabled(false)
		err := l.Close()
		for deadline := time.Now().Add(5 * time.Second); active.Load() > 0 && time.Now().Before(deadline); {
			time.Sleep(5 * time.Millisecond)
		}
		if cerr := srv.Close(); err == nil || errors.Is(err, net.ErrClosed) {
			err = cerr
		}
		return err
	}
	return "http://" + l.Addr().String(), stop, nil
}

// apiError is an error in DynamoDB's wire shape.
type apiError struct {
	code   string
	msg    string
	status int
	item   item // ConditionalCheckFailedException with ALL_OLD
}

func (e *apiError) Error() string { return e.code + ": " + e.msg }

func validation(format string, args ...any) *apiError {
	return &apiError{code: "ValidationException", msg: fmt.Sprintf(format, args...), status: http.StatusBadRequest}
}

func invalidParam(format string, args ...any) *apiError {
	return validation("One or more parameter values were invalid: "+format, args...)
}

func notFound(table string) *apiError {
	return &apiError{code: "ResourceNotFoundException", msg: "Requested resource not found: Table: " + table + " not found", status: http.StatusBadRequest}
}

func conditionFailed(old item) *apiError {
	return &apiError{code: "ConditionalCheckFailedException", msg: "The conditional request failed", status: http.StatusBadRequest, item: old}
}

type handlerFunc func(s *Server, body []byte) (any, *apiError)

var operations = map[string]struct {
	fn      handlerFunc
	mutates bool
}{
	"CreateTable":        {(*Server).createTable, true},
	"DescribeTable":      {(*Server).describeTable, false},
	"DeleteTable":        {(*Server).deleteTable, true},
	"ListTables":         {(*Server).listTables, false},
	"UpdateTimeToLive":   {(*Server).updateTimeToLive, true},
	"DescribeTimeToLive": {(*Server).describeTimeToLive, false},
	"GetItem":            {(*Server).getItem, false},
	"PutItem":            {(*Server).putItem, true},
	"UpdateItem":         {(*Server).updateItem, true},
	"DeleteItem":         {(*Server).deleteItem, true},
	"Query":              {(*Server).query, false},
	"Scan":               {(*Server).scan, false},
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	reqID := "local-" + strconv.FormatInt(s.reqSeq.Add(1), 10)
	w.Header().Set("x-amzn-RequestId", reqID)
	if r.Method == http.MethodGet && r.URL.Path == "/" {
		// DynamoDB answers a GET on its endpoint with a health line.
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "healthy: embedded dynamodb\n")
		return
	}
	if r.Method != http.MethodPost {
		writeError(w, &apiError{code: "UnknownOperationException", msg: "method " + r.Method + " is not supported", status: http.StatusMethodNotAllowed})
		return
	}
	target := r.Header.Get("X-Amz-Target")
	opName, ok := strings.CutPrefix(target, targetPrefix)
	op, known := operations[opName]
	if !ok || !known {
		writeError(w, &apiError{code: "UnknownOperationException", msg: fmt.Sprintf("unknown or unsupported operation %q", target), status: http.StatusBadRequest})
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxRequestBytes+1))
	if err != nil {
		writeError(w, validation("reading request body: %v", err))
		return
	}
	if len(body) > MaxRequestBytes {
		writeError(w, &apiError{code: "ValidationException", msg: "request body exceeds 16 MB", status: http.StatusRequestEntityTooLarge})
		return
	}
	s.mu.Lock()
	s.sweepExpired()
	out, apiErr := op.fn(s, body)
	var saveErr error
	if apiErr == nil && op.mutates {
		saveErr = s.save()
	}
	s.mu.Unlock()
	s.logger().Debug("dynamodb request", "op", opName, "request_id", reqID, "ok", apiErr == nil)
	if saveErr != nil {
		s.logger().Error("embedded dynamodb: save data file", "path", s.path, "err", saveErr)
		writeError(w, &apiError{code: "InternalServerError", msg: "saving the data file failed", status: http.StatusInternalServerError})
		return
	}
	if apiErr != nil {
		writeError(w, apiErr)
		return
	}
	data, err := json.Marshal(out)
	if err != nil {
		writeError(w, &apiError{code: "InternalServerError", msg: "encoding the response failed", status: http.StatusInternalServerError})
		return
	}
	writeJSON(w, http.StatusOK, data)
}

func writeJSON(w http.ResponseWriter, status int, data []byte) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.Header().Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE(data)), 10))
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	w.WriteHeader(status)
	_, _ = w.Write(data)
}

func writeError(w http.ResponseWriter, e *apiError) {
	body := map[string]any{
		"__type":  "com.amazonaws.dynamodb.v20120810#" + e.code,
		"message": e.msg,
	}
	if e.item != nil {
		body["Item"] = e.item
	}
	data, _ := json.Marshal(body)
	writeJSON(w, e.status, data)
}

// decode unmarshals a request body, naming the operation's input on error.
func decode(body []byte, v any) *apiError {
	if err := json.Unmarshal(body, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return &apiError{code: "SerializationException", msg: fmt.Sprintf("field %s: expected %s", te.Field, te.Type), status: http.StatusBadRequest}
		}
		return &apiError{code: "SerializationException", msg: "request body is not valid JSON", status: http.StatusBadRequest}
	}
	return nil
}

// save writes every table to the data file, if there is one, atomically.
func (s *Server) save() error {
	if s.path == "" {
		return nil
	}
	f := fileFormat{Tables: []fileTable{}}
	for _, name := range sortedKeys(s.tables) {
		f.Tables = append(f.Tables, s.tables[name].toFile())
	}
	data, err := json.MarshalIndent(f, "", " ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(s.path), ".dynamodb-*.json")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	// The write is acknowledged once save returns: the new file's bytes,
	// then its name, reach the disk first, so a power loss leaves the old
	// file or the new one, never an empty one.
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), s.path); err != nil {
		return err
	}
	return syncDir(filepath.Dir(s.path))
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// sweepExpired deletes items whose TTL has passed, at most once a second.
// Like DynamoDB, it ignores TTL values more than five years in the past,
// which are not Unix-seconds timestamps.
func (s *Server) sweepExpired() {
	now := s.now()
	if now.Sub(s.lastSweep) < time.Second && !s.lastSweep.IsZero() {
		return
	}
	s.lastSweep = now
	oldest := now.AddDate(-5, 0, 0).Unix()
	changed := false
	for _, t := range s.tables {
		if t.ttlAttr == "" {
			continue
		}
		for k, it := range t.items {
			raw, ok := it[t.ttlAttr]
			if !ok {
				continue
			}
			v, err := parseValue(raw)
			if err != nil || v.typ != "N" {
				continue
			}
			n := v.number()
			if !n.IsInt() || !n.Num().IsInt64() {
				continue
			}
			if exp := n.Num().Int64(); exp < now.Unix() && exp > oldest {
				delete(t.items, k)
				changed = true
			}
		}
	}
	if changed {
		if err := s.save(); err != nil {
			s.logger().Error("embedded dynamodb: save data file", "path", s.path, "err", err)
		}
	}
}
