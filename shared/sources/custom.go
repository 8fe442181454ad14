package sources

import (
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/symflow/symflow/shared/project"
)

// Custom source types a project may configure, and the legacy type that
// Sentry no longer supports: stored appStoreConnect entries are dropped
// unseen on read and refused on write.
const (
	TypeHTTP            = "http"
	TypeS3              = "s3"
	TypeGCS             = "gcs"
	TypeSentry          = "sentry"
	TypeAppStoreConnect = "appStoreConnect"
)

// Layouts, casings and file types Symbolicator understands, as Sentry's
// custom source schema lists them (dartsymbolmap included: Sentry's file
// types name it, for Dart obfuscation maps).
var (
	validLayouts   = []string{"native", "symstore", "symstore_index2", "ssqp", "unified", "debuginfod", "slashsymbols"}
	validCasings   = []string{"lowercase", "uppercase", "default"}
	validFileTypes = []string{
		"pe", "pdb", "portablepdb", "mach_debug", "mach_code", "elf_debug", "elf_code",
		"wasm_debug", "wasm_code", "breakpad", "sourcebundle", "uuidmap", "bcsymbolmap",
		"il2cpp", "proguard", "dartsymbolmap",
	}
)

// ValidationError says which field of the symbol_sources option is wrong and
// why. Field is a path such as "symbol_sources[2].layout.type"; neither it
// nor Message ever holds a secret value.
type ValidationError struct {
	Field   string
	Message string
}

func (e *ValidationError) Error() string { return e.Field + ": " + e.Message }

// fieldKind is what a field must hold.
type fieldKind int

const (
	kindString  fieldKind = iota
	kindObject            // validated by its own function
	kindBool              // true or false
	kindStrings           // an array of strings
)

type fieldSpec struct {
	kind     fieldKind
	required bool
	nonEmpty bool
	check    func(path string, v any) *ValidationError
}

// Common fields of every custom source type. is_public, has_index and
// platforms are Sentry's behaviour: its schema declares them for every kind
// (they are set on builtin sources, and stored custom sources may carry
// them), so a source holding them stays valid and they reach Symbolicator
// unchanged.
var commonFields = map[string]fieldSpec{
	"type":      {kind: kindString, required: true},
	"id":        {kind: kindString, required: true, nonEmpty: true},
	"name":      {kind: kindString},
	"layout":    {kind: kindObject, required: true, check: checkLayout},
	"filters":   {kind: kindObject, check: checkFilters},
	"is_public": {kind: kindBool},
	"has_index": {kind: kindBool},
	"platforms": {kind: kindStrings},
}

// typeFields are the fields each type adds to commonFields. An empty s3
// bucket or region, or gcs bucket, is accepted: Sentry's schema types them
// as plain strings with no minimum length, so a configuration Sentry keeps
// is kept here too (Symbolicator then fails to fetch from it, reported as
// that source's candidates).
var typeFields = map[string]map[string]fieldSpec{
	TypeHTTP: {
		"url":      {kind: kindString, required: true, nonEmpty: true, check: checkURL},
		"username": {kind: kindString},
		"password": {kind: kindString},
	},
	TypeS3: {
		"bucket":     {kind: kindString, required: true},
		"region":     {kind: kindString, required: true},
		"access_key": {kind: kindString, required: true},
		"secret_key": {kind: kindString, required: true},
		"prefix":     {kind: kindString},
	},
	TypeGCS: {
		"bucket":       {kind: kindString, required: true},
		"client_email": {kind: kindString, required: true},
		"private_key":  {kind: kindString, required: true},
		"prefix":       {kind: kindString},
	},
}

// secretFields are the fields of each custom type that hold a secret.
var secretFields = map[string][]string{
	TypeHTTP: {"password"},
	TypeS3:   {"secret_key"},
	TypeGCS:  {"private_key"},
}

// ParseCustom parses and validates the project option symbol_sources, a JSON
// array of custom sources, as read for symbolication, and returns them in
// order as configured. An empty string means no sources. Any error is a
// *ValidationError naming the field, e.g.
// `symbol_sources[2].layout.type: unknown layout type "foo"`; indexes are
// those of the stored array.
//
// Rules (SEMANTICS §1): types http (url, username?, password?), s3 (bucket,
// region, access_key, secret_key, prefix?) and gcs (bucket, client_email,
// private_key, prefix?); all have id (non-empty, unique, not starting with
// "sentry"), name?, layout {type, casing?}, filters? {filetypes,
// path_patterns, requires_checksum}, is_public?, has_index? and
// platforms?. Unknown fields are errors. Beyond the reference, an http url
// must be an absolute http(s) URL, and a hidden secret placeholder is
// rejected here: it must be backfilled before saving.
//
// Legacy appStoreConnect entries are dropped before validation and never
// looked at, as Sentry's parse_sources does: such an entry, however it is
// shaped, cannot make the project's other custom sources invalid, and its
// id does not count as a duplicate.
func ParseCustom(raw string) ([]Source, error) {
	if strings.TrimSpace(raw) == "" {
		return []Source{}, nil
	}
	var v any
	if err := decodeJSON([]byte(raw), &v); err != nil {
		return nil, &ValidationError{Field: "symbol_sources", Message: err.Error()}
	}
	return validateCustom(v, legacyDrop)
}

// legacyRule says what validateCustom does with an appStoreConnect entry.
type legacyRule int

const (
	// legacyDrop skips the entry unseen: a stored configuration is read.
	legacyDrop legacyRule = iota
	// legacyRefuse makes the entry an error: a configuration is written.
	legacyRefuse
)

// isLegacy reports whether e is an appStoreConnect entry. Only an object
// whose type is exactly that string is one, as in the reference.
func isLegacy(e any) bool {
	m, ok := e.(map[string]any)
	return ok && m["type"] == TypeAppStoreConnect
}

// validateCustom validates a decoded symbol_sources value, handling
// appStoreConnect entries by rule.
func validateCustom(v any, rule legacyRule) ([]Source, error) {
	arr, ok := v.([]any)
	if !ok {
		return nil, &ValidationError{Field: "symbol_sources", Message: "must be a JSON array, got " + jsonKind(v)}
	}
	seen := make(map[string]bool, len(arr))
	out := make([]Source, 0, len(arr))
	for i, e := range arr {
		path := fmt.Sprintf("symbol_sources[%d]", i)
		if isLegacy(e) {
			if rule == legacyDrop {
				continue
			}
			return nil, &ValidationError{Field: path + ".type", Message: fmt.Sprintf(
				"%s sources are no longer supported: remove this entry", quote(TypeAppStoreConnect))}
		}
		m, ok := e.(map[string]any)
		if !ok {
			return nil, &ValidationError{Field: path, Message: "must be a JSON object, got " + jsonKind(e)}
		}
		if err := validateSource(path, m); err != nil {
			return nil, err
		}
		id := m["id"].(string)
		if seen[id] {
			return nil, &ValidationError{Field: path + ".id", Message: "duplicate source id " + quote(id)}
		}
		seen[id] = true
		out = append(out, Source(m))
	}
	return out, nil
}

func validateSource(path string, m map[string]any) *ValidationError {
	t, present := m["type"]
	if !present {
		return &ValidationError{Field: path + ".type", Message: "required"}
	}
	typ, ok := t.(string)
	if !ok {
		return &ValidationError{Field: path + ".type", Message: "must be a string, got " + jsonKind(t)}
	}
	if typeFields[typ] == nil {
		return &ValidationError{Field: path + ".type", Message: fmt.Sprintf(
			"unknown source type %s (want one of http, s3, gcs)", quote(typ))}
	}
	spec := make(map[string]fieldSpec, len(commonFields)+len(typeFields[typ]))
	for k, f := range commonFields {
		spec[k] = f
	}
	for k, f := range typeFields[typ] {
		spec[k] = f
	}
	// The id first: it is the most useful thing to report on.
	if err := checkField(path, "id", spec["id"], m); err != nil {
		return err
	}
	if id := m["id"].(string); strings.HasPrefix(id, "sentry") {
		return &ValidationError{Field: path + ".id", Message: fmt.Sprintf(
			"source id %s must not start with \"sentry\" (reserved for internal sources)", quote(id))}
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if _, known := spec[k]; !known {
			return &ValidationError{Field: path + member(k), Message: fmt.Sprintf("unknown field for a %s source", quote(typ))}
		}
	}
	names := make([]string, 0, len(spec))
	for k := range spec {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		if err := checkField(path, k, spec[k], m); err != nil {
			return err
		}
	}
	return nil
}

func checkField(path, name string, f fieldSpec, m map[string]any) *ValidationError {
	field := path + "." + name
	v, present := m[name]
	if !present {
		if f.required {
			return &ValidationError{Field: field, Message: "required"}
		}
		return nil
	}
	switch f.kind {
	case kindString:
		s, ok := v.(string)
		if !ok {
			if isHiddenSecret(v) {
				return &ValidationError{Field: field, Message: "hidden secret placeholder has no stored value to fill it"}
			}
			return &ValidationError{Field: field, Message: "must be a string, got " + jsonKind(v)}
		}
		if f.nonEmpty && s == "" {
			return &ValidationError{Field: field, Message: "must not be empty"}
		}
	case kindObject:
		if _, ok := v.(map[string]any); !ok {
			return &ValidationError{Field: field, Message: "must be a JSON object, got " + jsonKind(v)}
		}
	case kindBool:
		if _, ok := v.(bool); !ok {
			return &ValidationError{Field: field, Message: "must be a boolean, got " + jsonKind(v)}
		}
	case kindStrings:
		arr, ok := v.([]any)
		if !ok {
			return &ValidationError{Field: field, Message: "must be an array of strings, got " + jsonKind(v)}
		}
		for i, e := range arr {
			if _, ok := e.(string); !ok {
				return &ValidationError{Field: fmt.Sprintf("%s[%d]", field, i), Message: "must be a string, got " + jsonKind(e)}
			}
		}
	}
	if f.check != nil {
		return f.check(field, v)
	}
	return nil
}

func checkURL(field string, v any) *ValidationError {
	// The URL is not quoted in messages: it may carry credentials.
	u, err := url.Parse(v.(string))
	if err != nil {
		return &ValidationError{Field: field, Message: "not a valid URL"}
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return &ValidationError{Field: field, Message: "must be an http or https URL"}
	}
	if u.Host == "" {
		return &ValidationError{Field: field, Message: "must be an absolute URL with a host"}
	}
	if project.HasHiddenURL(v.(string)) {
		return &ValidationError{Field: field, Message: "hidden URL credentials have no stored value to fill them: send them"}
	}
	return nil
}

func checkLayout(field string, v any) *ValidationError {
	m := v.(map[string]any)
	for _, k := range sortedKeys(m) {
		if k != "type" && k != "casing" {
			return &ValidationError{Field: field + member(k), Message: "unknown field of layout (want type, casing)"}
		}
	}
	t, present := m["type"]
	if !present {
		return &ValidationError{Field: field + ".type", Message: "required"}
	}
	if err := checkEnum(field+".type", "layout type", t, validLayouts); err != nil {
		return err
	}
	if c, present := m["casing"]; present {
		return checkEnum(field+".casing", "casing", c, validCasings)
	}
	return nil
}

func checkFilters(field string, v any) *ValidationError {
	m := v.(map[string]any)
	for _, k := range sortedKeys(m) {
		f := field + member(k)
		switch k {
		case "filetypes":
			arr, ok := m[k].([]any)
			if !ok {
				return &ValidationError{Field: f, Message: "must be an array of file types, got " + jsonKind(m[k])}
			}
			for i, e := range arr {
				if err := checkEnum(fmt.Sprintf("%s[%d]", f, i), "file type", e, validFileTypes); err != nil {
					return err
				}
			}
		case "path_patterns":
			arr, ok := m[k].([]any)
			if !ok {
				return &ValidationError{Field: f, Message: "must be an array of strings, got " + jsonKind(m[k])}
			}
			for i, e := range arr {
				if _, ok := e.(string); !ok {
					return &ValidationError{Field: fmt.Sprintf("%s[%d]", f, i), Message: "must be a string, got " + jsonKind(e)}
				}
			}
		case "requires_checksum":
			if _, ok := m[k].(bool); !ok {
				return &ValidationError{Field: f, Message: "must be a boolean, got " + jsonKind(m[k])}
			}
		default:
			return &ValidationError{Field: f, Message: "unknown field of filters (want filetypes, path_patterns, requires_checksum)"}
		}
	}
	return nil
}

func checkEnum(field, what string, v any, valid []string) *ValidationError {
	s, ok := v.(string)
	if !ok {
		return &ValidationError{Field: field, Message: "must be a string, got " + jsonKind(v)}
	}
	if !slices.Contains(valid, s) {
		return &ValidationError{Field: field, Message: fmt.Sprintf("unknown %s %s (want one of %s)",
			what, quote(s), strings.Join(valid, ", "))}
	}
	return nil
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// member is the path step for field name k: ".k" for a plain name, or
// ["k"] quoted and cut short for anything else, so that a field path stays
// readable and bounded whatever key the input used.
func member(k string) string {
	plain := k != "" && len(k) <= 64
	for _, r := range k {
		if !(r == '_' || r == '-' || r == ':' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			plain = false
			break
		}
	}
	if plain {
		return "." + k
	}
	return "[" + quote(k) + "]"
}
