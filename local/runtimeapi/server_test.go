package runtimeapi_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/symflow/symflow/local/runtimeapi"
)

// These tests speak the Runtime API over HTTP as a runtime would, for the
// cases aws-lambda-go never produces.

const apiBase = "/2018-06-01/runtime/"

func startServer(t *testing.T) *runtimeapi.Server {
	t.Helper()
	s, err := runtimeapi.StartServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if !strings.HasPrefix(s.Addr(), "127.0.0.1:") {
		t.Fatalf("server listens on %s, want 127.0.0.1", s.Addr())
	}
	return s
}

type apiResponse struct {
	status int
	header http.Header
	body   string
}

func call(t *testing.T, s *runtimeapi.Server, method, path string, body io.Reader, header http.Header) apiResponse {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+s.Addr()+path, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return apiResponse{resp.StatusCode, resp.Header, string(data)}
}

// deliver submits an invocation and takes it with /next.
func deliver(t *testing.T, s *runtimeapi.Server, id, payload string) (*runtimeapi.Pending, apiResponse) {
	t.Helper()
	p, err := s.Submit(runtimeapi.Invocation{RequestID: id, Payload: []byte(payload),
		FunctionARN: "arn:aws:lambda:us-east-1:000000000000:function:F", TraceID: "Root=1-x", Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	resp := call(t, s, http.MethodGet, apiBase+"invocation/next", nil, nil)
	select {
	case <-p.Delivered():
	default:
		t.Fatal("invocation not marked delivered after /next")
	}
	return p, resp
}

func TestNextHandsOverTheInvocation(t *testing.T) {
	s := startServer(t)
	if _, ok := s.FirstNext(); ok {
		t.Error("FirstNext set before any /next")
	}
	before := time.Now()
	p, resp := deliver(t, s, "req-1", `{"a":1}`)
	if resp.status != http.StatusOK || resp.body != `{"a":1}` {
		t.Fatalf("/next: %d %q", resp.status, resp.body)
	}
	for k, want := range map[string]string{
		"Lambda-Runtime-Aws-Request-Id":       "req-1",
		"Lambda-Runtime-Invoked-Function-Arn": "arn:aws:lambda:us-east-1:000000000000:function:F",
		"Lambda-Runtime-Trace-Id":             "Root=1-x",
	} {
		if got := resp.header.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	ms, err := strconv.ParseInt(resp.header.Get("Lambda-Runtime-Deadline-Ms"), 10, 64)
	if err != nil || time.UnixMilli(ms).Before(before.Add(time.Minute-time.Second)) {
		t.Errorf("deadline header %q: want about a minute from delivery", resp.header.Get("Lambda-Runtime-Deadline-Ms"))
	}
	if !p.Deadline().Equal(time.UnixMilli(ms)) && p.Deadline().UnixMilli() != ms {
		t.Errorf("Deadline() %v, header %d", p.Deadline(), ms)
	}
	if _, ok := s.FirstNext(); !ok {
		t.Error("FirstNext not recorded")
	}

	r := call(t, s, http.MethodPost, apiBase+"invocation/req-1/response", strings.NewReader(`{"ok":true}`), nil)
	if r.status != http.StatusAccepted || r.body != `{"status":"OK"}` {
		t.Errorf("response post: %d %s", r.status, r.body)
	}
	<-p.Done()
	if res := p.Result(); string(res.Payload) != `{"ok":true}` || res.Err != nil {
		t.Errorf("result %+v", res)
	}
}

func TestProtocolErrors(t *testing.T) {
	s := startServer(t)
	p, _ := deliver(t, s, "req-1", `{}`)
	if r := call(t, s, http.MethodPost, apiBase+"invocation/req-1/response", strings.NewReader(`1`), nil); r.status != http.StatusAccepted {
		t.Fatalf("first response: %d %s", r.status, r.body)
	}
	<-p.Done()
	cases := []struct {
		name     string
		method   string
		path     string
		want     int
		wantType string
	}{
		{"second answer", http.MethodPost, "invocation/req-1/error", http.StatusForbidden, "InvalidStateTransition"},
		{"unknown request", http.MethodPost, "invocation/nope/response", http.StatusBadRequest, "InvalidRequestID"},
		{"unknown kind", http.MethodPost, "invocation/req-1/other", http.StatusNotFound, "InvalidRequest"},
		{"next by POST", http.MethodPost, "invocation/next", http.StatusMethodNotAllowed, "InvalidRequest"},
		{"response by GET", http.MethodGet, "invocation/req-1/response", http.StatusMethodNotAllowed, "InvalidRequest"},
		{"init error by GET", http.MethodGet, "init/error", http.StatusMethodNotAllowed, "InvalidRequest"},
		{"other version", http.MethodGet, "/2020-01-01/runtime/invocation/next", http.StatusNotFound, "InvalidRequest"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := tc.path
			if !strings.HasPrefix(path, "/") {
				path = apiBase + path
			}
			r := call(t, s, tc.method, path, strings.NewReader(`{}`), nil)
			var doc struct {
				ErrorType string `json:"errorType"`
			}
			_ = json.Unmarshal([]byte(r.body), &doc)
			if r.status != tc.want || doc.ErrorType != tc.wantType {
				t.Errorf("%s %s: %d %s, want %d with errorType %s", tc.method, path, r.status, r.body, tc.want, tc.wantType)
			}
		})
	}
	if _, err := s.Submit(runtimeapi.Invocation{}); err == nil || !strings.Contains(err.Error(), "empty request id") {
		t.Errorf("submit without id: %v", err)
	}
}

func TestErrorPosts(t *testing.T) {
	cases := []struct {
		name        string
		body        string
		header      string
		wantType    string
		wantMsg     string
		wantPayload string
	}{
		{"aws-lambda-go document", `{"errorMessage":"boom","errorType":"ProjectNotFound"}`, "", "ProjectNotFound", "boom",
			`{"errorMessage":"boom","errorType":"ProjectNotFound"}`},
		{"type only in header", `{"errorMessage":"boom"}`, "Runtime.HandlerError", "Runtime.HandlerError", "boom",
			`{"errorMessage":"boom"}`},
		{"not JSON", `it broke`, "Runtime.Crash", "Runtime.Crash", "it broke",
			`{"errorMessage":"it broke","errorType":"Runtime.Crash"}`},
		{"nothing at all", ``, "", "Unhandled", "", `{"errorMessage":"","errorType":"Unhandled"}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := startServer(t)
			p, _ := deliver(t, s, "req-1", `{}`)
			h := http.Header{}
			if tc.header != "" {
				h.Set("Lambda-Runtime-Function-Error-Type", tc.header)
			}
			if r := call(t, s, http.MethodPost, apiBase+"invocation/req-1/error", strings.NewReader(tc.body), h); r.status != http.StatusAccepted {
				t.Fatalf("error post: %d %s", r.status, r.body)
			}
			<-p.Done()
			fe := p.Result().Err
			if fe == nil {
				t.Fatal("no error recorded")
			}
			if fe.Type != tc.wantType || fe.Message != tc.wantMsg || string(fe.Payload) != tc.wantPayload {
				t.Errorf("error %s %q %s, want %s %q %s", fe.Type, fe.Message, fe.Payload, tc.wantType, tc.wantMsg, tc.wantPayload)
			}
		})
	}
}

// TestStreamErrorTrailer checks a response whose stream failed midway,
// which aws-lambda-go reports in trailers, fails the invocation.
func TestStreamErrorTrailer(t *testing.T) {
	s := startServer(t)
	p, _ := deliver(t, s, "req-1", `{}`)
	doc := `{"errorMessage":"stream broke","errorType":"errorString"}`
	req, err := http.NewRequest(http.MethodPost, "http://"+s.Addr()+apiBase+"invocation/req-1/response",
		io.MultiReader(strings.NewReader("partial")))
	if err != nil {
		t.Fatal(err)
	}
	req.Trailer = http.Header{
		"Lambda-Runtime-Function-Error-Type": {"errorString"},
		"Lambda-Runtime-Function-Error-Body": {base64.StdEncoding.EncodeToString([]byte(doc))},
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	<-p.Done()
	fe := p.Result().Err
	if fe == nil || fe.Type != "errorString" || fe.Message != "stream broke" || string(fe.Payload) != doc {
		t.Errorf("result %+v, want the trailer's error", p.Result())
	}
}

func TestWithdrawBeforeDelivery(t *testing.T) {
	s := startServer(t)
	p, err := s.Submit(runtimeapi.Invocation{RequestID: "gone", Payload: []byte(`1`), Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Submit(runtimeapi.Invocation{RequestID: "second", Timeout: time.Minute}); err == nil {
		t.Error("a second queued invocation was accepted")
	}
	if !p.Withdraw() {
		t.Fatal("Withdraw of a queued invocation failed")
	}
	if p.Withdraw() {
		t.Error("second Withdraw succeeded")
	}
	// /next hands out the next invocation, never the withdrawn one.
	p2, resp := deliver(t, s, "next-one", `2`)
	if resp.body != `2` || resp.header.Get("Lambda-Runtime-Aws-Request-Id") != "next-one" {
		t.Errorf("/next after a withdrawal: %q", resp.body)
	}
	if p2.Withdraw() {
		t.Error("Withdraw succeeded after delivery")
	}
}

func TestInitErrorPost(t *testing.T) {
	s := startServer(t)
	body := `{"errorMessage":"no config","errorType":"Runtime.ConfigError"}`
	if r := call(t, s, http.MethodPost, apiBase+"init/error", strings.NewReader(body), nil); r.status != http.StatusAccepted {
		t.Fatalf("init error: %d %s", r.status, r.body)
	}
	select {
	case <-s.InitError():
	default:
		t.Fatal("InitError not signalled")
	}
	if fe := s.InitErr(); fe == nil || fe.Type != "Runtime.ConfigError" || fe.Message != "no config" {
		t.Errorf("init error %+v", fe)
	}
	if r := call(t, s, http.MethodPost, apiBase+"init/error", bytes.NewReader([]byte(body)), nil); r.status != http.StatusForbidden {
		t.Errorf("second init error: %d, want 403", r.status)
	}
}

func TestCloseEndsWaitingNext(t *testing.T) {
	s := startServer(t)
	done := make(chan error, 1)
	go func() {
		resp, err := http.Get("http://" + s.Addr() + apiBase + "invocation/next")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				err = io.ErrUnexpectedEOF
			}
		}
		done <- err
	}()
	for {
		if _, ok := s.FirstNext(); ok {
			break
		}
		time.Sleep(time.Millisecond)
	}
	s.Close()
	if err := <-done; err == io.ErrUnexpectedEOF {
		t.Error("/next answered 200 after Close")
	}
}
