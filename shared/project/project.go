// Package project holds the configuration symflow keeps for an organization,
// its projects and the deployment as a whole: what the sources, scraping and
// component steps read to decide how one crash is symbolicated.
//
// The field names follow the reference (Sentry's organization and project
// options) so a configuration exported from Sentry maps one to one.
package project

import (
	"encoding/json"
	"slices"
	"time"
)

// FeatureCustomSymbolSources lets an organization's projects use their own
// symbol servers (the project option symbol_sources).
const FeatureCustomSymbolSources = "custom-symbol-sources"

// Organization is the owner of projects; features and options set here apply
// to every project of it.
type Organization struct {
	Slug     string   `json:"slug"`
	Features []string `json:"features,omitempty"`
	// ScrapeJavaScript is the organization option scrape_javascript; nil means
	// the default, true.
	ScrapeJavaScript *bool `json:"scrape_javascript,omitempty"`
}

// HasFeature reports whether the organization has the named feature flag.
func (o Organization) HasFeature(name string) bool {
	return slices.Contains(o.Features, name)
}

// Project is one project's configuration, secrets included. Only the store
// and SubmitTask see a Project with secrets; everything that reaches a state,
// a log line or an API response goes through the sources package's hiding
// first.
type Project struct {
	ID           string       `json:"id"`
	Slug         string       `json:"slug"`
	Organization Organization `json:"organization"`
	Options      Options      `json:"options"`
	// AllowedOrigins are the origins the scraper may fetch from; "*" allows all.
	AllowedOrigins []string `json:"allowed_origins,omitempty"`
	// LastDebugFileUpload is when the project last uploaded a debug file; a
	// recent upload busts Symbolicator's listing cache (SEMANTICS §1).
	LastDebugFileUpload time.Time `json:"last_debug_file_upload,omitzero"`
	// Installations are the project's sentry-app installations, whose
	// components the PrepareComponents step prepares.
	Installations []Installation `json:"installations,omitempty"`
	// UploadKeys let the project's applications post minidumps: the current
	// key first, then replaced keys still accepted until they expire. Only
	// their hashes are kept (see UploadKey).
	UploadKeys []UploadKey `json:"upload_keys,omitempty"`
}

// Options are the project options the workflow reads.
type Options struct {
	// SymbolSources is the project option symbol_sources: a JSON array of
	// custom sources, kept as the string the reference stores so that a
	// broken value can be stored, reported and skipped rather than lost.
	SymbolSources string `json:"symbol_sources,omitempty"`
	// BuiltinSymbolSources are keys of the builtin catalog, e.g. "microsoft".
	BuiltinSymbolSources []string `json:"builtin_symbol_sources,omitempty"`
	// ScrapeJavaScript is the project option scrape_javascript; nil means true.
	ScrapeJavaScript *bool `json:"scrape_javascript,omitempty"`
	// VerifySSL is the project option verify_ssl; nil means true.
	VerifySSL *bool `json:"verify_ssl,omitempty"`
	// Token is the project's security token sent by the scraper.
	Token string `json:"token,omitempty"`
	// TokenHeader names the header carrying Token; empty means X-Sentry-Token.
	TokenHeader string `json:"token_header,omitempty"`
}

// Installation is a sentry-app installed on the project.
type Installation struct {
	UUID       string `json:"uuid"`
	AppSlug    string `json:"app_slug"`
	WebhookURL string `json:"webhook_url,omitempty"`
	// ClientSecret signs requests to the app; it never leaves the store,
	// the component step and the signature it computes.
	ClientSecret string      `json:"client_secret,omitempty"`
	Components   []Component `json:"components,omitempty"`
}

// Component is one UI component of a sentry-app: its type
// (issue-link, alert-rule-action, stacktrace-link, …) and JSON schema.
type Component struct {
	UUID   string          `json:"uuid"`
	Type   string          `json:"type"`
	Schema json.RawMessage `json:"schema"`
}

// Settings are deployment-wide: the same for every project.
type Settings struct {
	// InternalURLPrefix is how Symbolicator reaches Sentry's API, if set.
	InternalURLPrefix string `json:"internal_url_prefix,omitempty"`
	// PublicURLPrefix is Sentry's public URL; used for the internal source
	// when InternalURLPrefix is empty.
	PublicURLPrefix string `json:"public_url_prefix,omitempty"`
	// SystemToken authenticates Symbolicator against the internal source.
	SystemToken string `json:"system_token,omitempty"`
	// IgnoredSourceIDs are source ids (or alias ids) never sent.
	IgnoredSourceIDs []string `json:"ignored_source_ids,omitempty"`
	// DebugFilesBucket and DebugFilesRegion locate symflow's own debug-file
	// store, the internal source when no Sentry URL prefix is configured.
	DebugFilesBucket string `json:"debug_files_bucket,omitempty"`
	DebugFilesRegion string `json:"debug_files_region,omitempty"`
	// BuiltinCatalog, when non-nil, replaces the embedded builtin catalog
	// (a JSON object of key → source, as in sources/builtin.json).
	BuiltinCatalog json.RawMessage `json:"builtin_catalog,omitempty"`
}

// boolOr returns *b, or def when b is nil.
func boolOr(b *bool, def bool) bool {
	if b == nil {
		return def
	}
	return *b
}

// ScrapingEnabled is the organization and project option scrape_javascript,
// each defaulting to true.
func (p Project) ScrapingEnabled() bool {
	return boolOr(p.Organization.ScrapeJavaScript, true) && boolOr(p.Options.ScrapeJavaScript, true)
}

// VerifySSL is the project option verify_ssl, defaulting to true.
func (p Project) VerifySSL() bool { return boolOr(p.Options.VerifySSL, true) }
