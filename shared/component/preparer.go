// Package component prepares the UI components of a project's sentry-app
// installations (SEMANTICS §5): it fills select fields with their choices,
// fetched from the app when the schema says so, and gives stacktrace links
// their URL.
//
// Schemas belong to the apps and are arbitrary JSON: the preparer sets only
// the keys it prepares ("choices", "defaultValue", "url") and writes every
// other key back byte for byte, in its order.
//
// Requests go to URLs that app authors control, so they go through
// SafeClient, which refuses private, loopback, link-local and metadata
// addresses unless told otherwise, and bounds time and size. The
// installation's client secret only signs requests, and the credentials of
// its webhook URL only authorize them (as a Basic authorization header):
// neither is in any error, log line or Result.
package component

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"sync"

	"github.com/symflow/symflow/shared/project"
)

// Component types with a preparation; other types are left untouched.
const (
	TypeIssueLink       = "issue-link"
	TypeAlertRuleAction = "alert-rule-action"
	TypeStacktraceLink  = "stacktrace-link"
)

// DefaultConcurrency is how many components PrepareAll prepares at once
// when given no positive number.
const DefaultConcurrency = 4

// FieldValue is a value the user already chose for a field, on which other
// fields may depend (depends_on).
type FieldValue struct {
	Name string `json:"name"`
	// Value is sent in dependentData as encoding/json writes it; a
	// json.RawMessage goes verbatim.
	Value any `json:"value"`
}

// ChoiceRequester fetches a select field's choices; *SelectRequester is one.
type ChoiceRequester interface {
	Request(ctx context.Context, req SelectRequest) (Choices, error)
}

// Preparer prepares components. The zero value fetches through a
// SelectRequester with a default SafeClient.
type Preparer struct {
	Requester ChoiceRequester
	// Logger gets a warning per component that fails in PrepareAll; nil
	// means slog.Default().
	Logger *slog.Logger
}

// NewPreparer returns a Preparer fetching choices through r.
func NewPreparer(r ChoiceRequester, logger *slog.Logger) *Preparer {
	return &Preparer{Requester: r, Logger: logger}
}

// Prepared is a component ready for the UI.
type Prepared struct {
	UUID   string          `json:"uuid"`
	Type   string          `json:"type"`
	Schema json.RawMessage `json:"schema"`
}

// SchemaError is a component schema that cannot be prepared: Path names
// the offending part (e.g. "link.required_fields[2].depends_on").
type SchemaError struct {
	Component string
	Path      string
	Reason    string
}

func (e *SchemaError) Error() string {
	if e.Path == "" {
		return fmt.Sprintf("component %s: schema: %s", e.Component, e.Reason)
	}
	return fmt.Sprintf("component %s: schema.%s: %s", e.Component, e.Path, e.Reason)
}

// Prepare returns c with its schema prepared for inst's app. values are the
// field values already chosen, for fields with depends_on. The first field
// that cannot be prepared fails the component: a *SchemaError, or the
// requester's error (*RequestError, *InvalidResponseError) wrapped.
func (p *Preparer) Prepare(ctx context.Context, inst project.Installation, c project.Component, projectSlug string, values []FieldValue) (Prepared, error) {
	out := Prepared{UUID: c.UUID, Type: c.Type}
	run := &preparation{ctx: ctx, p: p, inst: inst, comp: c, projectSlug: projectSlug, values: values}
	var (
		schema json.RawMessage
		err    error
	)
	switch c.Type {
	case TypeStacktraceLink:
		schema, err = run.stacktraceLink()
	case TypeIssueLink:
		schema, err = run.sections("link", "create")
	case TypeAlertRuleAction:
		schema, err = run.sections("settings")
	default:
		// Untouched, but checked: a Result must marshal whatever the app
		// stored.
		if len(c.Schema) == 0 {
			return out, nil
		}
		if !json.Valid(c.Schema) {
			return Prepared{}, &SchemaError{Component: c.UUID, Reason: "invalid JSON"}
		}
		out.Schema = bytes.Clone(c.Schema)
		return out, nil
	}
	if err != nil {
		return Prepared{}, err
	}
	// Every part came out of the decoder or out of marshal: the document
	// is valid, and compacting it checks that once more.
	var buf bytes.Buffer
	if err := json.Compact(&buf, schema); err != nil {
		return Prepared{}, &SchemaError{Component: c.UUID, Reason: "prepared schema is invalid JSON: " + err.Error()}
	}
	out.Schema = buf.Bytes()
	return out, nil
}

// preparation is one component being prepared.
type preparation struct {
	ctx         context.Context
	p           *Preparer
	inst        project.Installation
	comp        project.Component
	projectSlug string
	values      []FieldValue
}

func (r *preparation) schemaErr(path, reason string) error {
	return &SchemaError{Component: r.comp.UUID, Path: path, Reason: reason}
}

// stacktraceLink sets schema.url to the app's webhook URL, without its
// credentials, with path schema.uri and the installation (and project) in
// the query. The webhook
// URL's fragment (and last-segment ";params") stay, as in Sentry's
// _prepare_stacktrace_link, which replaces only the path and the query of
// the parsed webhook URL. A "?" in uri is escaped into the path: the
// reference would write a URL with two queries, which no app can read.
func (r *preparation) stacktraceLink() (json.RawMessage, error) {
	schema, err := decodeObject(r.comp.Schema)
	if err != nil {
		return nil, r.schemaErr("", err.Error())
	}
	rawURI, ok := schema.get("uri")
	if !ok {
		return nil, r.schemaErr("uri", "missing")
	}
	uri, ok := stringValue(rawURI)
	if !ok {
		return nil, r.schemaErr("uri", "not a string but "+jsonKind(rawURI))
	}
	u, err := appURL(r.inst.WebhookURL, uri)
	if err != nil {
		return nil, fmt.Errorf("component %s: stacktrace link of app %q: %w", r.comp.UUID, r.inst.AppSlug, err)
	}
	// The link is shown to users and opened by their browsers: the
	// webhook URL's credentials are no part of it. (Sentry keeps them,
	// handing every user who sees the link the app's credentials.)
	u.User = nil
	q := "installationId=" + url.QueryEscape(r.inst.UUID)
	if r.projectSlug != "" {
		q += "&projectSlug=" + url.QueryEscape(r.projectSlug)
	}
	u.RawQuery = q
	schema.set("url", marshal(u.String()))
	return schema.encode(), nil
}

// sections prepares every field of each section's required_fields and
// optional_fields, in that order, as the reference does.
func (r *preparation) sections(names ...string) (json.RawMessage, error) {
	schema, err := decodeObject(r.comp.Schema)
	if err != nil {
		return nil, r.schemaErr("", err.Error())
	}
	for _, name := range names {
		rawSection, ok := schema.get(name)
		if !ok {
			continue
		}
		section, err := decodeObject(rawSection)
		if err != nil {
			return nil, r.schemaErr(name, err.Error())
		}
		for _, list := range []string{"required_fields", "optional_fields"} {
			rawFields, ok := section.get(list)
			if !ok {
				continue
			}
			path := name + "." + list
			fields, err := decodeArray(rawFields)
			if err != nil {
				return nil, r.schemaErr(path, err.Error())
			}
			for i, f := range fields {
				if fields[i], err = r.field(fmt.Sprintf("%s[%d]", path, i), f); err != nil {
					return nil, err
				}
			}
			section.set(list, encodeArray(fields))
		}
		schema.set(name, section.encode())
	}
	return schema.encode(), nil
}

// field prepares one field: depends_on first, then options or uri.
func (r *preparation) field(path string, raw json.RawMessage) (json.RawMessage, error) {
	f, err := decodeObject(raw)
	if err != nil {
		return nil, r.schemaErr(path, err.Error())
	}
	dependentData := ""
	if rawDeps, ok := f.get("depends_on"); ok {
		var deps []string
		if jsonKind(rawDeps) != "array" || json.Unmarshal(rawDeps, &deps) != nil {
			return nil, r.schemaErr(path+".depends_on", "not an array of field names")
		}
		data, complete, err := r.dependentData(deps)
		if err != nil {
			return nil, r.schemaErr(path+".depends_on", err.Error())
		}
		if !complete {
			f.set("choices", json.RawMessage("[]"))
			return f.encode(), nil
		}
		dependentData = data
	}
	if options, ok := f.get("options"); ok {
		f.set("choices", options)
		return f.encode(), nil
	}
	rawURI, ok := f.get("uri")
	if !ok {
		return f.encode(), nil
	}
	if skip, ok := f.get("skip_load_on_open"); ok && truthy(skip) {
		return f.encode(), nil
	}
	uri, ok := stringValue(rawURI)
	if !ok {
		return nil, r.schemaErr(path+".uri", "not a string but "+jsonKind(rawURI))
	}
	requester := r.p.Requester
	if requester == nil {
		requester = &SelectRequester{Logger: r.p.Logger}
	}
	choices, err := requester.Request(r.ctx, SelectRequest{
		Installation:  r.inst,
		ProjectSlug:   r.projectSlug,
		URI:           uri,
		DependentData: dependentData,
	})
	if err != nil {
		return nil, fmt.Errorf("component %s: field %s: %w", r.comp.UUID, path, err)
	}
	f.set("choices", marshal(choices.Choices))
	if choices.DefaultValue != nil {
		f.set("defaultValue", choices.DefaultValue)
	}
	return f.encode(), nil
}

// dependentData is the JSON object {name: value} of the supplied values
// named in deps, keys in the order first supplied, a name supplied twice
// keeping its last value. complete is Sentry's rule in
// SentryAppComponentPreparer._prepare_field, reproduced exactly: it counts
// the supplied values whose name is in deps, each one, and compares that
// with len(deps), each entry counted too. So a dependency named twice in
// deps needs two supplied values, a value supplied twice counts twice, and
// when the counts match the choices are fetched even if a dependency has
// no value; when they differ the field gets choices [] and no request.
func (r *preparation) dependentData(deps []string) (data string, complete bool, err error) {
	named := 0
	obj := &object{vals: map[string]json.RawMessage{}}
	for _, v := range r.values {
		if !slices.Contains(deps, v.Name) {
			continue
		}
		named++
		b, err := marshalValue(v.Value)
		if err != nil {
			return "", false, fmt.Errorf("value of %q: %w", v.Name, err)
		}
		obj.set(v.Name, b)
	}
	if named != len(deps) {
		return "", false, nil
	}
	return string(obj.encode()), true, nil
}

// Result is one component's outcome in PrepareAll: the prepared schema or
// the error. It carries nothing secret (URL credentials in the schema or
// the error are hidden, project.RedactURLs) and marshals to JSON as-is;
// Err, not marshalled, is the error itself.
type Result struct {
	Installation  string          `json:"installation"`
	AppSlug       string          `json:"app_slug"`
	ComponentUUID string          `json:"uuid"`
	Type          string          `json:"type"`
	Schema        json.RawMessage `json:"schema,omitempty"`
	Error         string          `json:"error,omitempty"`
	// Err is the error itself, for errors.As; it is not marshalled.
	Err error `json:"-"`
}

// PrepareAll prepares every component of installations, at most
// concurrency at once (DefaultConcurrency when not positive), and returns
// one Result per component in input order. No field values are supplied,
// so fields with a non-empty depends_on get empty choices, as on first
// load in the reference. A component that fails is reported in its Result and does
// not stop the others.
func (p *Preparer) PrepareAll(ctx context.Context, installations []project.Installation, projectSlug string, concurrency int) []Result {
	if concurrency <= 0 {
		concurrency = DefaultConcurrency
	}
	logger := p.Logger
	if logger == nil {
		logger = slog.Default()
	}
	var results []Result
	type job struct {
		i    int
		inst project.Installation
		c    project.Component
	}
	var jobs []job
	for _, inst := range installations {
		for _, c := range inst.Components {
			jobs = append(jobs, job{i: len(results), inst: inst, c: c})
			results = append(results, Result{
				Installation:  inst.UUID,
				AppSlug:       inst.AppSlug,
				ComponentUUID: c.UUID,
				Type:          c.Type,
			})
		}
	}
	sem := make(chan struct{}, concurrency)
	var wg sync.WaitGroup
	for _, j := range jobs {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			res := &results[j.i]
			prepared, err := p.prepareSafely(ctx, j.inst, j.c, projectSlug)
			if err != nil {
				msg := project.RedactURLs(err.Error())
				logger.WarnContext(ctx, "prepare component failed",
					"app", j.inst.AppSlug, "installation", j.inst.UUID,
					"component", j.c.UUID, "type", j.c.Type, "error", msg)
				res.Err, res.Error = err, msg
				return
			}
			// Results are stored and shown: a URL with credentials the
			// stored schema holds is hidden there.
			res.Schema = project.RedactJSON(prepared.Schema)
		})
	}
	wg.Wait()
	return results
}

// prepareSafely is Prepare turning a panic into an error, so that one
// component cannot take the others down with it.
func (p *Preparer) prepareSafely(ctx context.Context, inst project.Installation, c project.Component, projectSlug string) (prepared Prepared, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("component %s: prepare: internal error: %v", c.UUID, v)
		}
	}()
	if err := ctx.Err(); err != nil {
		return Prepared{}, fmt.Errorf("component %s: %w", c.UUID, err)
	}
	return p.Prepare(ctx, inst, c, projectSlug, nil)
}
