package runtimeapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/symflow/symflow/local/runtimeapi"
	locals3 "github.com/symflow/symflow/local/s3"
	"github.com/symflow/symflow/shared/component"
	"github.com/symflow/symflow/shared/project"
	"github.com/symflow/symflow/shared/task"
)

// TestComponentsReachLoopbackApp runs the real prepare-components binary
// against an app on loopback: LocalEnv lets it reach the app, as local
// mode's in-process handlers do, and without COMPONENTS_ALLOW_LOOPBACK the
// production policy refuses it. The prepared schemas land in the local S3
// through path-style addressing.
func TestComponentsReachLoopbackApp(t *testing.T) {
	local := startLocalAWS(t)
	ctx := context.Background()
	var requests atomic.Int32
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		if r.Header.Get(component.SignatureHeader) != component.Sign("app-secret", nil) {
			http.Error(w, `{"message":"bad signature"}`, http.StatusUnauthorized)
			return
		}
		fmt.Fprint(w, `[{"value":"u1","label":"Ada"}]`)
	}))
	t.Cleanup(app.Close)
	p := project.Project{ID: "7", Slug: "backend", Installations: []project.Installation{{
		UUID: "inst-1", AppSlug: "tracker", WebhookURL: app.URL + "/hook", ClientSecret: "app-secret",
		Components: []project.Component{{UUID: "comp-1", Type: component.TypeIssueLink,
			Schema: json.RawMessage(`{"create":{"required_fields":[{"type":"select","name":"assignee","uri":"/assignees"}]}}`)}},
	}}}
	if err := local.store.PutProject(ctx, p); err != nil {
		t.Fatal(err)
	}
	if err := local.store.PutInstallation(ctx, p.ID, p.Installations[0]); err != nil {
		t.Fatal(err)
	}
	input := json.RawMessage(`{"state":{"project_id":"7","event_id":"00112233445566778899aabbccddeeff","kind":"payload","payload":{}}}`)
	bin := realFunctions(t)["prepare-components"]

	cases := []struct {
		name      string
		allow     string
		wantOK    bool
		wantError string
	}{
		{"local mode allows loopback", "true", true, ""},
		{"production policy refuses it", "false", false, "loopback"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			requests.Store(0)
			env := maps.Clone(local.env)
			maps.Copy(env, runtimeapi.LocalEnv(runtimeapi.Local{}))
			env["COMPONENTS_ALLOW_LOOPBACK"] = tc.allow
			logs := &syncBuffer{buf: new(bytes.Buffer)}
			f := newFunction(t, runtimeapi.Config{Name: "PrepareComponentsFunction", Bootstrap: bin, Env: env,
				Timeout: 55 * time.Second, Output: logs})
			out, err := f.Invoke(ctx, input)
			if err != nil {
				t.Fatalf("invoke: %v\nlogs:\n%s", err, logs.String())
			}
			var comps task.Components
			if err := json.Unmarshal(out, &comps); err != nil {
				t.Fatalf("output %s: %v", out, err)
			}
			if tc.wantOK {
				if comps.Prepared != 1 || comps.Failed != 0 || requests.Load() == 0 {
					t.Errorf("components %s after %d app requests: want 1 prepared through the app", out, requests.Load())
				}
			} else {
				if comps.Failed != 1 || requests.Load() != 0 || len(comps.Items) != 1 || !strings.Contains(comps.Items[0].Error, tc.wantError) {
					t.Errorf("components %s after %d app requests: want 1 failed naming %q, no request", out, requests.Load(), tc.wantError)
				}
			}
			if comps.Schemas == nil {
				t.Fatalf("components %s: no stored schemas", out)
			}
			s3c := locals3.Client(local.env["AWS_ENDPOINT_URL_S3"])
			obj, err := s3c.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String(comps.Schemas.Bucket), Key: aws.String(comps.Schemas.Key)})
			if err != nil {
				t.Fatalf("stored schemas %+v: %v", comps.Schemas, err)
			}
			obj.Body.Close()
			if strings.Contains(logs.String(), "app-secret") {
				t.Error("function logs hold the client secret")
			}
		})
	}
}
