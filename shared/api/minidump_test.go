package api_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/symflow/symflow/local/stack"
	"github.com/symflow/symflow/shared/api"
	"github.com/symflow/symflow/shared/blob"
	"github.com/symflow/symflow/shared/crashupload"
	"github.com/symflow/symflow/shared/execution"
	"github.com/symflow/symflow/shared/project"
	"github.com/symflow/symflow/shared/task"
)

const reportUUID = "4b3c2a1f-0e9d-4c8b-a7f6-e5d4c3b2a190"

// lockedBuffer collects log lines written from several goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func crashy(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "events/crash-upload/crashy.dmp"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// makeKey makes the project's upload key through the API.
func (e *env) makeKey(body string) api.UploadKeyCreated {
	e.t.Helper()
	resp := e.do(http.MethodPost, "/v1/projects/42/config/upload-key", body)
	if resp.StatusCode != http.StatusCreated {
		e.t.Fatalf("make upload key: %d %s", resp.StatusCode, resp.Body)
	}
	return decode[api.UploadKeyCreated](e.t, resp)
}

// upload is an upload as API Gateway delivers it: the multipart body
// base64-encoded, headers lowercased, the query string raw.
func upload(t *testing.T, path, query string, headers map[string]string, body []byte) events.APIGatewayV2HTTPRequest {
	t.Helper()
	ev := event(t, http.MethodPost, path, base64.StdEncoding.EncodeToString(body))
	ev.IsBase64Encoded = true
	ev.RawQueryString = query
	delete(ev.Headers, "accept")
	ev.Headers["user-agent"] = "Crashpad/0.8.0"
	for k, v := range headers {
		ev.Headers[k] = v
	}
	return ev
}

func (e *env) post(ev events.APIGatewayV2HTTPRequest) events.APIGatewayV2HTTPResponse {
	e.t.Helper()
	resp, err := e.svc.API.HandleHTTPAPI(context.Background(), ev)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp
}

func (e *env) object(bucket, key string) ([]byte, error) {
	return os.ReadFile(filepath.Join(e.st.StateDir, "s3", bucket, filepath.FromSlash(key)))
}

// TestUploadKeys: a key is made, shown once, stored as its hash, kept by
// configuration writes, rotated with or without a grace period and
// revoked.
func TestUploadKeys(t *testing.T) {
	e := newEnv(t)
	var logs lockedBuffer
	e.svc.API.Log = slog.New(slog.NewJSONHandler(&logs, nil))
	created := e.makeKey("")
	key := created.UploadKey
	if !project.ValidUploadKeyShape(key) || created.Fingerprint != project.UploadKeyFingerprint(key) {
		t.Fatalf("made %+v", created)
	}
	const host = "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com"
	if created.MinidumpURL != "https://"+host+"/v1/projects/42/minidump?key="+key || created.SentryDSN != "https://"+key+"@"+host+"/42" {
		t.Errorf("URLs %q %q", created.MinidumpURL, created.SentryDSN)
	}
	if len(created.UploadKeys) != 1 || created.UploadKeys[0].SHA256 != "" || created.UploadKeys[0].Fingerprint != created.Fingerprint {
		t.Errorf("keys shown %+v", created.UploadKeys)
	}
	stored, err := e.st.Store.GetProject(context.Background(), "42")
	if err != nil {
		t.Fatal(err)
	}
	if doc, _ := json.Marshal(stored); bytes.Contains(doc, []byte(key)) || len(stored.UploadKeys) != 1 || stored.UploadKeys[0].SHA256 != project.HashUploadKey(key) {
		t.Errorf("stored %s", doc)
	}

	// GET shows the fingerprint only; what it shows can be PUT back and
	// the key survives.
	got := e.do(http.MethodGet, "/v1/projects/42/config", "")
	if strings.Contains(got.Body, key) || strings.Contains(got.Body, stored.UploadKeys[0].SHA256) || !strings.Contains(got.Body, created.Fingerprint) {
		t.Errorf("GET config shows %s", got.Body)
	}
	if resp := e.do(http.MethodPut, "/v1/projects/42/config", got.Body); resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT back: %d %s", resp.StatusCode, resp.Body)
	}
	if again, _ := e.st.Store.GetProject(context.Background(), "42"); !again.AcceptsUploadKey(key, time.Now()) {
		t.Error("PUT config dropped the upload key")
	}
	project, _ := os.ReadFile(filepath.Join(root, "events/project/sample-project.json"))
	if resp := e.do(http.MethodPut, "/v1/projects/42/config", string(project)); resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT without keys: %d %s", resp.StatusCode, resp.Body)
	}
	if again, _ := e.st.Store.GetProject(context.Background(), "42"); !again.AcceptsUploadKey(key, time.Now()) {
		t.Error("a configuration without upload_keys dropped the key")
	}

	accepted := func(k string) bool {
		body, ct := api.CrashpadForm(nil, map[string]api.FormFile{api.MinidumpField: {Filename: "x.dmp", Data: []byte("not a dump")}}, false)
		resp := e.post(upload(t, "/v1/projects/42/minidump", "key="+k, map[string]string{"content-type": ct}, body))
		return resp.StatusCode == http.StatusBadRequest // past the key, refused for the file
	}
	if !accepted(key) {
		t.Fatal("the new key is refused")
	}
	// Rotation keeping the previous key an hour: both work.
	second := e.makeKey(`{"keep_previous_seconds": 3600}`)
	if !accepted(key) || !accepted(second.UploadKey) || len(second.UploadKeys) != 2 || second.UploadKeys[1].ExpiresAt.IsZero() {
		t.Errorf("after rotation with grace: old %v new %v, keys %+v", accepted(key), accepted(second.UploadKey), second.UploadKeys)
	}
	// Rotation without: only the newest.
	third := e.makeKey(`{}`)
	if accepted(key) || accepted(second.UploadKey) || !accepted(third.UploadKey) {
		t.Error("an immediate rotation left an earlier key working")
	}
	resp := e.do(http.MethodDelete, "/v1/projects/42/config/upload-key", "")
	if resp.StatusCode != http.StatusOK || decode[api.UploadKeysRevoked](t, resp).Revoked != 1 || accepted(third.UploadKey) {
		t.Errorf("revoke: %d %s", resp.StatusCode, resp.Body)
	}
	for _, tc := range []struct {
		method, path, body string
		status             int
		want               string
	}{
		{"POST", "/v1/projects/77/config/upload-key", "", 404, "project 77 is not configured"},
		{"DELETE", "/v1/projects/77/config/upload-key", "", 404, "project 77 is not configured"},
		{"POST", "/v1/projects/42/config/upload-key", `{"keep_previous_seconds": -1}`, 400, "keep_previous_seconds"},
		{"POST", "/v1/projects/42/config/upload-key", `{"keep_previous_seconds": 99999999}`, 400, "not between 0 and 7776000"},
		{"POST", "/v1/projects/42/config/upload-key", `{"keep": 1}`, 400, "unknown field"},
		{"GET", "/v1/projects/42/config/upload-key", "", 405, "use POST or DELETE"},
	} {
		if resp := e.do(tc.method, tc.path, tc.body); resp.StatusCode != tc.status || !strings.Contains(resp.Body, tc.want) {
			t.Errorf("%s %s %s: %d %s", tc.method, tc.path, tc.body, resp.StatusCode, resp.Body)
		}
	}
	for _, k := range []string{key, second.UploadKey, third.UploadKey} {
		if strings.Contains(logs.String(), k) {
			t.Errorf("a key is in the log:\n%s", logs.String())
		}
	}
}

// TestMinidumpUpload posts crashy.dmp as Crashpad's handler does: the
// text answer is the event id (Crashpad's report id, from the file name),
// the dump is stored under the crash-upload trigger's key, the annotations
// beside it, and the execution has the trigger's input. A retry writes
// nothing and finds the same execution; JSON clients get the summary.
func TestMinidumpUpload(t *testing.T) {
	e := newEnv(t)
	key := e.makeKey("").UploadKey
	dump := crashy(t)
	fields := map[string]string{"prod": "crashy", "ver": "1.0.0", "plat": "Linux", "ptype": "crashpad-handler", "guid": "8f14e45f-ceea-467e-a9b8-1d4e1c3b6a7d"}
	body, ct := api.CrashpadForm(fields, map[string]api.FormFile{
		api.MinidumpField: {Filename: reportUUID + ".dmp", Data: dump},
		"app.log":         {Filename: "app.log", Data: []byte("started\n")},
	}, true)
	ev := upload(t, "/v1/projects/42/minidump", "key="+key, map[string]string{"content-type": ct, "content-encoding": "gzip"}, body)
	resp := e.post(ev)
	const eventID = "4b3c2a1f0e9d4c8ba7f6e5d4c3b2a190"
	if resp.StatusCode != http.StatusOK || resp.Body != eventID || resp.Headers["content-type"] != "text/plain; charset=utf-8" {
		t.Fatalf("upload: %d %q %v", resp.StatusCode, resp.Body, resp.Headers)
	}
	crashKey := crashupload.Key("42", eventID, task.KindMinidump)
	if stored, err := e.object(stack.CrashBucket, crashKey); err != nil || !bytes.Equal(stored, dump) {
		t.Fatalf("stored dump: %d bytes, %v", len(stored), err)
	}
	raw, err := e.object(stack.CrashBucket, crashupload.AnnotationsKey("42", eventID))
	if err != nil {
		t.Fatal(err)
	}
	var notes api.MinidumpAnnotations
	if err := json.Unmarshal(raw, &notes); err != nil {
		t.Fatal(err)
	}
	if notes.EventIDFrom != "filename" || notes.UserAgent != "Crashpad/0.8.0" || notes.Minidump.Filename != reportUUID+".dmp" || notes.Minidump.Size != len(dump) ||
		len(notes.Fields) != len(fields) || notes.Fields["ptype"] != "crashpad-handler" || len(notes.IgnoredAttachments) != 1 || notes.IgnoredAttachments[0].Filename != "app.log" {
		t.Errorf("annotations %s", raw)
	}
	if bytes.Contains(raw, []byte(key)) {
		t.Errorf("annotations hold the key: %s", raw)
	}
	// The very input the crash-upload trigger gives the object.
	name := execution.Name("42", eventID)
	ex, err := e.svc.Executor.Describe(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(task.State{ProjectID: "42", EventID: eventID, Kind: task.KindMinidump, Platform: "native", CrashFile: &blob.Ref{Bucket: stack.CrashBucket, Key: crashKey}})
	if !sameJSON(ex.Input, want) {
		t.Errorf("execution input %s, want %s", ex.Input, want)
	}
	// The trigger's delivery of the same object finds the execution.
	if out, err := e.svc.BucketCrashes.Handle(context.Background(), []crashupload.Object{{Bucket: stack.CrashBucket, Key: crashKey, Size: int64(len(dump))}}); err != nil || out[0].Execution != name || out[0].Created {
		t.Errorf("trigger after the API: %+v %v", out, err)
	}

	// Crashpad retries when it lost the answer: the same event, nothing
	// written.
	before := e.snapshot()
	ev.Headers["accept"] = "application/json"
	again := e.post(ev)
	if again.StatusCode != http.StatusOK || again.Headers["content-type"] != "application/json" {
		t.Fatalf("retry: %d %s", again.StatusCode, again.Body)
	}
	got := decode[api.MinidumpUploaded](t, again)
	if got.EventID != eventID || got.ExecutionID != name || got.Created || got.CrashFile != "" || got.Annotations != len(fields) || got.AttachmentsIgnored != 1 ||
		got.StatusURL != "https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com/v1/executions/"+name {
		t.Errorf("retry answered %+v", got)
	}
	if after := e.snapshot(); !slices.Equal(after.objects, before.objects) || !slices.Equal(after.executions, before.executions) {
		t.Errorf("the retry wrote something")
	}
	e.svc.Executor.Wait()
}

func sameJSON(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return bytes.Equal(xa, ya)
}

// TestMinidumpSentryNative posts what sentry-native's Crashpad backend
// sends to the URL it builds from a DSN: /api/42/minidump/ with
// sentry_key in the query (or X-Sentry-Auth), the event as the MessagePack
// attachment __sentry-event, whose event id names the event.
func TestMinidumpSentryNative(t *testing.T) {
	e := newEnv(t)
	key := e.makeKey("").UploadKey
	const eventID = "f1e2d3c4b5a649788695a4b3c2d1e0f9"
	sentryEvent := api.MsgpackEncode(map[string]any{"event_id": "f1e2d3c4-b5a6-4978-8695-a4b3c2d1e0f9", "level": "fatal", "release": "crashy@1.0.0"})
	body, ct := api.CrashpadForm(map[string]string{"sentry[release]": "crashy@1.0.0"}, map[string]api.FormFile{
		api.MinidumpField:      {Filename: "0f9e8d7c-6b5a-4938-8271-605f4e3d2c1b.dmp", Data: crashy(t)},
		"__sentry-event":       {Filename: "__sentry-event", Data: sentryEvent},
		"__sentry-breadcrumb1": {Filename: "__sentry-breadcrumb1", Data: nil},
		"__sentry-breadcrumb2": {Filename: "__sentry-breadcrumb2", Data: nil},
	}, true)
	for i, auth := range []struct{ query, header string }{
		{"sentry_client=sentry.native%2F0.7.0&sentry_key=" + key, ""},
		{"", "Sentry sentry_version=7, sentry_client=sentry.native/0.7.0, sentry_key=" + key},
	} {
		hdr := map[string]string{"content-type": ct, "content-encoding": "gzip", "accept": "application/json"}
		if auth.header != "" {
			hdr["x-sentry-auth"] = auth.header
		}
		resp := e.post(upload(t, "/api/42/minidump/", auth.query, hdr, body))
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("upload %d: %d %s", i, resp.StatusCode, resp.Body)
		}
		got := decode[api.MinidumpUploaded](t, resp)
		if got.EventID != eventID || got.EventIDFrom != "__sentry-event" || got.Created != (i == 0) || got.AttachmentsIgnored != 2 {
			t.Errorf("upload %d answered %+v", i, got)
		}
	}
	raw, err := e.object(stack.CrashBucket, crashupload.AnnotationsKey("42", eventID))
	if err != nil || !bytes.Contains(raw, []byte(`"sentry_event":{"event_id":"f1e2d3c4-b5a6-4978-8695-a4b3c2d1e0f9","level":"fatal","release":"crashy@1.0.0"}`)) {
		t.Errorf("annotations %s (%v)", raw, err)
	}
	e.svc.Executor.Wait()
}

// TestMinidumpRefusals: each bad upload is answered with its status, code
// and the field it names, writes nothing, starts nothing, and no answer or
// log line holds the key.
func TestMinidumpRefusals(t *testing.T) {
	e := newEnv(t, func(s *api.Server) { s.MaxMinidumpRequestBytes = 64 << 10 })
	var logs lockedBuffer
	e.svc.API.Log = slog.New(slog.NewJSONHandler(&logs, nil))
	key := e.makeKey("").UploadKey
	dump := crashy(t)
	good, ct := api.CrashpadForm(map[string]string{"prod": "p"}, map[string]api.FormFile{api.MinidumpField: {Filename: "x.dmp", Data: dump}}, false)
	noDump, ctNoDump := api.CrashpadForm(map[string]string{"prod": "p"}, nil, false)
	elf, ctElf := api.CrashpadForm(nil, map[string]api.FormFile{api.MinidumpField: {Filename: "x.dmp", Data: []byte("\x7fELF\x02\x01\x01\x00")}}, false)
	big, ctBig := api.CrashpadForm(nil, map[string]api.FormFile{api.MinidumpField: {Filename: "x.dmp", Data: bytes.Repeat(dump, 10)}}, false)
	const path = "/v1/projects/42/minidump"
	other := strings.Repeat("0", 32)
	cases := []struct {
		name, path, query string
		headers           map[string]string
		body              []byte
		status            int
		code, field, msg  string
	}{
		{"no key", path, "", map[string]string{"content-type": ct}, good, 401, api.CodeMissingUploadKey, "", "need its upload key"},
		{"wrong key", path, "key=" + other, map[string]string{"content-type": ct}, good, 403, api.CodeInvalidUploadKey, "", "not valid for project 42"},
		{"key of the wrong shape", path, "key=" + key + "x", map[string]string{"content-type": ct}, good, 403, api.CodeInvalidUploadKey, "", "not valid"},
		{"unknown project", "/v1/projects/77/minidump", "key=" + key, map[string]string{"content-type": ct}, good, 403, api.CodeInvalidUploadKey, "", "not valid for project 77"},
		{"two different keys", path, "key=" + key + "&sentry_key=" + other, map[string]string{"content-type": ct}, good, 400, api.CodeInvalidField, "key", "carry different upload keys"},
		{"bearer key, wrong", path, "", map[string]string{"content-type": ct, "authorization": "Bearer " + other}, good, 403, api.CodeInvalidUploadKey, "", "not valid"},
		{"bad project id", "/v1/projects/4%232/minidump", "key=" + key, map[string]string{"content-type": ct}, good, 400, api.CodeInvalidField, "project_id", "is not a project id"},
		{"not multipart", path, "key=" + key, map[string]string{"content-type": "application/octet-stream"}, dump, 400, api.CodeInvalidField, "content-type", "is not multipart/form-data"},
		{"no content type", path, "key=" + key, nil, dump, 400, api.CodeInvalidField, "content-type", "is missing"},
		{"no dump", path, "key=" + key, map[string]string{"content-type": ctNoDump}, noDump, 400, api.CodeInvalidField, api.MinidumpField, "is required"},
		{"not a minidump", path, "key=" + key, map[string]string{"content-type": ctElf}, elf, 400, api.CodeNotAMinidump, api.MinidumpField, "a minidump with MDMP"},
		{"declared too large", path, "key=" + key, map[string]string{"content-type": ct, "content-length": "99999999"}, good, 413, api.CodeBodyTooLarge, "", "POST /v1/projects/42/minidump/uploads"},
		{"too large", path, "key=" + key, map[string]string{"content-type": ctBig}, big, 413, api.CodeBodyTooLarge, "", "larger than 65536 bytes"},
		{"unknown encoding", path, "key=" + key, map[string]string{"content-type": ct, "content-encoding": "zstd"}, good, 415, api.CodeUnsupportedEncoding, "content-encoding", `"zstd" is not supported`},
		{"GET", path, "key=" + key, nil, nil, 405, api.CodeMethodNotAllowed, "", "use POST"},
	}
	before := e.snapshot()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ev := upload(t, tc.path, tc.query, tc.headers, tc.body)
			if tc.name == "GET" {
				ev.RequestContext.HTTP.Method = http.MethodGet
			}
			resp := e.post(ev)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, resp.Body)
			}
			b := decode[errorBody](t, resp)
			if b.Error.Code != tc.code || b.Error.Field != tc.field || !strings.Contains(b.Error.Message, tc.msg) {
				t.Errorf("error %+v, want code %s, field %q, message containing %q", b.Error, tc.code, tc.field, tc.msg)
			}
			if tc.status == 401 && resp.Headers["www-authenticate"] == "" {
				t.Error("401 without WWW-Authenticate")
			}
			if strings.Contains(resp.Body, key) {
				t.Errorf("the answer holds the key: %s", resp.Body)
			}
		})
	}
	after := e.snapshot()
	if !slices.Equal(before.objects, after.objects) || !slices.Equal(before.executions, after.executions) {
		t.Errorf("refused uploads wrote objects or started executions:\n%v\n%v", before.objects, after.objects)
	}
	if strings.Contains(logs.String(), key) {
		t.Errorf("the key is in the log")
	}
	if !strings.Contains(logs.String(), `"reason":"project 77 is not configured"`) {
		t.Errorf("the log does not say why a key was refused:\n%s", logs.String())
	}
	// Without a crash bucket the route is off, after the key.
	e.svc.API.CrashBucket = ""
	if resp := e.post(upload(t, path, "key="+key, map[string]string{"content-type": ct}, good)); resp.StatusCode != http.StatusNotImplemented {
		t.Errorf("no crash bucket: %d %s", resp.StatusCode, resp.Body)
	}
}

// TestMinidumpPresigned: a dump too large for the API goes through a
// presigned PUT to the same key; the crash bucket's notification starts
// the execution, as S3's does through EventBridge.
func TestMinidumpPresigned(t *testing.T) {
	e := newEnv(t)
	key := e.makeKey("").UploadKey
	dump := crashy(t)
	const eventID = "0f9e8d7c6b5a49388271605f4e3d2c1b"
	req := func(body string) events.APIGatewayV2HTTPResponse {
		ev := event(t, http.MethodPost, "/v1/projects/42/minidump/uploads", body)
		ev.Headers["x-symflow-key"] = key
		return e.post(ev)
	}
	resp := req(`{"size": ` + jsonInt(len(dump)) + `, "event_id": "0F9E8D7C-6B5A-4938-8271-605F4E3D2C1B", "annotations": {"prod": "crashy", "key": "dropped"}}`)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("presign: %d %s", resp.StatusCode, resp.Body)
	}
	up := decode[api.MinidumpUploadURL](t, resp)
	name := execution.Name("42", eventID)
	if up.EventID != eventID || up.ExecutionID != name || !up.Created || up.Upload == nil || up.Upload.Method != "PUT" ||
		up.Upload.Headers["content-length"] != jsonInt(len(dump)) || up.CrashFile != crashupload.Key("42", eventID, task.KindMinidump) {
		t.Fatalf("presign answered %+v", up)
	}
	u, err := url.Parse(up.Upload.URL)
	if err != nil || !strings.Contains(u.Query().Get("X-Amz-SignedHeaders"), "content-length") || !strings.HasSuffix(u.Path, "/"+stack.CrashBucket+"/"+up.CrashFile) {
		t.Errorf("upload URL %s does not sign the length of the key", up.Upload.URL)
	}
	put, _ := http.NewRequest(http.MethodPut, up.Upload.URL, bytes.NewReader(dump))
	put.ContentLength = int64(len(dump))
	res, err := http.DefaultClient.Do(put)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("PUT: %v %v", res, err)
	}
	res.Body.Close()
	raw, _ := e.object(stack.CrashBucket, crashupload.AnnotationsKey("42", eventID))
	if !bytes.Contains(raw, []byte(`"fields":{"prod":"crashy"}`)) || !bytes.Contains(raw, []byte(`"event_id_from":"request"`)) {
		t.Errorf("annotations %s", raw)
	}
	// The bucket's notification starts the execution.
	deadline := time.Now().Add(30 * time.Second)
	for {
		ex, err := e.svc.Executor.Describe(context.Background(), name)
		if err == nil {
			if !strings.Contains(string(ex.Input), `"crash_file":{"bucket":"`+stack.CrashBucket+`","key":"`+up.CrashFile+`"}`) {
				t.Errorf("execution input %s", ex.Input)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no execution after the presigned upload")
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Asking again for the event: its execution, nothing to upload.
	again := decode[api.MinidumpUploadURL](t, req(`{"size": 1, "event_id": "`+eventID+`"}`))
	if again.Created || again.Upload != nil || again.ExecutionID != name || again.Status == "" {
		t.Errorf("second presign %+v", again)
	}
	// Without an event id each request draws one.
	a := decode[api.MinidumpUploadURL](t, req(`{"size": 10}`))
	b := decode[api.MinidumpUploadURL](t, req(`{"size": 10}`))
	if a.EventID == b.EventID || len(a.EventID) != 32 {
		t.Errorf("drawn event ids %q %q", a.EventID, b.EventID)
	}
	for body, want := range map[string]string{
		`{}`:                            "size: is required",
		`{"size": 0}`:                   "0 is not between 1 and 536870912 bytes",
		`{"size": 600000000}`:           "is not between 1",
		`{"size": 1, "event_id": "x"}`:  `is not a UUID`,
		`{"size": 1, "annotations": 5}`: "annotations",
		``:                              "request body is empty",
	} {
		if resp := req(body); resp.StatusCode != http.StatusBadRequest || !strings.Contains(resp.Body, want) {
			t.Errorf("%s: %d %s", body, resp.StatusCode, resp.Body)
		}
	}
	e.svc.Executor.Wait()
}

func jsonInt(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}
