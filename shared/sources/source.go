// Package sources decides which symbol sources Symbolicator searches for one
// project's crash (SEMANTICS §1): the project's internal source, the
// organization's custom sources and the builtin catalog, in that order, less
// the globally ignored ones. It also validates custom source configuration,
// hides and backfills secrets, and post-processes Symbolicator's answer so
// that aliases are reversed and internal sources are not disclosed.
//
// Everything here is pure: no I/O, no clock (callers pass the time), so the
// same inputs always give the same list.
package sources

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/symflow/symflow/shared/project"
)

// InternalSourceID is the id of the project's own source, always first.
const InternalSourceID = "sentry:project"

// internalName is the source_name shown for InternalSourceID.
const internalName = "Sentry"

// Source is one symbol source exactly as Symbolicator reads it: a JSON object
// whose fields depend on its type (http, s3, gcs, sentry, filesystem, …).
// It is kept as a generic object rather than a struct so that every field,
// including ones symflow does not know (a catalog override may add them),
// survives a round trip through JSON unchanged. Numbers decode as
// json.Number, so they too keep their exact text.
type Source map[string]any

// List is an ordered list of sources; Symbolicator tries them in order.
type List []Source

// ID is the source's id, or "" when it has none or it is not a string.
func (s Source) ID() string { return s.str("id") }

// Type is the source's type (http, s3, gcs, sentry, alias, …) or "".
func (s Source) Type() string { return s.str("type") }

// Name is the source's display name, or "" when it has none.
func (s Source) Name() string { return s.str("name") }

func (s Source) str(key string) string {
	v, _ := s[key].(string)
	return v
}

// Clone returns a deep copy of s; changing the copy never changes s.
func (s Source) Clone() Source {
	if s == nil {
		return nil
	}
	return deepCopy(map[string]any(s)).(map[string]any)
}

// Clone returns a deep copy of l.
func (l List) Clone() List {
	if l == nil {
		return nil
	}
	out := make(List, len(l))
	for i, s := range l {
		out[i] = s.Clone()
	}
	return out
}

// IDs returns the ids of l in order.
func (l List) IDs() []string {
	ids := make([]string, len(l))
	for i, s := range l {
		ids[i] = s.ID()
	}
	return ids
}

// MarshalJSON keeps a nil list an empty JSON array: Symbolicator wants an
// array, never null.
func (l List) MarshalJSON() ([]byte, error) {
	if l == nil {
		return []byte("[]"), nil
	}
	return json.Marshal([]Source(l))
}

// UnmarshalJSON decodes numbers as json.Number so they keep their text.
func (s *Source) UnmarshalJSON(data []byte) error {
	var m map[string]any
	if err := decodeJSON(data, &m); err != nil {
		return err
	}
	*s = m
	return nil
}

// deepCopy copies the JSON-shaped value v (maps, slices, scalars). Sources
// are often shared with the catalog, so every handout is a copy.
func deepCopy(v any) any {
	switch v := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(v))
		for k, e := range v {
			m[k] = deepCopy(e)
		}
		return m
	case Source:
		return Source(deepCopy(map[string]any(v)).(map[string]any))
	case []any:
		s := make([]any, len(v))
		for i, e := range v {
			s[i] = deepCopy(e)
		}
		return s
	case []string:
		return append([]string(nil), v...)
	case map[string]string:
		m := make(map[string]any, len(v))
		for k, e := range v {
			m[k] = e
		}
		return m
	default:
		return v
	}
}

// decodeJSON decodes exactly one JSON value from data into v, keeping numbers
// as json.Number and rejecting trailing data.
func decodeJSON(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("unexpected data after the JSON value")
	}
	return nil
}

// jsonError turns a decoding error into a message that names what is wrong
// and where, without quoting the input (which may hold a secret).
func jsonError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Errorf("invalid JSON at byte %d: %s", syn.Offset, syn.Error())
	case errors.As(err, &typ):
		return fmt.Errorf("expected %s, got JSON %s", typ.Type, typ.Value)
	case errors.Is(err, io.EOF):
		return errors.New("empty input, expected a JSON value")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("invalid JSON: unexpected end of input")
	default:
		return fmt.Errorf("invalid JSON: %w", err)
	}
}

// jsonKind names the JSON type of a decoded value for error messages.
func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case json.Number, float64:
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	default:
		return fmt.Sprintf("%T", v)
	}
}

// quote quotes user-supplied, non-secret text for an error message, cut short
// so one message never carries a whole document, and with the credentials
// of any URL in it hidden.
func quote(s string) string {
	const max = 64
	s = project.RedactURLs(s)
	if len(s) > max {
		s = strings.ToValidUTF8(s[:max], "") + "…"
	}
	return fmt.Sprintf("%q", s)
}
