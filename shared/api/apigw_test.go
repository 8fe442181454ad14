package api_test

import (
	"net/http"
	"testing"

	"github.com/symflow/symflow/shared/api"
)

func TestFromHTTPAPI(t *testing.T) {
	ev := event(t, http.MethodGet, "/prod/v1/executions/x", "")
	ev.RequestContext.Stage = "prod"
	req, err := api.FromHTTPAPI(ev)
	if err != nil {
		t.Fatal(err)
	}
	if req.Path != "/v1/executions/x" || req.BaseURL != "https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com/prod" || req.RequestID == "" || req.Header["user-agent"] != "curl/8.5.0" {
		t.Errorf("request %+v", req)
	}
	ev = event(t, http.MethodPost, "/v1/projects/42/debug-files", "not base64!")
	ev.IsBase64Encoded = true
	if _, err := api.FromHTTPAPI(ev); err == nil {
		t.Error("a body that is not base64 was accepted")
	}
	e := newEnv(t)
	if resp := e.send(ev); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("bad base64: %d %s", resp.StatusCode, resp.Body)
	}
}
