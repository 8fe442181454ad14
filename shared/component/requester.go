package component

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/symflow/symflow/shared/project"
)

// Headers of a request to an app.
const (
	SignatureHeader = "Sentry-App-Signature"
	RequestIDHeader = "Request-ID"
)

// maxMessageLen bounds the upstream message kept in an error: it is the
// app's text and ends up in execution output.
const maxMessageLen = 256

// ErrNoWebhookURL is wrapped by the errors of an app that has no webhook URL
// to send requests to.
var ErrNoWebhookURL = errors.New("app has no webhook url")

// Doer sends HTTP requests; *http.Client is one. Use SafeClient for requests
// to apps.
type Doer interface {
	Do(req *http.Request) (*http.Response, error)
}

// SelectRequest asks an app for the options of one select field.
type SelectRequest struct {
	Installation project.Installation
	// ProjectSlug, Query and DependentData are sent when set. DependentData
	// is a JSON object of the values of the fields this one depends on.
	ProjectSlug   string
	URI           string
	Query         string
	DependentData string
}

// Choices are a select field's options as the UI expects them.
type Choices struct {
	// Choices are [value, label] pairs, the app's JSON values verbatim.
	Choices [][2]json.RawMessage `json:"choices"`
	// DefaultValue is the value of the option marked default, if any.
	DefaultValue json.RawMessage `json:"defaultValue,omitempty"`
}

// RequestError is a failed request to an app: no webhook URL, a network
// failure, a timeout, a body over the size limit or a non-2xx answer. It
// names the app and the URI, never the client secret.
type RequestError struct {
	App string
	URI string
	// StatusCode is the app's HTTP status, 0 when there was no answer.
	StatusCode int
	// Message is the app's own explanation (the "message" of a JSON body).
	Message string
	Err     error
}

// Error names the app, the URI, the status and the cause. The credentials
// of any URL in it are hidden (the cause may be net/http's, which quotes
// the URL it was given).
func (e *RequestError) Error() string {
	return project.RedactURLs(e.text())
}

func (e *RequestError) text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "select options from app %q uri %q", e.App, e.URI)
	if e.StatusCode != 0 {
		fmt.Fprintf(&b, ": status %d", e.StatusCode)
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	return b.String()
}

func (e *RequestError) Unwrap() error { return e.Err }

// InvalidResponseError is an answer from an app that is not a JSON array of
// options each with a value and a label.
type InvalidResponseError struct {
	App string
	URI string
	// Index is the offending option's position, -1 for the whole body.
	Index int
	// Key is the missing key ("value" or "label"), if that is what is wrong.
	Key    string
	Reason string
}

func (e *InvalidResponseError) Error() string {
	where := "response"
	if e.Index >= 0 {
		where = fmt.Sprintf("option %d", e.Index)
	}
	return fmt.Sprintf("select options from app %q uri %q: %s: %s", e.App, e.URI, where, e.Reason)
}

// SelectRequester fetches select-field options from sentry apps, as the
// reference's SelectRequester does. The zero value uses a SafeClient with
// default options.
type SelectRequester struct {
	// Client sends the requests; nil means SafeClient(ClientOptions{}).
	Client Doer
	// MaxResponseBytes bounds the body read whatever the Client
	// (DefaultMaxResponseBytes when 0).
	MaxResponseBytes int64
	// Logger gets one debug line per request; nil means slog.Default().
	Logger *slog.Logger
}

// NewSelectRequester returns a requester sending through client.
func NewSelectRequester(client Doer, logger *slog.Logger) *SelectRequester {
	return &SelectRequester{Client: client, Logger: logger}
}

var defaultClient = SafeClient(ClientOptions{})

// Request GETs the app's webhook URL with path req.URI, signed with the
// installation's client secret, and returns the options it answers.
// Errors are *RequestError or *InvalidResponseError.
func (r *SelectRequester) Request(ctx context.Context, req SelectRequest) (Choices, error) {
	app := req.Installation.AppSlug
	fail := func(status int, msg string, err error) (Choices, error) {
		return Choices{}, &RequestError{App: app, URI: req.URI, StatusCode: status, Message: msg, Err: err}
	}
	u, err := appURL(req.Installation.WebhookURL, req.URI)
	if err != nil {
		return fail(0, "", err)
	}
	// Credentials in the webhook URL are sent as Basic authorization, as
	// Sentry's HTTP client sends them, but the request's URL holds none:
	// net/http quotes that URL in its errors (with the user name, the
	// password masked), and errors reach logs and execution output. Go
	// drops the header on a redirect to another domain, as it would the
	// URL's userinfo.
	u, creds := project.StripURLCredentials(u)
	scrub := credentialScrubber(creds)
	q := []string{"installationId=" + url.QueryEscape(req.Installation.UUID)}
	if req.ProjectSlug != "" {
		q = append(q, "projectSlug="+url.QueryEscape(req.ProjectSlug))
	}
	if req.Query != "" {
		q = append(q, "query="+url.QueryEscape(req.Query))
	}
	if req.DependentData != "" {
		q = append(q, "dependentData="+url.QueryEscape(req.DependentData))
	}
	u.RawQuery = strings.Join(q, "&")
	// A fragment is never sent in an HTTP request; drop it here so that it
	// is in no error either.
	u.Fragment, u.RawFragment = "", ""

	hreq, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return fail(0, "", err)
	}
	hreq.Header.Set("Content-Type", "application/json")
	requestID := strings.ReplaceAll(uuid.NewString(), "-", "")
	hreq.Header.Set(RequestIDHeader, requestID)
	hreq.Header.Set(SignatureHeader, Sign(req.Installation.ClientSecret, nil))
	if creds != nil {
		pass, _ := creds.Password()
		hreq.SetBasicAuth(creds.Username(), pass)
	}

	client := r.Client
	if client == nil {
		client = defaultClient
	}
	limit := r.MaxResponseBytes
	if limit <= 0 {
		limit = DefaultMaxResponseBytes
	}
	logger := r.Logger
	if logger == nil {
		logger = slog.Default()
	}
	start := time.Now()
	resp, err := client.Do(hreq)
	if err != nil {
		err = scrubbedError{err: err, scrub: scrub}
		logger.DebugContext(ctx, "select options request failed",
			"app", app, "uri", req.URI, "request_id", requestID, "error", err.Error())
		return fail(0, "", err)
	}
	defer resp.Body.Close()
	body, err := readLimited(resp.Body, limit)
	logger.DebugContext(ctx, "select options requested",
		"app", app, "uri", req.URI, "request_id", requestID, "status", resp.StatusCode, "bytes", len(body), "duration", time.Since(start))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		// The app's message is its own text: it may echo the
		// credentials it was sent.
		return fail(resp.StatusCode, scrub(upstreamMessage(body)), nil)
	}
	if err != nil {
		return fail(resp.StatusCode, "", fmt.Errorf("read body: %w", err))
	}
	return parseChoices(app, req.URI, body)
}

// minScrubLen is the shortest credential part credentialScrubber removes
// from a text on its own: a shorter one would blot out ordinary words, and
// says little about the credential.
const minScrubLen = 4

// credentialScrubber returns a function that removes from a text every
// spelling of the credentials an app was sent: the Basic authorization
// value, "user:password", and the password and the user name on their
// own (a token is often the user name). It removes nothing when creds is
// nil.
func credentialScrubber(creds *url.Userinfo) func(string) string {
	if creds == nil {
		return func(s string) string { return s }
	}
	user := creds.Username()
	pass, _ := creds.Password()
	pair := user + ":" + pass
	var secrets []string
	for _, s := range []string{base64.StdEncoding.EncodeToString([]byte(pair)), pair, url.UserPassword(user, pass).String(), pass, user} {
		if len(s) >= minScrubLen && s != ":" {
			secrets = append(secrets, s)
		}
	}
	return func(s string) string {
		for _, secret := range secrets {
			s = strings.ReplaceAll(s, secret, project.HiddenUserinfo)
		}
		return project.RedactURLs(s)
	}
}

// scrubbedError is an error whose text has the credentials of the request
// removed; errors.As and errors.Is still see the error it wraps.
type scrubbedError struct {
	err   error
	scrub func(string) string
}

func (e scrubbedError) Error() string { return e.scrub(e.err.Error()) }
func (e scrubbedError) Unwrap() error { return e.err }

// Sign is the Sentry-App-Signature of body: hex(HMAC-SHA256(secret, body)).
func Sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// appURL is webhookURL with its path replaced by uri, as Sentry builds the
// URL of an app's endpoint (urlparse the webhook URL, replace the path,
// urlunparse): scheme, user info, host and port stay, and so do the
// fragment and the parameters of the last path segment (";v=2" in
// "/hook;v=2"), which Python's urlparse keeps apart from the path and
// urlunparse appends after the new one. The query is the caller's to set.
func appURL(webhookURL, uri string) (*url.URL, error) {
	if webhookURL == "" {
		return nil, ErrNoWebhookURL
	}
	u, err := url.Parse(webhookURL)
	if err != nil {
		// The parse error quotes the URL, which may carry credentials.
		return nil, errors.New("webhook url is not a valid URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("webhook url scheme %q is not http or https", u.Scheme)
	}
	if u.Host == "" {
		return nil, errors.New("webhook url has no host")
	}
	params := pathParams(u.EscapedPath())
	u.Path, u.RawPath = uri, ""
	if params != "" {
		// params is already escaped as the webhook URL wrote it; keep that
		// text rather than escaping it again.
		if unescaped, err := url.PathUnescape(params); err == nil {
			escaped := u.EscapedPath()
			u.Path = uri + ";" + unescaped
			u.RawPath = escaped + ";" + params
		}
	}
	u.RawQuery = ""
	return u, nil
}

// pathParams is what Python's urlparse calls the params of an http(s) URL
// path: the text after the first ";" of its last segment, "" when there is
// none (urlunparse then writes no ";").
func pathParams(path string) string {
	last := path[strings.LastIndexByte(path, '/')+1:]
	i := strings.IndexByte(last, ';')
	if i < 0 {
		return ""
	}
	return last[i+1:]
}

// upstreamMessage is the "message" of a JSON error body, shortened.
func upstreamMessage(body []byte) string {
	var v struct {
		Message any `json:"message"`
	}
	if json.Unmarshal(body, &v) != nil || v.Message == nil {
		return ""
	}
	msg, ok := v.Message.(string)
	if !ok {
		b, _ := json.Marshal(v.Message)
		msg = string(b)
	}
	if len(msg) > maxMessageLen {
		cut := maxMessageLen
		for cut > 0 && !utf8.RuneStart(msg[cut]) {
			cut--
		}
		msg = msg[:cut] + "…"
	}
	return msg
}

// parseChoices turns the app's [{value, label, default?}, …] into Choices.
func parseChoices(app, uri string, body []byte) (Choices, error) {
	bad := func(i int, key, reason string) (Choices, error) {
		return Choices{}, &InvalidResponseError{App: app, URI: uri, Index: i, Key: key, Reason: reason}
	}
	if !json.Valid(body) {
		return bad(-1, "", "not valid JSON")
	}
	items, err := decodeArray(body)
	if err != nil {
		return bad(-1, "", err.Error())
	}
	out := Choices{Choices: make([][2]json.RawMessage, 0, len(items))}
	for i, it := range items {
		o, err := decodeObject(it)
		if err != nil {
			return bad(i, "", err.Error())
		}
		value, ok := o.get("value")
		if !ok {
			return bad(i, "value", `missing "value"`)
		}
		label, ok := o.get("label")
		if !ok {
			return bad(i, "label", `missing "label"`)
		}
		out.Choices = append(out.Choices, [2]json.RawMessage{compact(value), compact(label)})
		if d, ok := o.get("default"); ok && truthy(d) {
			out.DefaultValue = compact(value)
		}
	}
	return out, nil
}

// compact removes insignificant space from a valid JSON value.
func compact(raw json.RawMessage) json.RawMessage {
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return raw
	}
	return buf.Bytes()
}
