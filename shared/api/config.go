package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/symflow/symflow/shared/dynamo"
	"github.com/symflow/symflow/shared/project"
	"github.com/symflow/symflow/shared/scraping"
	"github.com/symflow/symflow/shared/sources"
)

// HiddenValue stands for a secret held in a plain string field (the
// scraping token, an installation's client secret) wherever a
// configuration leaves the API; symbol sources use {"hidden-secret": true}.
// Sending it back on write keeps the stored value.
const HiddenValue = scraping.HiddenValue

// configBody is a configuration as PUT receives it: project.Project, with
// symbol_sources accepted as the JSON string the reference stores or as
// the array itself, and the read-only fields GET returns accepted (and
// ignored) so that a read configuration can be written back as it is.
type configBody struct {
	ID                  string                 `json:"id"`
	Slug                string                 `json:"slug"`
	Organization        project.Organization   `json:"organization"`
	Options             optionsBody            `json:"options"`
	AllowedOrigins      []string               `json:"allowed_origins"`
	LastDebugFileUpload json.RawMessage        `json:"last_debug_file_upload"` // read-only
	Installations       []project.Installation `json:"installations"`
	// UploadKeys are changed through …/config/upload-key only: what GET
	// shows is accepted back and ignored, and the stored keys are kept.
	UploadKeys json.RawMessage `json:"upload_keys"` // read-only
}

type optionsBody struct {
	SymbolSources        json.RawMessage `json:"symbol_sources"`
	BuiltinSymbolSources []string        `json:"builtin_symbol_sources"`
	ScrapeJavaScript     *bool           `json:"scrape_javascript"`
	VerifySSL            *bool           `json:"verify_ssl"`
	Token                string          `json:"token"`
	TokenHeader          string          `json:"token_header"`
}

var (
	slugPattern   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$`)
	headerPattern = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$")
	uuidPattern   = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
)

// loadProject reads the project; found is false for an unknown one.
func (s *Server) loadProject(ctx context.Context, id string) (p project.Project, found bool, e *apiError) {
	p, err := s.Projects.GetProject(ctx, id)
	if errors.Is(err, dynamo.ErrNotFound) {
		return project.Project{}, false, nil
	}
	if err != nil {
		return project.Project{}, false, internalErr("read project", err)
	}
	return p, true, nil
}

// configuredProject loads project id, which must be configured.
func (s *Server) configuredProject(ctx context.Context, id string) (project.Project, *apiError) {
	p, found, e := s.loadProject(ctx, id)
	if e == nil && !found {
		e = projectNotFound(id)
	}
	return p, e
}

func projectNotFound(id string) *apiError {
	return notFound(CodeProjectNotFound, "project %s is not configured; PUT /v1/projects/%s/config first", id, id)
}

func (s *Server) getConfig(ctx context.Context, r *Request, p params) (int, any, *apiError) {
	id := p["project_id"]
	if e := checkProjectID(id); e != nil {
		return 0, nil, e
	}
	stored, e := s.configuredProject(ctx, id)
	if e != nil {
		return 0, nil, e
	}
	return http.StatusOK, hideProject(stored), nil
}

// hideProject returns p as GET shows it: every secret replaced by its
// placeholder. A stored symbol_sources value that does not parse is not
// shown at all (it may hold a secret in a shape hiding cannot find).
//
// URL credentials are secrets too. A URL is shown with its userinfo
// replaced by project.HiddenUserinfo ("https://%5Bhidden-secret%5D@host/"),
// not replaced whole: the reader still sees which server a source or an
// app points at, and a client that reads, edits and writes back (Sentry's
// UI does) sends the same placeholder, which the write fills from the
// stored URL as long as scheme, host and port stay (project.BackfillURL).
// This holds for custom source urls, webhook urls, every URL inside a
// component schema, and allowed origins.
func hideProject(p project.Project) project.Project {
	out := p
	hidden, err := sources.HideCustom(p.Options.SymbolSources)
	if err != nil {
		hidden = ""
	}
	out.Options.SymbolSources = hidden
	if out.Options.Token != "" {
		out.Options.Token = HiddenValue
	}
	if p.AllowedOrigins != nil {
		out.AllowedOrigins = make([]string, len(p.AllowedOrigins))
		for i, o := range p.AllowedOrigins {
			out.AllowedOrigins[i] = project.RedactURLs(o)
		}
	}
	out.Installations = make([]project.Installation, len(p.Installations))
	for i, inst := range p.Installations {
		out.Installations[i] = hideInstallation(inst)
	}
	out.UploadKeys = hideUploadKeys(p.UploadKeys)
	return out
}

// hideInstallation returns inst as the API shows it: client secret
// hidden, credentials of the webhook URL and of every URL in a component
// schema hidden.
func hideInstallation(inst project.Installation) project.Installation {
	if inst.ClientSecret != "" {
		inst.ClientSecret = HiddenValue
	}
	inst.WebhookURL = project.RedactURLs(inst.WebhookURL)
	if inst.Components != nil {
		comps := make([]project.Component, len(inst.Components))
		for i, c := range inst.Components {
			c.Schema = project.RedactJSON(c.Schema)
			comps[i] = c
		}
		inst.Components = comps
	}
	return inst
}

// hiddenURLMessage is the reason a *project.HiddenURLError gives.
func hiddenURLMessage(err error) string {
	var he *project.HiddenURLError
	if errors.As(err, &he) {
		return "hidden URL credentials: " + he.Reason
	}
	return err.Error()
}

func (s *Server) putConfig(ctx context.Context, r *Request, p params) (int, any, *apiError) {
	id := p["project_id"]
	if e := checkProjectID(id); e != nil {
		return 0, nil, e
	}
	if max := limit(s.MaxConfigBytes, DefaultMaxConfigBytes); len(r.Body) > max {
		return 0, nil, tooLarge("the configuration", max, "")
	}
	var body configBody
	if e := decodeStrict(r.Body, &body); e != nil {
		return 0, nil, e
	}
	stored, found, e := s.loadProject(ctx, id)
	if e != nil {
		return 0, nil, e
	}
	next, e := s.checkConfig(id, body, stored)
	if e != nil {
		return 0, nil, e
	}
	if err := s.Projects.PutProject(ctx, next); err != nil {
		return 0, nil, internalErr("store project", err)
	}
	saved, _, e := s.loadProject(ctx, id)
	if e != nil {
		return 0, nil, e
	}
	status := http.StatusOK
	if !found {
		status = http.StatusCreated
	}
	return status, hideProject(saved), nil
}

// checkConfig validates a received configuration against the stored one
// and returns the project to store, secrets backfilled.
func (s *Server) checkConfig(id string, b configBody, stored project.Project) (project.Project, *apiError) {
	if b.ID != "" && b.ID != id {
		return project.Project{}, badField("id", "%q differs from the project id %q in the path", truncate(b.ID), id)
	}
	if b.Slug == "" {
		return project.Project{}, badField("slug", "is required")
	}
	if !slugPattern.MatchString(b.Slug) {
		return project.Project{}, badField("slug", "%q is not a slug (letters, digits, ., - and _)", truncate(b.Slug))
	}
	if b.Organization.Slug == "" {
		return project.Project{}, badField("organization.slug", "is required")
	}
	if !slugPattern.MatchString(b.Organization.Slug) {
		return project.Project{}, badField("organization.slug", "%q is not a slug (letters, digits, ., - and _)", truncate(b.Organization.Slug))
	}
	for i, f := range b.Organization.Features {
		if strings.TrimSpace(f) == "" {
			return project.Project{}, badField(fmt.Sprintf("organization.features[%d]", i), "is empty")
		}
	}
	next := project.Project{
		ID:             id,
		Slug:           b.Slug,
		Organization:   b.Organization,
		AllowedOrigins: b.AllowedOrigins,
		UploadKeys:     stored.UploadKeys,
		Options: project.Options{
			BuiltinSymbolSources: b.Options.BuiltinSymbolSources,
			ScrapeJavaScript:     b.Options.ScrapeJavaScript,
			VerifySSL:            b.Options.VerifySSL,
			Token:                b.Options.Token,
			TokenHeader:          b.Options.TokenHeader,
		},
	}

	raw, e := symbolSourcesText(b.Options.SymbolSources)
	if e != nil {
		return project.Project{}, e
	}
	filled, err := sources.BackfillCustom(raw, stored.Options.SymbolSources)
	if err != nil {
		var ve *sources.ValidationError
		if errors.As(err, &ve) {
			return project.Project{}, badField("options."+ve.Field, "%s", ve.Message)
		}
		return project.Project{}, badField("options.symbol_sources", "%v", err)
	}
	next.Options.SymbolSources = filled

	catalog, err := sources.CatalogFor(s.Settings)
	if err != nil {
		return project.Project{}, internalErr("builtin catalog", err)
	}
	for i, k := range b.Options.BuiltinSymbolSources {
		if _, ok := catalog.Lookup(k); !ok {
			return project.Project{}, badField(fmt.Sprintf("options.builtin_symbol_sources[%d]", i), "unknown builtin source %q (known: %s)", truncate(k), strings.Join(catalog.Keys(), ", "))
		}
	}
	for i, o := range b.AllowedOrigins {
		field := fmt.Sprintf("allowed_origins[%d]", i)
		// An origin is a scheme, host and port: credentials in one would
		// never be sent, so they are refused rather than kept as a
		// secret nobody uses (a stored one is shown hidden).
		if project.HasURLCredentials(o) || project.HasHiddenURL(o) {
			return project.Project{}, badField(field, "an origin holds no credentials: remove the user:password@ part")
		}
		if strings.TrimSpace(o) == "" || strings.ContainsAny(o, " \t\r\n") {
			return project.Project{}, badField(field, "%q is not an origin", truncate(o))
		}
	}
	if next.Options.Token == HiddenValue {
		if stored.Options.Token == "" {
			return project.Project{}, badField("options.token", "hidden secret has no stored value: send the token itself")
		}
		// The token is sent to the allowed origins: kept hidden only when
		// no origin is added, so that a writer who cannot read it cannot
		// have it sent to an origin of its own.
		if added := scraping.AddedTokenOrigins(stored, next); len(added) > 0 {
			return project.Project{}, badField("options.token", "hidden secret is kept only for the origins it was sent to, and allowed_origins adds %d: send the token again", len(added))
		}
		next.Options.Token = stored.Options.Token
	}
	if h := next.Options.TokenHeader; h != "" && !headerPattern.MatchString(h) {
		return project.Project{}, badField("options.token_header", "%q is not an HTTP header name", truncate(h))
	}
	storedInst := map[string]project.Installation{}
	for _, inst := range stored.Installations {
		storedInst[inst.UUID] = inst
	}
	seen := map[string]bool{}
	for i, inst := range b.Installations {
		field := fmt.Sprintf("installations[%d]", i)
		checked, e := checkInstallation(field, inst.UUID, inst, storedInst[inst.UUID])
		if e != nil {
			return project.Project{}, e
		}
		if seen[checked.UUID] {
			return project.Project{}, badField(field+".uuid", "%s appears twice", checked.UUID)
		}
		seen[checked.UUID] = true
		next.Installations = append(next.Installations, checked)
	}
	return next, nil
}

// symbolSourcesText accepts symbol_sources as a JSON string (what the
// reference stores) or as the array itself.
func symbolSourcesText(raw json.RawMessage) (string, *apiError) {
	t := bytes.TrimSpace(raw)
	switch {
	case len(t) == 0 || string(t) == "null":
		return "", nil
	case t[0] == '"':
		var s string
		if err := json.Unmarshal(t, &s); err != nil {
			return "", badField("options.symbol_sources", "is not a valid JSON string")
		}
		return s, nil
	case t[0] == '[':
		return string(t), nil
	}
	return "", badField("options.symbol_sources", "must be a JSON array of sources (or that array as a string), got %s", kindOf(raw))
}

// checkInstallation validates one installation; stored is the stored one
// with the same UUID (zero if none), whose client secret fills a hidden
// placeholder.
func checkInstallation(field, uuid string, inst project.Installation, stored project.Installation) (project.Installation, *apiError) {
	prefix := ""
	if field != "" {
		prefix = field + "."
	}
	if inst.UUID == "" {
		inst.UUID = uuid
	}
	if !uuidPattern.MatchString(inst.UUID) {
		return inst, badField(prefix+"uuid", "%q is not a UUID", truncate(inst.UUID))
	}
	if inst.UUID != uuid {
		return inst, badField(prefix+"uuid", "%q differs from the installation uuid %q in the path", truncate(inst.UUID), uuid)
	}
	if inst.AppSlug == "" {
		return inst, badField(prefix+"app_slug", "is required")
	}
	if !slugPattern.MatchString(inst.AppSlug) {
		return inst, badField(prefix+"app_slug", "%q is not a slug", truncate(inst.AppSlug))
	}
	filled, err := project.BackfillURL(inst.WebhookURL, stored.WebhookURL)
	if err != nil {
		return inst, badField(prefix+"webhook_url", "%s", hiddenURLMessage(err))
	}
	inst.WebhookURL = filled
	if inst.WebhookURL != "" {
		// The URL is not quoted: it may carry credentials.
		u, err := url.Parse(inst.WebhookURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return inst, badField(prefix+"webhook_url", "is not an absolute http(s) URL")
		}
	}
	if inst.ClientSecret == HiddenValue {
		if stored.ClientSecret == "" {
			return inst, badField(prefix+"client_secret", "hidden secret has no stored value: send the secret itself")
		}
		// The secret signs every request to the webhook URL, and a GET's
		// signature is the same every time: kept hidden only while the
		// URL names the stored server, or a writer who cannot read the
		// secret could collect signatures to replay on a host of its own.
		if inst.WebhookURL != stored.WebhookURL && !project.SameOrigin(inst.WebhookURL, stored.WebhookURL) {
			return inst, badField(prefix+"client_secret", "hidden secret is kept only while webhook_url names the stored scheme, host and port: send the secret again for the new URL")
		}
		inst.ClientSecret = stored.ClientSecret
	}
	storedSchemas := map[string]json.RawMessage{}
	for _, c := range stored.Components {
		storedSchemas[c.UUID] = c.Schema
	}
	seen := map[string]bool{}
	comps := make([]project.Component, len(inst.Components))
	for i, c := range inst.Components {
		cf := fmt.Sprintf("%scomponents[%d]", prefix, i)
		if !uuidPattern.MatchString(c.UUID) {
			return inst, badField(cf+".uuid", "%q is not a UUID", truncate(c.UUID))
		}
		if seen[c.UUID] {
			return inst, badField(cf+".uuid", "%s appears twice", c.UUID)
		}
		seen[c.UUID] = true
		if c.Type == "" {
			return inst, badField(cf+".type", "is required (issue-link, alert-rule-action, stacktrace-link, …)")
		}
		if k := kindOf(c.Schema); k != "an object" {
			return inst, badField(cf+".schema", "must be an object, got %s", k)
		}
		// A schema read with its URL credentials hidden and written back
		// as read keeps the stored credentials.
		schema, err := project.BackfillJSON(c.Schema, storedSchemas[c.UUID])
		if err != nil {
			return inst, badField(cf+".schema", "%s", hiddenURLMessage(err))
		}
		c.Schema = schema
		comps[i] = c
	}
	if inst.Components != nil {
		inst.Components = comps
	}
	return inst, nil
}

func (s *Server) putInstallation(ctx context.Context, r *Request, p params) (int, any, *apiError) {
	id, uuid := p["project_id"], p["uuid"]
	if e := checkProjectID(id); e != nil {
		return 0, nil, e
	}
	if !uuidPattern.MatchString(uuid) {
		return 0, nil, badField("uuid", "%q is not a UUID", truncate(uuid))
	}
	if max := limit(s.MaxConfigBytes, DefaultMaxConfigBytes); len(r.Body) > max {
		return 0, nil, tooLarge("the installation", max, "")
	}
	var inst project.Installation
	if e := decodeStrict(r.Body, &inst); e != nil {
		return 0, nil, e
	}
	stored, e := s.configuredProject(ctx, id)
	if e != nil {
		return 0, nil, e
	}
	var prev project.Installation
	for _, i := range stored.Installations {
		if i.UUID == uuid {
			prev = i
		}
	}
	checked, e := checkInstallation("", uuid, inst, prev)
	if e != nil {
		return 0, nil, e
	}
	if err := s.Projects.PutInstallation(ctx, id, checked); err != nil {
		if errors.Is(err, dynamo.ErrNotFound) {
			return 0, nil, projectNotFound(id)
		}
		return 0, nil, internalErr("store installation", err)
	}
	status := http.StatusOK
	if prev.UUID == "" {
		status = http.StatusCreated
	}
	return status, hideInstallation(checked), nil
}
