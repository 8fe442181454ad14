package api

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"

	"github.com/aws/aws-lambda-go/events"
)

// Environment variables the entry points read besides the tables' and the
// buckets the workflow shares (shared/task's EnvResultsBucket and
// EnvDebugFilesBucket).
const (
	EnvStateMachineArn = "STATE_MACHINE_ARN"
	EnvCrashBucket     = "CRASH_BUCKET" // offloaded payloads
)

// HandleHTTPAPI adapts an API Gateway HTTP API (payload format 2.0)
// event. It is the only place that sees API Gateway's types; the error it
// returns is always nil, as every failure is an HTTP answer.
func (s *Server) HandleHTTPAPI(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	req, err := FromHTTPAPI(ev)
	var resp Response
	var bad *apiError
	if errors.As(err, &bad) {
		resp = errorResponse(bad)
	} else {
		resp = s.Handle(ctx, req)
	}
	return events.APIGatewayV2HTTPResponse{
		StatusCode: resp.Status,
		Headers:    resp.Header,
		Body:       string(resp.Body),
	}, nil
}

// FromHTTPAPI turns an HTTP API event into a Request: the stage prefix is
// dropped from the path, headers lowercased, a base64 body decoded. A body
// that is not valid base64 is an error HandleHTTPAPI answers 400.
func FromHTTPAPI(ev events.APIGatewayV2HTTPRequest) (Request, error) {
	method := ev.RequestContext.HTTP.Method
	path := ev.RawPath
	if path == "" {
		path = ev.RequestContext.HTTP.Path
	}
	if st := ev.RequestContext.Stage; st != "" && st != "$default" {
		path = strings.TrimPrefix(path, "/"+st)
	}
	hdr := make(map[string]string, len(ev.Headers))
	for k, v := range ev.Headers {
		hdr[strings.ToLower(k)] = v
	}
	body := []byte(ev.Body)
	if ev.IsBase64Encoded {
		b, err := base64.StdEncoding.DecodeString(ev.Body)
		if err != nil {
			return Request{}, &apiError{status: http.StatusBadRequest, body: Error{Code: CodeMalformedJSON, Message: "the body is not valid base64"}}
		}
		body = b
	}
	base := ""
	if host := ev.RequestContext.DomainName; host != "" {
		scheme := "https"
		if p := hdr["x-forwarded-proto"]; p == "http" {
			scheme = "http"
		}
		base = scheme + "://" + host
		if st := ev.RequestContext.Stage; st != "" && st != "$default" {
			base += "/" + st
		}
	}
	return Request{
		Method:    method,
		Path:      path,
		Header:    hdr,
		Body:      body,
		BaseURL:   base,
		RequestID: ev.RequestContext.RequestID,
	}, nil
}
