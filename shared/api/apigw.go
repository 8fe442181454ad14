package api

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/aws/aws-lambda-go/events"
)

// Environment variables the entry points read besides the tables' and the
// buckets the workflow shares (shared/task's EnvResultsBucket and
// EnvDebugFilesBucket).
const (
	EnvStateMachineArn = "STATE_MACHINE_ARN"
	EnvCrashBucket     = "CRASH_BUCKET" // offloaded payloads and uploaded minidumps
)

// HandleHTTPAPI adapts an API Gateway HTTP API (payload format 2.0)
// event. It is the only place that sees API Gateway's types; the error it
// returns is always nil, as every failure is an HTTP answer. The body is
// decoded only once Precheck has passed the request.
func (s *Server) HandleHTTPAPI(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	req := requestHead(ev)
	resp, ok := s.Precheck(ctx, &req)
	if ok {
		body, err := eventBody(ev)
		var bad *apiError
		if errors.As(err, &bad) {
			resp = errorResponse(bad)
		} else {
			req.Body = body
			resp = s.Handle(ctx, req)
		}
	}
	return httpAPIResponse(resp), nil
}

// PrecheckHTTPAPI runs Precheck on an event whose body has not been read
// (local/serve calls it before reading the request body, as API Gateway
// runs an authorizer before the integration). ok is false when the
// request is refused, with the answer.
func (s *Server) PrecheckHTTPAPI(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, bool) {
	req := requestHead(ev)
	resp, ok := s.Precheck(ctx, &req)
	if ok {
		return events.APIGatewayV2HTTPResponse{}, true
	}
	return httpAPIResponse(resp), false
}

func httpAPIResponse(resp Response) events.APIGatewayV2HTTPResponse {
	return events.APIGatewayV2HTTPResponse{
		StatusCode: resp.Status,
		Headers:    resp.Header,
		Body:       string(resp.Body),
	}
}

// FromHTTPAPI turns an HTTP API event into a Request: the stage prefix is
// dropped from the path, headers lowercased, the query string parsed, a
// base64 body decoded. A body that is not valid base64 is an error
// HandleHTTPAPI answers 400.
func FromHTTPAPI(ev events.APIGatewayV2HTTPRequest) (Request, error) {
	req := requestHead(ev)
	body, err := eventBody(ev)
	if err != nil {
		return Request{}, err
	}
	req.Body = body
	return req, nil
}

// requestHead is the request without its body.
func requestHead(ev events.APIGatewayV2HTTPRequest) Request {
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
	// A query string that does not parse keeps the pairs that do, as
	// net/http does; API Gateway's parsed parameters stand in when the raw
	// string is missing.
	query, _ := url.ParseQuery(ev.RawQueryString)
	if ev.RawQueryString == "" && len(ev.QueryStringParameters) > 0 {
		query = url.Values{}
		for k, v := range ev.QueryStringParameters {
			query.Set(k, v)
		}
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
		Query:     query,
		BaseURL:   base,
		RequestID: ev.RequestContext.RequestID,
	}
}

// eventBody is the event's body, base64-decoded when API Gateway encoded
// it (binary media).
func eventBody(ev events.APIGatewayV2HTTPRequest) ([]byte, error) {
	if !ev.IsBase64Encoded {
		return []byte(ev.Body), nil
	}
	b, err := base64.StdEncoding.DecodeString(ev.Body)
	if err != nil {
		return nil, &apiError{status: http.StatusBadRequest, body: Error{Code: CodeMalformedJSON, Message: "the body is not valid base64"}}
	}
	return b, nil
}
