package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
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
		return &apiError{status: http.StatusBadRequest, body: Error{Code: CodeUnknownField, Field: m[1], Message: fmt.Sprintf("%s: unknown field", m[1])}}
	}
	return malformed("malformed JSON: " + strings.TrimPrefix(err.Error(), "json: "))
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
