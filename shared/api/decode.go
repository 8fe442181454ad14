package api

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"regexp"
	"strings"
)

// decodeStrict decodes a JSON object body into v, refusing unknown fields
// and trailing data, and names the field that is wrong.
func decodeStrict(body []byte, v any) *apiError {
	if len(bytes.TrimSpace(body)) == 0 {
		return malformed("request body is empty; want a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if m := unknownFieldPattern.FindStringSubmatch(err.Error()); m != nil {
			return unknownField(unknownFieldPath(body, reflect.TypeOf(v), m[1]))
		}
		return jsonError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return malformed("unexpected data after the JSON object")
	}
	return nil
}

func malformed(msg string) *apiError {
	return &apiError{status: http.StatusBadRequest, body: Error{Code: CodeMalformedJSON, Message: msg}}
}

var unknownFieldPattern = regexp.MustCompile(`^json: unknown field "(.*)"$`)

// jsonError translates encoding/json's errors into field-naming ones.
func jsonError(err error) *apiError {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return malformed(fmt.Sprintf("malformed JSON at byte %d: %s", syn.Offset, strings.TrimPrefix(syn.Error(), "json: ")))
	case errors.Is(err, io.ErrUnexpectedEOF):
		return malformed("malformed JSON: the body ends before the value does")
	case errors.As(err, &typ):
		if typ.Field == "" {
			return malformed(fmt.Sprintf("request body must be a JSON object, got %s", typ.Value))
		}
		return badField(typ.Field, "must be %s, got %s", jsonType(typ.Type.String()), typ.Value)
	}
	if m := unknownFieldPattern.FindStringSubmatch(err.Error()); m != nil {
		return unknownField(m[1])
	}
	return malformed("malformed JSON: " + strings.TrimPrefix(err.Error(), "json: "))
}

func unknownField(path string) *apiError {
	return &apiError{status: http.StatusBadRequest, body: Error{Code: CodeUnknownField, Field: path, Message: fmt.Sprintf("%s: unknown field", path)}}
}

// unknownFieldPath finds where in body the unknown field that
// encoding/json named (by its key alone) is, as the path the API's errors
// use: "organization.evil", "installations[2].evil". It walks the
// document beside the Go type it was decoded into, as encoding/json does,
// and returns the first key no field takes. Where the walk cannot follow
// (a type that decodes itself, a malformed document) or finds another key,
// it returns name as encoding/json gave it.
func unknownFieldPath(body []byte, t reflect.Type, name string) string {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	path, found, err := walkUnknown(dec, t, "")
	if err != nil || !found || (path != name && !strings.HasSuffix(path, "."+name)) {
		return name
	}
	return path
}

var (
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// walkUnknown reads one JSON value from dec, which decodes into t, and
// reports the path of the first object key t has no field for.
func walkUnknown(dec *json.Decoder, t reflect.Type, path string) (string, bool, error) {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || reflect.PointerTo(t).Implements(jsonUnmarshaler) || reflect.PointerTo(t).Implements(textUnmarshaler) {
		return "", false, skipValue(dec)
	}
	tok, err := dec.Token()
	if err != nil {
		return "", false, err
	}
	delim, ok := tok.(json.Delim)
	if !ok || delim == '}' || delim == ']' {
		return "", false, nil // a scalar (or null): no keys in it
	}
	switch {
	case delim == '[' && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array):
		for i := 0; dec.More(); i++ {
			if p, found, err := walkUnknown(dec, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); found || err != nil {
				return p, found, err
			}
		}
	case delim == '{' && t.Kind() == reflect.Struct:
		for dec.More() {
			key, err := objectKey(dec)
			if err != nil {
				return "", false, err
			}
			ft, ok := fieldType(t, key)
			if !ok {
				return joinPath(path, key), true, nil
			}
			if p, found, err := walkUnknown(dec, ft, joinPath(path, key)); found || err != nil {
				return p, found, err
			}
		}
	case delim == '{' && t.Kind() == reflect.Map:
		for dec.More() {
			key, err := objectKey(dec)
			if err != nil {
				return "", false, err
			}
			if p, found, err := walkUnknown(dec, t.Elem(), joinPath(path, key)); found || err != nil {
				return p, found, err
			}
		}
	default:
		// Any other pairing (an interface, a type mismatch that decoding
		// reports itself) holds no unknown field.
		if err := skipRest(dec); err != nil {
			return "", false, err
		}
		return "", false, nil
	}
	_, err = dec.Token() // the closing delimiter
	return "", false, err
}

func objectKey(dec *json.Decoder) (string, error) {
	tok, err := dec.Token()
	if err != nil {
		return "", err
	}
	key, ok := tok.(string)
	if !ok {
		return "", fmt.Errorf("object key is %v", tok)
	}
	return key, nil
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// fieldType returns the type of t's field that encoding/json decodes key
// into: the field named key by its tag or name, else one matching it
// without regard to case; embedded structs' fields count as t's own.
func fieldType(t reflect.Type, key string) (reflect.Type, bool) {
	var fold reflect.Type
	var walk func(t reflect.Type, depth int) (reflect.Type, bool)
	walk = func(t reflect.Type, depth int) (reflect.Type, bool) {
		if depth > 8 {
			return nil, false
		}
		for i := range t.NumField() {
			f := t.Field(i)
			tag := f.Tag.Get("json")
			if tag == "-" {
				continue
			}
			name, _, _ := strings.Cut(tag, ",")
			ft := f.Type
			if f.Anonymous && name == "" {
				et := ft
				if et.Kind() == reflect.Pointer {
					et = et.Elem()
				}
				if et.Kind() == reflect.Struct {
					if r, ok := walk(et, depth+1); ok {
						return r, true
					}
					continue
				}
			}
			if !f.IsExported() {
				continue
			}
			if name == "" {
				name = f.Name
			}
			if name == key {
				return ft, true
			}
			if fold == nil && strings.EqualFold(name, key) {
				fold = ft
			}
		}
		return nil, false
	}
	if r, ok := walk(t, 0); ok {
		return r, true
	}
	return fold, fold != nil
}

// skipValue reads one whole value from dec.
func skipValue(dec *json.Decoder) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := tok.(json.Delim); ok && (d == '{' || d == '[') {
		return skipRest(dec)
	}
	return nil
}

// skipRest reads up to and including the delimiter that closes the object
// or array whose opening dec just returned.
func skipRest(dec *json.Decoder) error {
	for depth := 1; depth > 0; {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		if d, ok := tok.(json.Delim); ok {
			switch d {
			case '{', '[':
				depth++
			default:
				depth--
			}
		}
	}
	return nil
}

// jsonType names a Go type as the JSON type it decodes from.
func jsonType(goType string) string {
	switch {
	case goType == "string":
		return "a string"
	case goType == "bool" || goType == "*bool":
		return "true or false"
	case strings.HasPrefix(goType, "int") || strings.HasPrefix(goType, "*int") || strings.HasPrefix(goType, "uint") || strings.HasPrefix(goType, "float"):
		return "a number"
	case strings.HasPrefix(goType, "[]"):
		return "an array"
	case strings.HasPrefix(goType, "map[") || strings.Contains(goType, "."):
		return "an object"
	}
	return goType
}
