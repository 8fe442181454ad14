package sources

import (
	"bytes"
	"encoding/base64"
	"log/slog"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/symflow/symflow/shared/project"
)

// lastUploadWindow is how long after a debug-file upload the internal
// source's URL carries ?_last_upload=, busting Symbolicator's listing cache
// (the reference keeps the upload time for 24 h).
const lastUploadWindow = 24 * time.Hour

// defaultRegion is the region of symflow's debug-files bucket when the
// settings name none; Symbolicator needs one for an s3 source.
const defaultRegion = "us-east-1"

// ResponseContext is what ProcessResponse needs from the lookup that made
// the source list. It travels in Step Functions state, so it is plain JSON
// and holds no secret.
type ResponseContext struct {
	// ReverseAliases maps the id of a catalog entry an alias names to the
	// alias's id.
	ReverseAliases map[string]string `json:"reverse_aliases"`
	// SourceNames maps source ids (aliases included) to display names.
	SourceNames map[string]string `json:"source_names"`
}

// ForProject returns the sources Symbolicator searches for project p, in
// order (SEMANTICS §1), and the context to post-process the answer with:
//
//  1. the internal source (InternalSource), always first;
//  2. if the organization has feature custom-symbol-sources, the project's
//     symbol_sources, http ones normalized for Symbolicator (username and
//     password become an authorization header; x-sentry-project-id and,
//     when eventID is not empty, x-sentry-event-id headers are added). An
//     invalid option is logged (the error names the field, never a secret)
//     and skipped as a whole, as in the reference; the other sources are
//     still returned;
//  3. the builtin catalog entries listed in builtin_symbol_sources, in
//     catalog order, aliases expanded recursively (unknown keys and alias
//     cycles skipped).
//
// Then sources whose id, or an alias that produced them, is in
// s.IgnoredSourceIDs are dropped. Unlike the reference, a source id that
// appears twice (a builtin enabled directly and through an alias) is sent
// once, at its first place.
//
// now decides whether the last upload is recent. The list holds secrets
// (the system token, custom credentials, credentials in URLs): pass it
// through Hide before it reaches state or a log. log may be nil.
func ForProject(p project.Project, s project.Settings, eventID string, now time.Time, log *slog.Logger) (List, ResponseContext) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	catalog, err := CatalogFor(s)
	if err != nil {
		log.Error("builtin symbol source catalog unusable; no builtin sources sent", "error", err.Error())
		catalog = &Catalog{}
	}

	var entries []expansion
	if internal, ok := InternalSource(p, s, now); ok {
		entries = append(entries, expansion{source: internal})
	} else {
		log.Warn("no internal symbol source: set a Sentry URL prefix or the debug-files bucket", "project_id", p.ID)
	}

	if p.Organization.HasFeature(project.FeatureCustomSymbolSources) {
		custom, err := ParseCustom(p.Options.SymbolSources)
		if err != nil {
			log.Warn("invalid custom symbol sources skipped", "project_id", p.ID, "error", err.Error())
		}
		for _, c := range custom {
			entries = append(entries, expansion{source: normalizeCustom(c, p.ID, eventID)})
		}
	}

	for _, key := range catalog.Keys() {
		if !slices.Contains(p.Options.BuiltinSymbolSources, key) {
			continue
		}
		entries = append(entries, catalog.expand(key, nil, map[string]bool{})...)
	}

	reverse, aliasNames := catalog.reverseAliases()
	// The context travels in state: a name is shown with the credentials
	// of any URL in it hidden, as Hide shows the sources.
	rc := ResponseContext{ReverseAliases: reverse, SourceNames: map[string]string{}}
	for _, e := range entries {
		rc.SourceNames[e.source.ID()] = project.RedactURLs(nameOr(e.source))
	}
	rc.SourceNames[InternalSourceID] = internalName
	for id, name := range aliasNames {
		rc.SourceNames[id] = project.RedactURLs(name)
	}

	ignored := make(map[string]bool, len(s.IgnoredSourceIDs))
	for _, id := range s.IgnoredSourceIDs {
		ignored[id] = true
	}
	seen := map[string]bool{}
	list := List{}
	for _, e := range entries {
		id := e.source.ID()
		if seen[id] || isIgnored(id, e.aliases, reverse, ignored) {
			continue
		}
		seen[id] = true
		list = append(list, e.source)
	}
	return list, rc
}

// isIgnored reports whether a source is on the ignore list by its own id, by
// an alias that produced it, or by an alias the catalog maps it back to
// (directly or through nested aliases), as the reference's
// filter_ignored_sources does one level deep.
func isIgnored(id string, via []string, reverse map[string]string, ignored map[string]bool) bool {
	if len(ignored) == 0 {
		return false
	}
	if ignored[id] {
		return true
	}
	for _, a := range via {
		if ignored[a] {
			return true
		}
	}
	cur := id
	for range len(reverse) { // a cycle in reverse cannot loop forever
		next, ok := reverse[cur]
		if !ok {
			break
		}
		if ignored[next] {
			return true
		}
		cur = next
	}
	return false
}

// CatalogFor returns the catalog a deployment uses: s.BuiltinCatalog when
// set (and not JSON null), else the embedded one.
func CatalogFor(s project.Settings) (*Catalog, error) {
	raw := bytes.TrimSpace(s.BuiltinCatalog)
	if len(raw) == 0 || string(raw) == "null" {
		return DefaultCatalog(), nil
	}
	return ParseCatalog(raw)
}

// InternalSource returns the project's own source, id "sentry:project".
//
// With a Sentry URL prefix configured it is Sentry's debug-files API:
// {"type":"sentry","id":"sentry:project","url":…,"token":<system token>}.
// The prefix is s.InternalURLPrefix, else s.PublicURLPrefix with
// "localhost" and "127.0.0.1" replaced by "host.docker.internal" (so a
// Symbolicator in a container reaches a Sentry on the host); trailing
// slashes are removed. If the project uploaded a debug file in the 24 h
// before now, "?_last_upload=<unix ms>" is appended.
//
// Without one it is the project's prefix in symflow's debug-files bucket,
// read with the Symbolicator's own role (no keys). With neither configured
// there is no internal source and ok is false.
func InternalSource(p project.Project, s project.Settings, now time.Time) (src Source, ok bool) {
	prefix := s.InternalURLPrefix
	if prefix == "" && s.PublicURLPrefix != "" {
		prefix = s.PublicURLPrefix
		for _, host := range []string{"localhost", "127.0.0.1"} {
			prefix = strings.ReplaceAll(prefix, host, "host.docker.internal")
		}
	}
	prefix = strings.TrimRight(prefix, "/")
	if prefix != "" {
		u := prefix + "/api/0/projects/" + url.PathEscape(p.Organization.Slug) + "/" +
			url.PathEscape(p.Slug) + "/files/dsyms/"
		if t := p.LastDebugFileUpload; !t.IsZero() && now.Sub(t) < lastUploadWindow {
			u += "?_last_upload=" + strconv.FormatInt(t.UnixMilli(), 10)
		}
		return Source{"type": TypeSentry, "id": InternalSourceID, "url": u, "token": s.SystemToken}, true
	}
	if s.DebugFilesBucket == "" {
		return nil, false
	}
	region := s.DebugFilesRegion
	if region == "" {
		region = defaultRegion
	}
	return Source{
		"type":                     TypeS3,
		"id":                       InternalSourceID,
		"bucket":                   s.DebugFilesBucket,
		"prefix":                   p.ID + "/",
		"region":                   region,
		"aws_credentials_provider": "container",
		"layout":                   map[string]any{"type": "unified"},
	}, true
}

// normalizeCustom turns a validated custom source into what Symbolicator
// reads. Only http sources change: username and password are removed and,
// if either is set, become "authorization: Basic base64(user:password)"
// (a missing part is empty); x-sentry-project-id and x-sentry-event-id are
// added when known; headers is set only if it has an entry.
func normalizeCustom(c Source, projectID, eventID string) Source {
	c = c.Clone()
	if c.Type() != TypeHTTP {
		return c
	}
	user, _ := c["username"].(string)
	pass, _ := c["password"].(string)
	delete(c, "username")
	delete(c, "password")
	headers := map[string]any{}
	if user != "" || pass != "" {
		headers["authorization"] = "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
	}
	if projectID != "" {
		headers["x-sentry-project-id"] = projectID
	}
	if eventID != "" {
		headers["x-sentry-event-id"] = eventID
	}
	if len(headers) > 0 {
		c["headers"] = headers
	}
	return c
}
