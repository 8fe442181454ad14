package api

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/symflow/symflow/shared/project"
)

// Upload keys. Crashing applications cannot sign requests, so the minidump
// routes take the project's upload key (project.UploadKey) instead of the
// operators' IAM signature. A client may carry it in any of the places
// crash reporters can be configured to use:
//
//	?key=KEY                              a URL for Crashpad or Breakpad
//	X-Symflow-Key: KEY                    a header
//	Authorization: Bearer KEY
//	?sentry_key=KEY                       Sentry's clients (sentry-native builds the
//	X-Sentry-Auth: Sentry sentry_key=KEY   minidump URL from a DSN https://KEY@host/PROJECT)
//	Authorization: Sentry sentry_key=KEY
//
// The key is never logged, never written anywhere but as its hash, and
// never echoed in an answer: only the answer that makes it shows it.

// HeaderUploadKey is symflow's own header for the upload key.
const HeaderUploadKey = "x-symflow-key"

// MaxKeepPreviousUploadKey bounds how long a rotation keeps the replaced
// key working.
const MaxKeepPreviousUploadKey = 90 * 24 * time.Hour

// keyPlace is one place a request may carry the key.
type keyPlace struct {
	name  string
	value string
}

// uploadKeyFrom returns the upload key r carries, or "" when it carries
// none. Different keys in two places are refused: which one was meant is
// anyone's guess.
func uploadKeyFrom(r *Request) (string, *apiError) {
	var found []keyPlace
	add := func(name, v string) {
		if v = strings.TrimSpace(v); v != "" {
			found = append(found, keyPlace{name, v})
		}
	}
	add("the key query parameter", r.Query.Get("key"))
	add("the sentry_key query parameter", r.Query.Get("sentry_key"))
	add("the X-Symflow-Key header", r.Header[HeaderUploadKey])
	add("the X-Sentry-Auth header", sentryAuthKey(r.Header["x-sentry-auth"]))
	if a := r.Header["authorization"]; a != "" {
		scheme, rest, _ := strings.Cut(strings.TrimSpace(a), " ")
		switch strings.ToLower(scheme) {
		case "bearer":
			add("the Authorization header", rest)
		case "sentry":
			add("the Authorization header", sentryAuthKey(a))
		}
	}
	if len(found) == 0 {
		return "", nil
	}
	for _, f := range found[1:] {
		if f.value != found[0].value {
			return "", badField("key", "%s and %s carry different upload keys; send one", found[0].name, f.name)
		}
	}
	return found[0].value, nil
}

// sentryAuthKey reads sentry_key from a Sentry auth header value:
// "Sentry sentry_version=7, sentry_client=…, sentry_key=KEY".
func sentryAuthKey(h string) string {
	h = strings.TrimSpace(h)
	if len(h) < 7 || !strings.EqualFold(h[:7], "sentry ") {
		return ""
	}
	for _, kv := range strings.Split(h[7:], ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if ok && strings.TrimSpace(k) == "sentry_key" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// precheckUploadKey admits requests that carry a valid upload key of the
// project in the path; a route that takes uploads also needs somewhere to
// put them.
func (s *Server) precheckUploadKey(ctx context.Context, r *Request, p params) *apiError {
	id := p["project_id"]
	if e := checkProjectID(id); e != nil {
		return e
	}
	return s.authorizeUpload(ctx, r, id)
}

// authorizeUpload checks the upload key r carries against the project's.
// An unknown project, a project without keys and a wrong key get the same
// answer, so the answer tells a caller without a key nothing about the
// project; the log line tells operators which it was.
func (s *Server) authorizeUpload(ctx context.Context, r *Request, projectID string) *apiError {
	key, e := uploadKeyFrom(r)
	if e != nil {
		return e
	}
	log := s.requestLog(*r)
	if key == "" {
		return &apiError{
			status: http.StatusUnauthorized,
			body: Error{Code: CodeMissingUploadKey, Message: fmt.Sprintf(
				"uploads to project %s need its upload key: add ?key=KEY to the URL (or the X-Symflow-Key header, or Sentry's sentry_key); an operator makes one with POST /v1/projects/%s/config/upload-key", projectID, projectID)},
			header: map[string]string{"www-authenticate": `Bearer realm="symflow uploads"`},
		}
	}
	refused := &apiError{status: http.StatusForbidden, body: Error{Code: CodeInvalidUploadKey, Message: fmt.Sprintf(
		"the upload key is not valid for project %s (a rotated key stops working when its grace period ends)", projectID)}}
	if !project.ValidUploadKeyShape(key) {
		log.InfoContext(ctx, "upload key refused", "reason", "not the shape of an upload key")
		return refused
	}
	p, found, e := s.loadProject(ctx, projectID)
	switch {
	case e != nil:
		return e
	case !found:
		log.InfoContext(ctx, "upload key refused", "reason", "project "+projectID+" is not configured")
		return refused
	case len(p.UploadKeys) == 0:
		log.InfoContext(ctx, "upload key refused", "reason", "project "+projectID+" has no upload key")
		return refused
	case !p.AcceptsUploadKey(key, s.now()):
		log.InfoContext(ctx, "upload key refused", "reason", "no live key of project "+projectID+" matches", "fingerprint", project.UploadKeyFingerprint(key))
		return refused
	}
	return nil
}

// rotateBody is the optional body of POST …/config/upload-key.
type rotateBody struct {
	// KeepPreviousSeconds keeps the keys accepted so far working this
	// long; 0 (the default) revokes them at once.
	KeepPreviousSeconds int64 `json:"keep_previous_seconds"`
}

// UploadKeyCreated answers the making of an upload key: the only answer
// that ever holds the key itself.
type UploadKeyCreated struct {
	ProjectID   string    `json:"project_id"`
	UploadKey   string    `json:"upload_key"`
	Fingerprint string    `json:"fingerprint"`
	CreatedAt   time.Time `json:"created_at"`
	// MinidumpURL is the URL to configure Crashpad or Breakpad with.
	MinidumpURL string `json:"minidump_url"`
	// SentryDSN is what sentry-native (and other Sentry clients' minidump
	// uploads) are configured with; Sentry DSNs name projects by number, so
	// it is set for numeric project ids only.
	SentryDSN string `json:"sentry_dsn,omitempty"`
	// UploadKeys are the keys now accepted, the new one first, as the
	// configuration shows them (fingerprints, no hashes).
	UploadKeys []project.UploadKey `json:"upload_keys"`
}

var numericID = regexp.MustCompile(`^[0-9]+$`)

func (s *Server) rotateUploadKey(ctx context.Context, r *Request, p params) (int, any, *apiError) {
	id := p["project_id"]
	if e := checkProjectID(id); e != nil {
		return 0, nil, e
	}
	if max := limit(s.MaxConfigBytes, DefaultMaxConfigBytes); len(r.Body) > max {
		return 0, nil, tooLarge("the request", max, "")
	}
	var body rotateBody
	if len(bytes.TrimSpace(r.Body)) > 0 {
		if e := decodeStrict(r.Body, &body); e != nil {
			return 0, nil, e
		}
	}
	keep := time.Duration(body.KeepPreviousSeconds) * time.Second
	if body.KeepPreviousSeconds < 0 || keep > MaxKeepPreviousUploadKey {
		return 0, nil, badField("keep_previous_seconds", "%d is not between 0 and %d (90 days)", body.KeepPreviousSeconds, int64(MaxKeepPreviousUploadKey/time.Second))
	}
	stored, e := s.configuredProject(ctx, id)
	if e != nil {
		return 0, nil, e
	}
	now := s.now()
	key, next, err := project.NewUploadKey(s.random(), now)
	if err != nil {
		return 0, nil, internalErr("upload key", err)
	}
	stored.UploadKeys = project.RotateUploadKeys(stored.UploadKeys, next, keep, now)
	// The store keeps the last debug-file upload time apart; writing it
	// back unchanged is a no-op there.
	if err := s.Projects.PutProject(ctx, stored); err != nil {
		return 0, nil, internalErr("store project", err)
	}
	out := UploadKeyCreated{
		ProjectID:   id,
		UploadKey:   key,
		Fingerprint: next.Fingerprint,
		CreatedAt:   next.CreatedAt,
		MinidumpURL: r.BaseURL + "/v1/projects/" + id + "/minidump?key=" + key,
		UploadKeys:  hideUploadKeys(stored.UploadKeys),
	}
	if u, err := url.Parse(r.BaseURL); err == nil && u.Host != "" && numericID.MatchString(id) {
		u.User = url.User(key)
		out.SentryDSN = strings.TrimSuffix(u.String(), "/") + "/" + id
	}
	return http.StatusCreated, out, nil
}

// UploadKeysRevoked answers the revocation of a project's upload keys.
type UploadKeysRevoked struct {
	ProjectID string `json:"project_id"`
	Revoked   int    `json:"revoked"`
}

func (s *Server) revokeUploadKeys(ctx context.Context, r *Request, p params) (int, any, *apiError) {
	id := p["project_id"]
	if e := checkProjectID(id); e != nil {
		return 0, nil, e
	}
	stored, e := s.configuredProject(ctx, id)
	if e != nil {
		return 0, nil, e
	}
	n := len(stored.UploadKeys)
	if n > 0 {
		stored.UploadKeys = nil
		if err := s.Projects.PutProject(ctx, stored); err != nil {
			return 0, nil, internalErr("store project", err)
		}
	}
	return http.StatusOK, UploadKeysRevoked{ProjectID: id, Revoked: n}, nil
}

// hideUploadKeys is keys as a configuration shows them: without hashes.
func hideUploadKeys(keys []project.UploadKey) []project.UploadKey {
	if keys == nil {
		return nil
	}
	out := make([]project.UploadKey, len(keys))
	for i, k := range keys {
		k.SHA256 = ""
		out[i] = k
	}
	return out
}

func (s *Server) random() io.Reader {
	if s.Random != nil {
		return s.Random
	}
	return rand.Reader
}
