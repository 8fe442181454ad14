package serve

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
	"github.com/google/uuid"
)

// MaxRequestBytes is API Gateway's (HTTP API) request size limit: larger
// requests never reach the function.
const MaxRequestBytes = 10 << 20

// EventHandler is the API function's handler (api.Server.HandleHTTPAPI).
type EventHandler func(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error)

// Gateway serves HTTP by turning each request into the HTTP API (payload
// format 2.0) event API Gateway would send, and the handler's answer back
// into HTTP.
type Gateway struct {
	Handler EventHandler
	// Precheck, when set, sees each request's event before the body is
	// read (api.Server.PrecheckHTTPAPI); a refusal is answered at once and
	// the body is never read.
	Precheck func(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, bool)
}

func (g Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if g.Precheck != nil {
		if resp, ok := g.Precheck(r.Context(), Event(r, nil)); !ok {
			writeResponse(w, resp)
			return
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxRequestBytes))
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		writeJSON(w, http.StatusRequestEntityTooLarge, `{"message":"Request Entity Too Large"}`)
		return
	}
	if err != nil {
		writeJSON(w, http.StatusBadRequest, `{"message":"Bad Request"}`)
		return
	}
	ev := Event(r, body)
	resp, err := g.Handler(r.Context(), ev)
	if err != nil {
		// What API Gateway answers when the integration fails.
		writeJSON(w, http.StatusInternalServerError, `{"message":"Internal Server Error"}`)
		return
	}
	writeResponse(w, resp)
}

// writeResponse writes the handler's answer as API Gateway would.
func writeResponse(w http.ResponseWriter, resp events.APIGatewayV2HTTPResponse) {
	for k, v := range resp.Headers {
		w.Header().Set(k, v)
	}
	out := []byte(resp.Body)
	if resp.IsBase64Encoded {
		var err error
		if out, err = base64.StdEncoding.DecodeString(resp.Body); err != nil {
			writeJSON(w, http.StatusInternalServerError, `{"message":"Internal Server Error"}`)
			return
		}
	}
	status := resp.StatusCode
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	w.Write(out) //nolint:errcheck // the client went away
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	io.WriteString(w, body) //nolint:errcheck // the client went away
}

// Event is the HTTP API event for r with body, on the $default stage. A
// body that is not UTF-8 text is base64-encoded, as API Gateway does for
// binary media.
func Event(r *http.Request, body []byte) events.APIGatewayV2HTTPRequest {
	hdr := map[string]string{}
	for k, vs := range r.Header {
		hdr[strings.ToLower(k)] = strings.Join(vs, ",")
	}
	hdr["x-forwarded-proto"] = "http"
	now := time.Now().UTC()
	ev := events.APIGatewayV2HTTPRequest{
		Version:        "2.0",
		RouteKey:       "$default",
		RawPath:        r.URL.Path,
		RawQueryString: r.URL.RawQuery,
		Headers:        hdr,
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			AccountID:    "000000000000",
			APIID:        "local",
			DomainName:   r.Host,
			DomainPrefix: "local",
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{
				Method:    r.Method,
				Path:      r.URL.Path,
				Protocol:  r.Proto,
				SourceIP:  strings.Split(r.RemoteAddr, ":")[0],
				UserAgent: r.UserAgent(),
			},
			RequestID: uuid.NewString(),
			RouteKey:  "$default",
			Stage:     "$default",
			Time:      now.Format("02/Jan/2006:15:04:05 -0700"),
			TimeEpoch: now.UnixMilli(),
		},
	}
	if len(body) > 0 {
		if utf8.Valid(body) && !strings.HasPrefix(r.Header.Get("Content-Type"), "application/octet-stream") {
			ev.Body = string(body)
		} else {
			ev.Body, ev.IsBase64Encoded = base64.StdEncoding.EncodeToString(body), true
		}
	}
	return ev
}
