// Package symflow holds the files a built symflow binary needs from the
// repository: template.yaml and the state machine definition it deploys.
// They are embedded here, at the repository root, because go:embed only
// reaches files in or below the package's folder, and the template sits at
// the root; one file system keeps the repository's layout, so the
// template's DefinitionUri resolves against it unchanged.
package symflow

import "embed"

// Files holds template.yaml and statemachine/*.asl.json, at their paths
// in the repository.
//
//go:embed template.yaml statemachine/*.asl.json
var Files embed.FS
