// Package sfntest is a fake of the Step Functions API for tests of
// redrive: moto_server, which stands in for Step Functions elsewhere,
// answers RedriveExecution with an error (it does not implement it). The
// fake speaks the same JSON 1.0 protocol as Step Functions for
// DescribeExecution and RedriveExecution, on 127.0.0.1, over executions
// the test puts in, and refuses a redrive as Step Functions does (a
// running or succeeded execution, one stopped more than 14 days ago),
// with its error types and redriveStatusReason wording.
package sfntest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// Execution is one execution the fake knows.
type Execution struct {
	Arn, Name, Status string
	Input, Error      string
	Cause             string
	StartDate         time.Time
	StopDate          time.Time
	RedriveCount      int
	RedriveDate       time.Time
}

// Server is the fake.
type Server struct {
	URL string

	mu    sync.Mutex
	execs map[string]*Execution
	calls []string
	now   func() time.Time
}

// Start serves the fake until the test ends. now is its clock (time.Now
// when nil).
func Start(t testing.TB, now func() time.Time) *Server {
	t.Helper()
	if now == nil {
		now = time.Now
	}
	s := &Server{execs: map[string]*Execution{}, now: now}
	srv := httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

// Put adds or replaces an execution.
func (s *Server) Put(e Execution) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.execs[e.Arn] = &e
}

// Get returns an execution as the fake holds it.
func (s *Server) Get(arn string) (Execution, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.execs[arn]
	if !ok {
		return Execution{}, false
	}
	return *e, true
}

// Calls lists the operations called, in order.
func (s *Server) Calls() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.calls...)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	op, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), "AWSStepFunctions.")
	var in struct {
		ExecutionArn string `json:"executionArn"`
	}
	if !ok || r.Method != http.MethodPost || json.NewDecoder(r.Body).Decode(&in) != nil {
		fail(w, "UnknownOperationException", "bad request")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, op)
	e, known := s.execs[in.ExecutionArn]
	switch op {
	case "DescribeExecution":
		if !known {
			fail(w, "ExecutionDoesNotExist", "Execution Does Not Exist: '"+in.ExecutionArn+"'")
			return
		}
		answer(w, s.describe(e))
	case "RedriveExecution":
		if !known {
			fail(w, "ExecutionDoesNotExist", "Execution Does Not Exist: '"+in.ExecutionArn+"'")
			return
		}
		if reason := s.notRedrivable(e); reason != "" {
			fail(w, "ExecutionNotRedrivable", "Execution cannot be redriven: "+in.ExecutionArn)
			return
		}
		now := s.now()
		e.Status, e.Error, e.Cause, e.StopDate = "RUNNING", "", "", time.Time{}
		e.RedriveCount++
		e.RedriveDate = now
		answer(w, map[string]any{"redriveDate": epoch(now)})
	default:
		fail(w, "UnknownOperationException", "the fake does not implement "+op)
	}
}

// notRedrivable is the execution's redriveStatusReason, or "".
func (s *Server) notRedrivable(e *Execution) string {
	switch {
	case e.Status == "RUNNING":
		return "Execution is RUNNING and cannot be redriven"
	case e.Status == "SUCCEEDED":
		return "Execution is SUCCEEDED and cannot be redriven"
	case s.now().Sub(e.StopDate) > 14*24*time.Hour:
		return "Execution redrivable period exceeded"
	}
	return ""
}

func (s *Server) describe(e *Execution) map[string]any {
	out := map[string]any{
		"executionArn": e.Arn, "name": e.Name, "status": e.Status, "input": e.Input,
		"startDate": epoch(e.StartDate), "redriveCount": e.RedriveCount, "redriveStatus": "REDRIVABLE",
		"stateMachineArn": e.Arn[:strings.LastIndex(e.Arn, ":")],
	}
	if !e.StopDate.IsZero() {
		out["stopDate"] = epoch(e.StopDate)
	}
	if !e.RedriveDate.IsZero() {
		out["redriveDate"] = epoch(e.RedriveDate)
	}
	if e.Error != "" {
		out["error"], out["cause"] = e.Error, e.Cause
	}
	if reason := s.notRedrivable(e); reason != "" {
		out["redriveStatus"], out["redriveStatusReason"] = "NOT_REDRIVABLE", reason
	}
	return out
}

func epoch(t time.Time) float64 { return float64(t.UnixMilli()) / 1000 }

func answer(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	json.NewEncoder(w).Encode(v) //nolint:errcheck // the client went away
}

func fail(w http.ResponseWriter, code, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.WriteHeader(http.StatusBadRequest)
	json.NewEncoder(w).Encode(map[string]string{"__type": "com.amazonaws.swf.service.v2.model#" + code, "message": msg}) //nolint:errcheck // the client went away
}
