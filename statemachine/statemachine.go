// Package statemachine embeds the workflow definition, so local mode runs
// exactly the file the template deploys.
package statemachine

import _ "embed"

// Definition is symbolicate.asl.json with its ${...} placeholders; resolve
// them from template.yaml's DefinitionSubstitutions before running it.
//
//go:embed symbolicate.asl.json
var Definition []byte
