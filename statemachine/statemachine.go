// Package statemachine holds the workflow definition, symbolicate.asl.json,
// which template.yaml deploys and local mode runs (reading it through the
// template, so its ${...} placeholders are resolved the same way). The
// package's tests check the definition, the template and the handlers'
// error names against each other.
package statemachine

import _ "embed"

// Definition is symbolicate.asl.json with its ${...} placeholders.
//
//go:embed symbolicate.asl.json
var Definition []byte
